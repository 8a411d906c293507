"""Anthropic Messages API behind the OpenAI chat-completions shape."""

from meshapi_gateway.providers.anthropic.adapter import AnthropicProvider

__all__ = ["AnthropicProvider"]
