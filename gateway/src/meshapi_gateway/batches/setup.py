"""Start-up hook: install the file and batch services, and the in-process runner when enabled."""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from meshapi_gateway.batches.runner import BatchRunner
from meshapi_gateway.batches.service import BatchService
from meshapi_gateway.files.service import FileService

if TYPE_CHECKING:
    from meshapi_gateway.state import GatewayState


async def start_files_and_batches(state: "GatewayState") -> Callable[[], Awaitable[None]] | None:
    files = FileService.build(state.sessions, state.settings)
    batches = BatchService(state, files)
    state.files = files
    state.batches = batches
    if not state.settings.batch_runner:
        return None
    runner = BatchRunner(state, files)
    batches.on_change.append(runner.wake)
    state.batch_runner = runner
    await runner.start()
    return runner.stop
