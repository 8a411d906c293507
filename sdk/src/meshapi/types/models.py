"""Model catalog types (docs/wire.md, Models). Prices are decimal strings."""

from __future__ import annotations

from typing import List, Optional

from .._models import DecimalStr, Model

__all__ = ["ModelInfo", "ModelPricing", "ModelsPage"]


class ModelPricing(Model):
    prompt_usd_per_1k: Optional[DecimalStr] = None
    completion_usd_per_1k: Optional[DecimalStr] = None
    image_usd_per_image: Optional[DecimalStr] = None
    discount_pct: Optional[DecimalStr] = None
    prompt_usd_per_1k_discounted: Optional[DecimalStr] = None
    completion_usd_per_1k_discounted: Optional[DecimalStr] = None
    prompt_usd_per_1m: Optional[DecimalStr] = None
    completion_usd_per_1m: Optional[DecimalStr] = None


class ModelInfo(Model):
    id: str
    name: Optional[str] = None
    is_free: bool = False
    context_length: Optional[int] = None
    pricing: Optional[ModelPricing] = None
    description: Optional[str] = None
    supports_thinking: Optional[bool] = None
    supports_completions_api: Optional[bool] = None
    supports_responses_api: Optional[bool] = None
    model_type: Optional[str] = None
    input_modalities: Optional[List[str]] = None
    output_modalities: Optional[List[str]] = None
    supports_tools: Optional[bool] = None
    supports_structured_output: Optional[bool] = None
    brand: Optional[str] = None
    provider: Optional[str] = None
    # OpenAI list-envelope fields
    object: Optional[str] = None
    created: Optional[int] = None
    owned_by: Optional[str] = None


class ModelsPage(Model):
    """One page of ``models.search()``: ``total`` counts every match, ``brands`` the brands among them."""

    items: List[ModelInfo] = []
    total: int = 0
    limit: int = 0
    offset: int = 0
    brands: List[str] = []
