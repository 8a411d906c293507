"""meshapi-gateway: one OpenAI-compatible API in front of every model provider."""

__version__ = "0.1.0"
