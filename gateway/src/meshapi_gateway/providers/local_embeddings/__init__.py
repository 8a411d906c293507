"""The local embedding model (all-MiniLM-L6-v2, 384 dimensions), run in-process with numpy.

The adapter is ``provider.LocalEmbeddingsProvider``, imported by the registry when a call uses it:
listing the model at start-up (``catalog_entry``) does not load it.
"""
