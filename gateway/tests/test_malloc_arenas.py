"""The serving process's malloc arena cap: set on glibc, left alone when the operator set one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from meshapi_gateway.malloc_arenas import limit_malloc_arenas

ON_GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")


def _in_child(env: dict[str, str]) -> str:
    code = "from meshapi_gateway.malloc_arenas import limit_malloc_arenas; print(limit_malloc_arenas())"
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not ON_GLIBC, reason="glibc only")
def test_the_cap_is_set_on_glibc() -> None:
    assert _in_child({}) == "True"


def test_an_operators_own_setting_wins() -> None:
    assert _in_child({"MALLOC_ARENA_MAX": "4"}) == "False"
    assert _in_child({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}) == "False"


@pytest.mark.skipif(ON_GLIBC, reason="elsewhere than glibc")
def test_nothing_happens_elsewhere() -> None:
    assert limit_malloc_arenas() is False
