"""The chat pipeline shared by every route that runs a chat completion (chat, compare, responses, batches)."""

from meshapi_gateway.chat.pipeline import ChatOutcome, ChatPipeline, ChatStream

__all__ = ["ChatOutcome", "ChatPipeline", "ChatStream"]
