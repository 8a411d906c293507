"""The local embedding model (all-MiniLM-L6-v2, 384 dimensions), run in-process with numpy."""

from meshapi_gateway.providers.local_embeddings.provider import LocalEmbeddingsProvider

__all__ = ["LocalEmbeddingsProvider"]
