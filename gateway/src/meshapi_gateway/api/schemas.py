"""The request models, re-exported for the routes; they live in ``meshapi_gateway.request_schemas``."""

from meshapi_gateway.request_schemas import (
    ChatRequest,
    ChatRequestWithTemplate,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImageURL,
    Message,
    Tool,
    ToolCall,
    plainly_valid_chat,
)

__all__ = [
    "ChatRequest",
    "ChatRequestWithTemplate",
    "ContentPart",
    "FunctionCall",
    "FunctionDef",
    "ImageURL",
    "Message",
    "Tool",
    "ToolCall",
    "plainly_valid_chat",
]
