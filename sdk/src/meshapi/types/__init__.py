"""Request and response models (pydantic v2), importable from ``meshapi.types``.

Submodules load on first attribute access (see ``meshapi._lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from .._lazy import lazy_dir, lazy_module

_SUBMODULES = {
    ".shared": ["Usage"],
    ".chat": [
        "ImageURL",
        "TextContentPart",
        "ImageContentPart",
        "InputAudio",
        "InputAudioContentPart",
        "ContentPart",
        "ToolCallFunction",
        "ToolCall",
        "ChatMessage",
        "ToolFunction",
        "Tool",
        "ImageOptions",
        "ChatCompletionParams",
        "ChatCompletionMessage",
        "ChatCompletionChoice",
        "ChatCompletionResponse",
        "ToolCallDeltaFunction",
        "ToolCallDelta",
        "ChoiceDelta",
        "ChatCompletionChunkChoice",
        "ChatCompletionChunk",
    ],
    ".responses": ["ResponsesParams", "ResponsesUsage", "ResponsesResponse", "ResponsesStreamEvent"],
    ".embeddings": ["EmbeddingsParams", "Embedding", "EmbeddingsUsage", "EmbeddingsResponse"],
    ".compare": [
        "ModelOverride",
        "CompareParams",
        "CompareUsage",
        "CompareResult",
        "CompareResponse",
        "CompareStreamEvent",
    ],
    ".files": ["BatchRequestItem", "UploadBatchFileParams", "FileObject"],
    ".batches": ["CreateBatchParams", "BatchObject", "BatchList"],
    ".models": ["ModelPricing", "ModelInfo", "ModelsPage"],
    ".router": ["RouterSelectParams", "AutoRouterMeta", "RouterCandidate", "RouterSelection"],
    ".web": ["WebSearchParams", "WebSearchResult", "WebSearchResponse"],
    ".logs": ["RequestLog", "RequestLogAttempt", "RequestLogList", "RequestLogUsage"],
    ".keys": ["APIKey", "APIKeyList", "BudgetPeriod", "CreatedAPIKey"],
    ".teams": ["Team", "TeamList", "TeamRole"],
    ".usage": ["Balance", "UsageEvent", "UsageEvents", "UsageGroup", "UsageGroupBy", "UsageGroups", "UsageList"],
    ".templates": [
        "TemplateMessage",
        "CreateTemplateParams",
        "UpdateTemplateParams",
        "TemplateSummary",
    ],
}
_NAMES: Dict[str, str] = {name: mod for mod, names in _SUBMODULES.items() for name in names}
__all__ = sorted(_NAMES)

__getattr__ = lazy_module(__name__, _NAMES, globals())
__dir__ = lazy_dir(_NAMES, globals())

if TYPE_CHECKING:
    from .batches import BatchList as BatchList
    from .batches import BatchObject as BatchObject
    from .batches import CreateBatchParams as CreateBatchParams
    from .chat import ChatCompletionChoice as ChatCompletionChoice
    from .chat import ChatCompletionChunk as ChatCompletionChunk
    from .chat import ChatCompletionChunkChoice as ChatCompletionChunkChoice
    from .chat import ChatCompletionMessage as ChatCompletionMessage
    from .chat import ChatCompletionParams as ChatCompletionParams
    from .chat import ChatCompletionResponse as ChatCompletionResponse
    from .chat import ChatMessage as ChatMessage
    from .chat import ChoiceDelta as ChoiceDelta
    from .chat import ContentPart as ContentPart
    from .chat import ImageContentPart as ImageContentPart
    from .chat import ImageOptions as ImageOptions
    from .chat import ImageURL as ImageURL
    from .chat import InputAudio as InputAudio
    from .chat import InputAudioContentPart as InputAudioContentPart
    from .chat import TextContentPart as TextContentPart
    from .chat import Tool as Tool
    from .chat import ToolCall as ToolCall
    from .chat import ToolCallDelta as ToolCallDelta
    from .chat import ToolCallDeltaFunction as ToolCallDeltaFunction
    from .chat import ToolCallFunction as ToolCallFunction
    from .chat import ToolFunction as ToolFunction
    from .compare import CompareParams as CompareParams
    from .compare import CompareResponse as CompareResponse
    from .compare import CompareResult as CompareResult
    from .compare import CompareStreamEvent as CompareStreamEvent
    from .compare import CompareUsage as CompareUsage
    from .compare import ModelOverride as ModelOverride
    from .embeddings import Embedding as Embedding
    from .embeddings import EmbeddingsParams as EmbeddingsParams
    from .embeddings import EmbeddingsResponse as EmbeddingsResponse
    from .embeddings import EmbeddingsUsage as EmbeddingsUsage
    from .files import BatchRequestItem as BatchRequestItem
    from .files import FileObject as FileObject
    from .files import UploadBatchFileParams as UploadBatchFileParams
    from .keys import APIKey as APIKey
    from .keys import APIKeyList as APIKeyList
    from .keys import BudgetPeriod as BudgetPeriod
    from .keys import CreatedAPIKey as CreatedAPIKey
    from .logs import RequestLog as RequestLog
    from .logs import RequestLogAttempt as RequestLogAttempt
    from .logs import RequestLogList as RequestLogList
    from .logs import RequestLogUsage as RequestLogUsage
    from .models import ModelInfo as ModelInfo
    from .models import ModelPricing as ModelPricing
    from .models import ModelsPage as ModelsPage
    from .responses import ResponsesParams as ResponsesParams
    from .responses import ResponsesResponse as ResponsesResponse
    from .responses import ResponsesStreamEvent as ResponsesStreamEvent
    from .responses import ResponsesUsage as ResponsesUsage
    from .router import AutoRouterMeta as AutoRouterMeta
    from .router import RouterCandidate as RouterCandidate
    from .router import RouterSelection as RouterSelection
    from .router import RouterSelectParams as RouterSelectParams
    from .shared import Usage as Usage
    from .teams import Team as Team
    from .teams import TeamList as TeamList
    from .teams import TeamRole as TeamRole
    from .templates import CreateTemplateParams as CreateTemplateParams
    from .templates import TemplateMessage as TemplateMessage
    from .templates import TemplateSummary as TemplateSummary
    from .templates import UpdateTemplateParams as UpdateTemplateParams
    from .usage import Balance as Balance
    from .usage import UsageEvent as UsageEvent
    from .usage import UsageEvents as UsageEvents
    from .usage import UsageGroup as UsageGroup
    from .usage import UsageGroupBy as UsageGroupBy
    from .usage import UsageGroups as UsageGroups
    from .usage import UsageList as UsageList
    from .web import WebSearchParams as WebSearchParams
    from .web import WebSearchResponse as WebSearchResponse
    from .web import WebSearchResult as WebSearchResult
