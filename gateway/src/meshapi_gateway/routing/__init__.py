"""Choosing where a request goes: model → deployments, fallbacks, and trying them in order."""

from meshapi_gateway.routing.router import Attempted, Router

__all__ = ["Attempted", "Router"]
