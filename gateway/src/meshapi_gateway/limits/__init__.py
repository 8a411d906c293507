"""Per-key request and token limits (RPM, RPD, TPM)."""

from meshapi_gateway.limits.base import Limiter, NoLimits

__all__ = ["Limiter", "NoLimits"]
