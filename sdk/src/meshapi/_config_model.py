"""``MeshAPIConfig``: the public, validated form of a client's settings."""

from __future__ import annotations

from typing import Union

import httpx
from pydantic import BaseModel, ConfigDict

from ._config import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

__all__ = ["MeshAPIConfig"]


class MeshAPIConfig(BaseModel):
    """Settings of one client; ``MeshAPI(config=...)`` or ``MeshAPI(MeshAPIConfig(...))``.

    ``base_url`` has no ``/v1`` suffix.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    base_url: str
    token: str
    timeout: Union[float, httpx.Timeout] = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
