"""Choosing where a request goes: model → deployments, fallbacks, and trying them in order."""

from meshapi_gateway.routing.router import Attempted, AttemptRecord, Router

__all__ = ["AttemptRecord", "Attempted", "Router"]
