"""The deployment test: three gateway nodes behind nginx, one PostgreSQL, one Redis, killed under load.

It runs ``deploy/scale_test.py`` (the operator's recipe, which says step by step what runs and
what is checked) at a size this suite can afford on two cores; the script takes the full size
(``--requests 20000 --connections 100``). Every check of the script must hold: the report's
``problems`` list names any that did not. The figures are printed for docs/deployment.md.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gwtest.postgres_server import find_bindir

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "scale_test.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_test"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(900)
def test_three_nodes_behind_nginx_killed_and_restarted_under_load(tmp_path: Path) -> None:
    missing = [
        name
        for name, found in (
            ("nginx", shutil.which("nginx") or Path("/usr/sbin/nginx").exists()),
            ("redis-server", shutil.which("redis-server")),
            ("PostgreSQL", find_bindir()),
        )
        if not found
    ]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    scale = _script()
    cfg = scale.Config(
        requests=1200,
        connections=16,
        batch_lines=60,
        rate_limit=20,
        budget_calls=20,
        redis_outage=10.0,
        outage_requests=60,
        workdir=tmp_path,
    )
    report = scale.run(cfg)
    print(json.dumps(report.__dict__, indent=2, default=str))
    assert report.problems == []
    assert report.answered == cfg.requests
    assert report.failed_attempts == (
        report.failed_on_killed_node_in_flight + report.failed_on_killed_node_stale_connection
    )
    assert report.ledger_rows == cfg.requests
    assert report.rate_limit_admitted == cfg.rate_limit
    # A key budget shared by the nodes: exactly its calls admitted, exactly that many bills.
    assert report.budget_admitted == cfg.budget_calls and report.budget_ledger_rows == cfg.budget_calls
    assert report.batch_items == cfg.batch_lines
