"""The HTTP/1.1 client the gateway talks to upstreams with (see ``client.py`` for why it is its own)."""

from meshapi_gateway.http_client.client import HTTPClient
from meshapi_gateway.http_client.errors import ConnectTimeout, TransportError, UpstreamTimeout
from meshapi_gateway.http_client.headers import Headers
from meshapi_gateway.http_client.response import Response

__all__ = ["ConnectTimeout", "HTTPClient", "Headers", "Response", "TransportError", "UpstreamTimeout"]
