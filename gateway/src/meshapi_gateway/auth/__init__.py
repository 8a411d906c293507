"""Who is calling: data-plane keys, control-plane JWTs, and the admin token."""

from meshapi_gateway.auth.principal import Principal

__all__ = ["Principal"]
