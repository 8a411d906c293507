"""Listing the local embedding model in the catalog when it can run here.

Added at start-up (not in the built-in TOML) because whether it exists depends on what is
installed: the shipped weights and the three small runtime packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from meshapi_gateway.catalog.catalog import ModelEntry
from meshapi_gateway.providers.local_embeddings.model_files import runtime_available, shipped_model_dir

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState

LOCAL_EMBEDDING_MODEL_ID = "local/all-minilm-l6-v2"
DIMENSIONS = 384


def local_embedding_entry() -> ModelEntry:
    return ModelEntry.model_validate(
        dict(
            id=LOCAL_EMBEDDING_MODEL_ID,
            name="all-MiniLM-L6-v2 (local)",
            description="Sentence embeddings computed inside the gateway; works offline.",
            provider="local_embeddings",
            upstream_model="all-minilm-l6-v2",
            context_length=256,
            max_output_tokens=0,
            is_free=True,
            model_type="embedding",
            output_modalities=["embedding"],
            supports_tools=False,
            supports_completions_api=False,
            embedding_dimensions=DIMENSIONS,
        )
    ).finish()


async def add_local_embedding_model(state: "GatewayState") -> Callable[[], Awaitable[None]] | None:
    """Start hook: add the entry when enabled and installed, unless the catalog already names it."""
    if not state.settings.local_embeddings or LOCAL_EMBEDDING_MODEL_ID in state.catalog:
        return None
    if shipped_model_dir() is None or not runtime_available():
        return None
    state.catalog.add(local_embedding_entry())
    return None
