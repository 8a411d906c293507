"""Google Gemini (generateContent, streamGenerateContent, embedContent) behind the OpenAI shapes."""

from meshapi_gateway.providers.gemini.adapter import GeminiProvider

__all__ = ["GeminiProvider"]
