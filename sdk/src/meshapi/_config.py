"""Client configuration and its resolution from arguments and the environment.

``MeshAPIConfig`` (the public pydantic model of the seed) lives in
``_config_model`` and is only imported when used: building the first pydantic
model class of a process loads most of pydantic's schema machinery, which
would otherwise dominate ``import meshapi``. The clients keep a plain
:class:`Settings` object instead.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Union

import httpx

from ._exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._config_model import MeshAPIConfig

__all__ = ["DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "Settings", "resolve_config"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3
ENV_BASE_URL = "MESHAPI_BASE_URL"
ENV_API_KEY = "MESHAPI_API_KEY"


class Settings:
    """The resolved configuration a client runs with."""

    __slots__ = ("base_url", "max_retries", "timeout", "token")

    def __init__(self, base_url: str, token: str, timeout: Union[float, httpx.Timeout], max_retries: int) -> None:
        self.base_url = base_url
        self.token = token
        self.timeout = timeout
        self.max_retries = max_retries

    def to_public(self) -> Any:
        from ._config_model import MeshAPIConfig

        return MeshAPIConfig(
            base_url=self.base_url, token=self.token, timeout=self.timeout, max_retries=self.max_retries
        )


def resolve_config(
    base_url: Optional[str],
    token: Optional[str],
    timeout: Union[float, httpx.Timeout, None],
    max_retries: Optional[int],
    config: Optional[MeshAPIConfig],
) -> Settings:
    if config is not None:
        base_url = base_url or config.base_url
        token = token or config.token
        if timeout is None:
            timeout = config.timeout
        if max_retries is None:
            max_retries = config.max_retries
    base_url = base_url or os.environ.get(ENV_BASE_URL) or None
    token = token or os.environ.get(ENV_API_KEY) or None
    missing = []
    if not base_url:
        missing.append(f"base_url (argument base_url=... or environment variable {ENV_BASE_URL})")
    if not token:
        missing.append(f"token (argument token=... or environment variable {ENV_API_KEY})")
    if missing:
        raise ConfigurationError("MeshAPI client is missing " + " and ".join(missing) + ".")
    assert base_url is not None and token is not None
    if not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}.")
    base_url = base_url.rstrip("/")
    if base_url.endswith("/v1"):
        # Every SDK path already starts with /v1/; an OpenAI-style base URL
        # would otherwise produce /v1/v1/...
        base_url = base_url[:-3]
    if max_retries is None:
        max_retries = DEFAULT_MAX_RETRIES
    if max_retries < 0:
        raise ConfigurationError("max_retries must be >= 0.")
    return Settings(
        base_url=base_url,
        token=token,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        max_retries=max_retries,
    )
