"""Web search behind ``POST /v1/web/search``: one adapter per search API, chosen in ``[web_search]``."""

from meshapi_gateway.websearch.choose import provider_from_settings
from meshapi_gateway.websearch.hook import SearchProvider, SearchQuery

__all__ = ["SearchProvider", "SearchQuery", "provider_from_settings"]
