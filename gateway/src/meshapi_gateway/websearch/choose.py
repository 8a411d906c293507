"""Which search adapter the settings name; without a configured provider (or its key) there is none.

The route then answers 400 ``not_configured``. Apart from ``hook`` so that adapters import
the hook's types and the hook never imports an adapter.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from meshapi_gateway.websearch.hook import SearchProvider

if TYPE_CHECKING:
    from meshapi_gateway.config import WebSearchSettings
    from meshapi_gateway.http_client import HTTPClient


def provider_from_settings(settings: "WebSearchSettings", http: "HTTPClient") -> SearchProvider | None:
    """The configured adapter, or None when no provider (or no key for it) is configured."""
    if settings.provider == "tavily":
        from meshapi_gateway.websearch.tavily import TAVILY_URL, TavilySearch  # only when configured

        key = settings.api_key or os.environ.get(settings.api_key_env or "TAVILY_API_KEY", "")
        if not key:
            return None
        return TavilySearch(http, settings.base_url or TAVILY_URL, key, settings.timeout)
    return None
