"""Any upstream that speaks OpenAI's chat-completions API (OpenAI, DeepSeek, xAI, Mistral, vLLM, llama.cpp …)."""

from meshapi_gateway.providers.openai_compat.adapter import OpenAICompatProvider

__all__ = ["OpenAICompatProvider"]
