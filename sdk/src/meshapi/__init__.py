"""MeshAPI Python SDK: sync and async clients for the MeshAPI AI model gateway.

Public names are loaded lazily (PEP 562) so that ``import meshapi`` stays
cheap; ``from meshapi import X`` works for every name in ``__all__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from ._lazy import lazy_dir, lazy_module
from ._version import __version__
from .types import _SUBMODULES as _TYPE_MODULES

_NAMES: Dict[str, str] = {
    "MeshAPI": "._client",
    "AsyncMeshAPI": "._client",
    "MeshAPIConfig": "._config_model",
    "MeshAPIError": "._exceptions",
    "APIStatusError": "._exceptions",
    "BadRequestError": "._exceptions",
    "AuthenticationError": "._exceptions",
    "SpendLimitError": "._exceptions",
    "PermissionDeniedError": "._exceptions",
    "NotFoundError": "._exceptions",
    "ConflictError": "._exceptions",
    "ValidationError": "._exceptions",
    "RateLimitError": "._exceptions",
    "InternalServerError": "._exceptions",
    "APIConnectionError": "._exceptions",
    "APITimeoutError": "._exceptions",
    "StreamInterruptedError": "._exceptions",
    "ResponseParseError": "._exceptions",
    "ConfigurationError": "._exceptions",
    "Stream": "._streaming",
    "AsyncStream": "._streaming",
    "ChatCompletionStream": "._streaming",
    "AsyncChatCompletionStream": "._streaming",
    "ChatCompletionAccumulator": "._accumulator",
    "accumulate": "._accumulator",
    "SSEDecoder": "._sse",
    "ServerSentEvent": "._sse",
    "NOT_GIVEN": "._types",
    "NotGiven": "._types",
}
for _module, _names in _TYPE_MODULES.items():
    for _name in _names:
        _NAMES[_name] = ".types" + _module

__all__ = ["__version__", *sorted(_NAMES)]

__getattr__ = lazy_module(__name__, _NAMES, globals())
__dir__ = lazy_dir(_NAMES, globals())

if TYPE_CHECKING:
    from ._accumulator import ChatCompletionAccumulator as ChatCompletionAccumulator
    from ._accumulator import accumulate as accumulate
    from ._client import AsyncMeshAPI as AsyncMeshAPI
    from ._client import MeshAPI as MeshAPI
    from ._config_model import MeshAPIConfig as MeshAPIConfig
    from ._exceptions import APIConnectionError as APIConnectionError
    from ._exceptions import APIStatusError as APIStatusError
    from ._exceptions import APITimeoutError as APITimeoutError
    from ._exceptions import AuthenticationError as AuthenticationError
    from ._exceptions import BadRequestError as BadRequestError
    from ._exceptions import ConfigurationError as ConfigurationError
    from ._exceptions import ConflictError as ConflictError
    from ._exceptions import InternalServerError as InternalServerError
    from ._exceptions import MeshAPIError as MeshAPIError
    from ._exceptions import NotFoundError as NotFoundError
    from ._exceptions import PermissionDeniedError as PermissionDeniedError
    from ._exceptions import RateLimitError as RateLimitError
    from ._exceptions import ResponseParseError as ResponseParseError
    from ._exceptions import SpendLimitError as SpendLimitError
    from ._exceptions import StreamInterruptedError as StreamInterruptedError
    from ._exceptions import ValidationError as ValidationError
    from ._sse import ServerSentEvent as ServerSentEvent
    from ._sse import SSEDecoder as SSEDecoder
    from ._streaming import AsyncChatCompletionStream as AsyncChatCompletionStream
    from ._streaming import AsyncStream as AsyncStream
    from ._streaming import ChatCompletionStream as ChatCompletionStream
    from ._streaming import Stream as Stream
    from ._types import NOT_GIVEN as NOT_GIVEN
    from ._types import NotGiven as NotGiven
    from .types.batches import BatchList as BatchList
    from .types.batches import BatchObject as BatchObject
    from .types.batches import CreateBatchParams as CreateBatchParams
    from .types.chat import ChatCompletionChoice as ChatCompletionChoice
    from .types.chat import ChatCompletionChunk as ChatCompletionChunk
    from .types.chat import ChatCompletionChunkChoice as ChatCompletionChunkChoice
    from .types.chat import ChatCompletionMessage as ChatCompletionMessage
    from .types.chat import ChatCompletionParams as ChatCompletionParams
    from .types.chat import ChatCompletionResponse as ChatCompletionResponse
    from .types.chat import ChatMessage as ChatMessage
    from .types.chat import ChoiceDelta as ChoiceDelta
    from .types.chat import ContentPart as ContentPart
    from .types.chat import ImageContentPart as ImageContentPart
    from .types.chat import ImageOptions as ImageOptions
    from .types.chat import ImageURL as ImageURL
    from .types.chat import InputAudio as InputAudio
    from .types.chat import InputAudioContentPart as InputAudioContentPart
    from .types.chat import TextContentPart as TextContentPart
    from .types.chat import Tool as Tool
    from .types.chat import ToolCall as ToolCall
    from .types.chat import ToolCallDelta as ToolCallDelta
    from .types.chat import ToolCallDeltaFunction as ToolCallDeltaFunction
    from .types.chat import ToolCallFunction as ToolCallFunction
    from .types.chat import ToolFunction as ToolFunction
    from .types.compare import CompareParams as CompareParams
    from .types.compare import CompareResponse as CompareResponse
    from .types.compare import CompareResult as CompareResult
    from .types.compare import CompareStreamEvent as CompareStreamEvent
    from .types.compare import CompareUsage as CompareUsage
    from .types.compare import ModelOverride as ModelOverride
    from .types.embeddings import Embedding as Embedding
    from .types.embeddings import EmbeddingsParams as EmbeddingsParams
    from .types.embeddings import EmbeddingsResponse as EmbeddingsResponse
    from .types.embeddings import EmbeddingsUsage as EmbeddingsUsage
    from .types.files import BatchRequestItem as BatchRequestItem
    from .types.files import FileObject as FileObject
    from .types.files import UploadBatchFileParams as UploadBatchFileParams
    from .types.keys import APIKey as APIKey
    from .types.keys import APIKeyList as APIKeyList
    from .types.keys import BudgetPeriod as BudgetPeriod
    from .types.keys import CreatedAPIKey as CreatedAPIKey
    from .types.logs import RequestLog as RequestLog
    from .types.logs import RequestLogAttempt as RequestLogAttempt
    from .types.logs import RequestLogList as RequestLogList
    from .types.logs import RequestLogUsage as RequestLogUsage
    from .types.models import ModelInfo as ModelInfo
    from .types.models import ModelPricing as ModelPricing
    from .types.models import ModelsPage as ModelsPage
    from .types.responses import ResponsesParams as ResponsesParams
    from .types.responses import ResponsesResponse as ResponsesResponse
    from .types.responses import ResponsesStreamEvent as ResponsesStreamEvent
    from .types.responses import ResponsesUsage as ResponsesUsage
    from .types.router import AutoRouterMeta as AutoRouterMeta
    from .types.router import RouterCandidate as RouterCandidate
    from .types.router import RouterSelection as RouterSelection
    from .types.router import RouterSelectParams as RouterSelectParams
    from .types.shared import Usage as Usage
    from .types.teams import Team as Team
    from .types.teams import TeamList as TeamList
    from .types.teams import TeamRole as TeamRole
    from .types.templates import CreateTemplateParams as CreateTemplateParams
    from .types.templates import TemplateMessage as TemplateMessage
    from .types.templates import TemplateSummary as TemplateSummary
    from .types.templates import UpdateTemplateParams as UpdateTemplateParams
    from .types.usage import Balance as Balance
    from .types.usage import UsageEvent as UsageEvent
    from .types.usage import UsageEvents as UsageEvents
    from .types.usage import UsageGroup as UsageGroup
    from .types.usage import UsageGroupBy as UsageGroupBy
    from .types.usage import UsageGroups as UsageGroups
    from .types.usage import UsageList as UsageList
    from .types.web import WebSearchParams as WebSearchParams
    from .types.web import WebSearchResponse as WebSearchResponse
    from .types.web import WebSearchResult as WebSearchResult
