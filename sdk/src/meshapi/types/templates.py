"""Prompt template types (docs/wire.md, Templates)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._models import Model, RequestParams
from .chat import ChatMessage

__all__ = ["CreateTemplateParams", "TemplateMessage", "TemplateSummary", "UpdateTemplateParams"]

# A template message is an ordinary chat message (role + content).
TemplateMessage = ChatMessage


class CreateTemplateParams(RequestParams):
    name: str
    description: Optional[str] = None
    system: Optional[str] = None
    messages: Optional[List[ChatMessage]] = None
    model: Optional[str] = None
    params: Optional[Dict[str, Any]] = None
    variables: Optional[List[str]] = None


class UpdateTemplateParams(RequestParams):
    name: Optional[str] = None
    description: Optional[str] = None
    system: Optional[str] = None
    messages: Optional[List[ChatMessage]] = None
    model: Optional[str] = None
    params: Optional[Dict[str, Any]] = None
    variables: Optional[List[str]] = None


class TemplateSummary(Model):
    id: str
    name: str = ""
    owner: Optional[str] = None
    is_global: bool = False
    description: Optional[str] = None
    system: Optional[str] = None
    messages: Optional[List[Dict[str, Any]]] = None
    model: Optional[str] = None
    params: Optional[Dict[str, Any]] = None
    variables: Optional[List[str]] = None
    created_at: Optional[str] = None
    updated_at: Optional[str] = None
