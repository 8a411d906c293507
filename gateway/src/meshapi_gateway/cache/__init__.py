"""The response cache: exact answers by a canonical hash of the request, semantic ones opt-in (docs/cache.md).

``ResponseCache`` (``service.py``) is what the chat pipeline and the embeddings call ask;
``key.py`` says what makes two requests the same, ``control.py`` whether a request is cached,
``stores.py`` where answers live, ``semantic.py`` the nearest-prompt index, ``replay.py`` how a
stored answer goes out again.
"""

from meshapi_gateway.cache.control import CachePolicy
from meshapi_gateway.cache.service import Lookup, ResponseCache

__all__ = ["CachePolicy", "Lookup", "ResponseCache"]
