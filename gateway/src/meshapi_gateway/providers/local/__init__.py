"""The local model: SmolLM2-135M-Instruct served by llama.cpp in a supervised child process.

It lets the gateway answer real completions on a fresh machine with no vendor key. The
gateway never loads the model itself: ``llama_cpp.server`` runs as a child process (so
inference never blocks the event loop), the supervisor restarts it when it dies, and the
``local`` provider waits for it to be ready instead of failing while it loads.
"""

from meshapi_gateway.providers.local.start import start_local_models

__all__ = ["start_local_models"]
