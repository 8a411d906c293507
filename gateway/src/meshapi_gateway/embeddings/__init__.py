"""``/v1/embeddings``: request checks, the routed call, and one answer shape whoever computed it."""
