"""The catalog entry of the local model: free, tool-capable, served by the child process."""

from __future__ import annotations

from meshapi_gateway.catalog import ModelEntry

LOCAL_MODEL_ID = "local/smollm2-135m-instruct"
UPSTREAM_NAME = "smollm2-135m-instruct"
# The child answers one request at a time on the machine's CPU: the first token waits for the
# requests queued ahead and for the prompt (thousands of tokens for an agent client) to be read.
FIRST_TOKEN_TIMEOUT_SECONDS = 300.0


def local_model_entry(base_url: str, n_ctx: int) -> ModelEntry:
    return ModelEntry.model_validate(
        {
            "id": LOCAL_MODEL_ID,
            "name": "SmolLM2 135M Instruct (local)",
            "description": (
                "A small model that runs on this machine through llama.cpp: free, no vendor key needed. "
                "Good for trying the gateway; answers are simple."
            ),
            "provider": "local",
            "upstream_model": UPSTREAM_NAME,
            "base_url": base_url,
            "context_length": n_ctx,
            "max_output_tokens": n_ctx,
            "is_free": True,
            "supports_tools": True,
            "first_token_timeout": FIRST_TOKEN_TIMEOUT_SECONDS,
        }
    ).finish()
