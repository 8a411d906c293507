"""Catalog entries and how they are loaded.

A catalog is TOML: ``[[models]]`` tables with the fields of the SDK's ``ModelInfo`` plus
where the model is served (``provider``, ``base_url``, ``api_key``/``api_key_env``,
``upstream_model``). The built-in catalog lists well-known models of each vendor; an entry
whose ``api_key_env`` is unset in the environment is left out, so only models that can
actually answer are listed.

``Deployment`` and ``ModelEntry`` are pydantic dataclasses, not ``BaseModel``s: every request
reads their fields (an entry's ``id`` alone seven times a stream), and a ``BaseModel`` class
defines ``__getattr__``, which sends every read of its instances' fields, present or not,
through CPython's slow attribute hook instead of the interpreter's specialised loads (≈ 380
instructions a read against ≈ 60). A pydantic dataclass validates the same fields the same way
and has no such hook.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from decimal import Decimal
from importlib import resources
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic.dataclasses import dataclass

from meshapi_gateway.catalog.prices import lookup_per_mtok
from meshapi_gateway.money import money

PROVIDERS = {"openai_compat", "anthropic", "gemini", "local", "local_embeddings"}
_THOUSAND = Decimal(1000)
_MILLION = Decimal(1_000_000)


def _money(value: Decimal | None) -> str | None:
    """A price exactly as configured (not rounded to the ledger's precision), or None."""
    return None if value is None else money(value, precision=None)


class Pricing(BaseModel):
    """USD per million tokens, as Decimal; rendered per 1k and per 1M as decimal strings."""

    model_config = ConfigDict(extra="forbid")

    prompt_usd_per_1m: Decimal = Decimal(0)
    completion_usd_per_1m: Decimal = Decimal(0)
    cache_read_input_usd_per_1m: Decimal | None = None
    image_usd_per_image: Decimal | None = None
    discount_pct: Decimal | None = None

    def cost(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, multiplier: Decimal = Decimal(1)
    ) -> Decimal:
        cached = min(cached_tokens, prompt_tokens) if self.cache_read_input_usd_per_1m is not None else 0
        total = (
            Decimal(prompt_tokens - cached) * self.prompt_usd_per_1m
            + Decimal(cached) * (self.cache_read_input_usd_per_1m or Decimal(0))
            + Decimal(completion_tokens) * self.completion_usd_per_1m
        ) / _MILLION
        return total * multiplier

    def wire(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {
            "prompt_usd_per_1k": _money(self.prompt_usd_per_1m / _THOUSAND),
            "completion_usd_per_1k": _money(self.completion_usd_per_1m / _THOUSAND),
            "prompt_usd_per_1m": _money(self.prompt_usd_per_1m),
            "completion_usd_per_1m": _money(self.completion_usd_per_1m),
            "image_usd_per_image": _money(self.image_usd_per_image),
            "discount_pct": _money(self.discount_pct),
        }
        if self.cache_read_input_usd_per_1m is not None:
            out["cache_read_input_usd_per_1m"] = _money(self.cache_read_input_usd_per_1m)
        return out


@dataclass(config=ConfigDict(extra="forbid"))
class Deployment:
    """One place a model is served: an upstream with its own URL, key and weight."""

    provider: str = "openai_compat"
    base_url: str = ""
    api_key: str = ""
    api_key_env: str = ""
    upstream_model: str = ""
    weight: float = 1.0
    headers: dict[str, str] = Field(default_factory=dict)

    def resolved_api_key(self) -> str:
        return self.api_key or (os.environ.get(self.api_key_env, "") if self.api_key_env else "")


@dataclass(config=ConfigDict(extra="forbid"))
class ModelEntry:
    """A public model id and everything the gateway knows about it."""

    id: str
    name: str = ""
    description: str = ""
    provider: str = "openai_compat"
    upstream_model: str = ""
    base_url: str = ""
    api_key: str = ""
    api_key_env: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    # Extra deployments of the same model (load balancing); the fields above are the first.
    deployments: list[Deployment] = Field(default_factory=list)
    # Balancing weight of that first deployment (each extra one has its own).
    weight: float = Field(default=1.0, gt=0)
    fallbacks: list[str] = Field(default_factory=list)
    # Tried instead when an upstream says the prompt does not fit this model's context.
    context_window_fallbacks: list[str] = Field(default_factory=list)
    # Per-model upstream timeouts in seconds; unset means the gateway-wide setting.
    connect_timeout: float | None = Field(default=None, gt=0)
    first_token_timeout: float | None = Field(default=None, gt=0)
    idle_timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    context_length: int = 8192
    max_output_tokens: int = 4096
    is_free: bool = False
    model_type: str = "text"
    input_modalities: list[str] = Field(default_factory=lambda: ["text"])
    output_modalities: list[str] = Field(default_factory=lambda: ["text"])
    supports_thinking: bool = False
    supports_tools: bool = True
    # JSON output (``response_format``) the model keeps to; the auto router reads it.
    supports_structured_output: bool = True
    supports_completions_api: bool = True
    supports_responses_api: bool = False
    embedding_dimensions: int | None = None
    prompt_usd_per_1m: Decimal | None = None
    completion_usd_per_1m: Decimal | None = None
    cache_read_input_usd_per_1m: Decimal | None = None
    # Where genai-prices should look the price up (vendor, model); defaults from the id.
    price_ref: str = ""
    pricing: Pricing = Field(default_factory=Pricing)
    created: int = 1735689600

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        if v not in PROVIDERS:
            raise ValueError(f"unknown provider {v!r}; one of {sorted(PROVIDERS)}")
        return v

    @property
    def vendor(self) -> str:
        return self.id.split("/", 1)[0] if "/" in self.id else self.provider

    def all_deployments(self) -> list[Deployment]:
        upstream_model = self.upstream_model or self.id.split("/", 1)[-1]
        first = Deployment(
            provider=self.provider,
            base_url=self.base_url,
            api_key=self.api_key,
            api_key_env=self.api_key_env,
            upstream_model=upstream_model,
            headers=self.headers,
            weight=self.weight,
        )
        return [
            first,
            *[
                dataclasses.replace(
                    d,
                    upstream_model=d.upstream_model or first.upstream_model,
                    provider=d.provider or self.provider,
                )
                for d in self.deployments
            ],
        ]

    @classmethod
    def model_validate(cls, raw: Any) -> "ModelEntry":
        """An entry from a catalog table (``ValidationError`` when a field is wrong or unknown)."""
        return _ENTRIES.validate_python(raw)

    def finish(self) -> "ModelEntry":
        """Fill derived fields: display name, upstream name and prices."""
        if not self.name:
            self.name = self.id
        if not self.upstream_model:
            self.upstream_model = self.id.split("/", 1)[-1]
        if self.is_free:
            self.pricing = Pricing()
            return self
        prompt, completion = self.prompt_usd_per_1m, self.completion_usd_per_1m
        cached = self.cache_read_input_usd_per_1m
        if prompt is None or completion is None:
            vendor, _, model = (self.price_ref or f"{self.vendor}/{self.upstream_model}").partition("/")
            p, c, cr = lookup_per_mtok(vendor, model)
            prompt = prompt if prompt is not None else p
            completion = completion if completion is not None else c
            cached = cached if cached is not None else cr
        self.pricing = Pricing(
            prompt_usd_per_1m=prompt or Decimal(0),
            completion_usd_per_1m=completion or Decimal(0),
            cache_read_input_usd_per_1m=cached,
        )
        return self

    def wire(self) -> dict[str, Any]:
        """The model object of docs/wire.md (Models), with OpenAI's fields alongside."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.vendor,
            "name": self.name,
            "description": self.description,
            "context_length": self.context_length,
            "is_free": self.is_free,
            "pricing": self.pricing.wire(),
            "model_type": self.model_type,
            "input_modalities": self.input_modalities,
            "output_modalities": self.output_modalities,
            "supports_thinking": self.supports_thinking,
            "supports_completions_api": self.supports_completions_api,
            "supports_responses_api": self.supports_responses_api,
            "supports_tools": self.supports_tools,
            "supports_structured_output": self.supports_structured_output,
            "provider": self.vendor,
            "brand": self.vendor,
        }


_ENTRIES: TypeAdapter[ModelEntry] = TypeAdapter(ModelEntry)


class Catalog:
    """Model ids → entries, in a stable listing order."""

    def __init__(self, entries: Iterable[ModelEntry]) -> None:
        self._by_id: dict[str, ModelEntry] = {}
        for entry in entries:
            self._by_id[entry.id] = entry
        self._wire_cache: list[dict[str, Any]] | None = None
        # Counts changes (an entry added or replaced), so what is worked out from entries knows when to redo it.
        self.version = 0

    def get(self, model_id: str) -> ModelEntry | None:
        return self._by_id.get(model_id)

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._by_id

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, entry: ModelEntry) -> None:
        self._by_id[entry.id] = entry
        self._wire_cache = None
        self.version += 1

    def wire_list(self) -> list[dict[str, Any]]:
        if self._wire_cache is None:
            self._wire_cache = [e.wire() for e in self._by_id.values()]
        return self._wire_cache


def _entries_from_toml(text: str, source: str, require_keys: bool) -> list[ModelEntry]:
    data = tomllib.loads(text)
    out = []
    for raw in data.get("models", []):
        entry = ModelEntry.model_validate(raw)
        if require_keys and entry.api_key_env and not entry.api_key and not os.environ.get(entry.api_key_env):
            continue  # the vendor's key is not configured: the model could not answer
        out.append(entry.finish())
    return out


def load_catalog(builtin: bool = True, catalog_file: str = "", inline: list[dict[str, Any]] | None = None) -> Catalog:
    """Built-in entries (when their vendor key is set), then a catalog file, then inline entries."""
    entries: list[ModelEntry] = []
    if builtin:
        text = resources.files("meshapi_gateway.catalog").joinpath("builtin.toml").read_text()
        entries += _entries_from_toml(text, "builtin", require_keys=True)
    if catalog_file:
        with open(catalog_file, encoding="utf-8") as fh:
            entries += _entries_from_toml(fh.read(), catalog_file, require_keys=False)
    for raw in inline or []:
        entries.append(ModelEntry.model_validate(raw).finish())
    return Catalog(entries)
