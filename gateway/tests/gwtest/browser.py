"""Debian's Chromium driven by Playwright from PyPI: nothing is downloaded when the tests run.

The browser is launched headless from ``/usr/bin/chromium`` with a fresh profile and every
background fetch turned off, so a test sees only the gateway it started.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

CHROMIUM = os.environ.get("MESHAPI_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[3]
# Where a failing browser test leaves its screenshot.
ARTIFACTS = REPO / ".test-artifacts" / "console"
# Where the screenshots of docs/console.md are written when MESHAPI_CONSOLE_SCREENSHOTS=1.
DOC_SHOTS = REPO / "docs" / "console"


def chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (the gateway's test extra)"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A browser context on a throwaway profile folder (Playwright takes the folder as the context's own)."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="meshapi-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=ARGS,
                viewport={"width": 1280, "height": 800},
                service_workers="block",
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def doc_screenshot(page: Any, name: str) -> None:
    """Keep a page's picture for docs/console.md, when asked to (small: a laptop-width viewport)."""
    if os.environ.get("MESHAPI_CONSOLE_SCREENSHOTS") != "1":
        return
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SHOTS / f"{name}.png"), full_page=False)
