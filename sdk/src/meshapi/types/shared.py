"""Types used by more than one endpoint."""

from __future__ import annotations

from typing import Any, Dict, Optional

from .._models import Model

__all__ = ["Usage"]


class Usage(Model):
    """Token usage of a chat completion (also the final chunk of a stream)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: Optional[Dict[str, Any]] = None
    completion_tokens_details: Optional[Dict[str, Any]] = None
    classifier_prompt_tokens: Optional[int] = None
    classifier_completion_tokens: Optional[int] = None
    classifier_tokens: Optional[int] = None
