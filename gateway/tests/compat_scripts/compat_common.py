"""What every compat script shares: the gateway's address and credentials, and one JSON report.

The scripts run in a child process whose ``PYTHONPATH`` points at one published ``meshapi``
release, so they import that release and nothing of ours. The parent passes the gateway URL
and credentials in environment variables (``MESHAPI_URL``, ``MESHAPI_KEY``, ``MESHAPI_JWT``,
``MESHAPI_LIMITED_KEY``) and reads one JSON object from the last line of stdout.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable

import meshapi

URL = os.environ.get("MESHAPI_URL", "")
KEY = os.environ.get("MESHAPI_KEY", "")
JWT = os.environ.get("MESHAPI_JWT", "")
LIMITED_KEY = os.environ.get("MESHAPI_LIMITED_KEY", "")
VERSION: str = meshapi.__version__

_results: dict[str, Any] = {}


def client(token: str = "", **options: Any) -> Any:
    """A sync client as the README builds one (retries off unless asked, so a failure shows at once)."""
    options.setdefault("max_retries", 0)
    return meshapi.MeshAPI(base_url=URL, token=token or KEY, **options)


def error_view(exc: Any) -> dict[str, Any]:
    """The MeshAPIError fields the README's error-handling block reads."""
    return {
        "raised": "MeshAPIError",
        "status": exc.status,
        "error_code": exc.error_code,
        "message": str(exc),
        "request_id": exc.request_id,
        "details": exc.details,
        "provider_error": exc.provider_error,
        "retry_after_seconds": exc.retry_after_seconds,
    }


def step(name: str, action: Callable[[], Any]) -> None:
    """Run one README example; its result, or the exception it raised, goes into the report."""
    try:
        _results[name] = action()
    except meshapi.MeshAPIError as exc:
        _results[name] = error_view(exc)
    except Exception as exc:  # any other failure is reported, not hidden
        _results[name] = {
            "raised": type(exc).__name__,
            "message": str(exc)[:2000],
            "traceback": traceback.format_exc()[-3000:],
        }


def report() -> None:
    out = {"meshapi_file": meshapi.__file__, "version": VERSION, "results": _results}
    sys.stdout.write("\n" + json.dumps(out, default=str) + "\n")
