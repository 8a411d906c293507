"""Per-key request and token limits (RPM, RPD, TPM): in-process by default, Redis when configured."""

from meshapi_gateway.limits.base import Limiter, NoLimits

__all__ = ["Limiter", "NoLimits"]
