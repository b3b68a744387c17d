"""Hot reload of the call flows and members' availability into a running switch.

The engine checks, every ``flows_poll_interval`` seconds and at once on SIGHUP, whether a flow
file changed (its name, size or modification time); then it loads and checks every file again,
against the store's numbers, members and trunks, for the SIP backend. A valid set replaces the
switch's flows: new calls run it, calls in progress finish on the version they started with
(each call holds its own interpreter). An invalid set is refused, each problem is logged with
its ``FILE:LINE:COLUMN``, and the previous version stays live. Members' do-not-disturb and
personal hours are re-read from the store on the same beat.

Polling rather than inotify: it works the same on every filesystem (network and container
mounts included), needs no extra dependency, and a couple of seconds' delay is fine for admins.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from .callflows.interpreter import Interpreter
from .callflows.loader import FlowError, FlowSet, known_from_directory, load_flows
from .store.database import Database
from .store.flowstate import load_availability
from .store.sync import refresh_caller_names
from .switch.service import Switch

__all__ = ["FlowReloader", "load_interpreter"]

log = structlog.get_logger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def _signature(path: Path) -> Signature:
    """Name, size and modification time of every flow file under ``path``."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix in (".yaml", ".yml")
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )  # as the loader reads them: hidden files and directories are not flows
    else:
        return ()
    found: list[tuple[str, int, int]] = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        found.append((str(file), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def load_interpreter(path: Path, switch: Switch) -> tuple[Interpreter, FlowSet]:
    """Load and check the flows for the switch; raise :class:`FlowError` listing problems."""
    flows = load_flows(path, known=known_from_directory(switch.directory), backend="sip")
    return Interpreter(flows.document, flows.revision), flows


@dataclass
class FlowReloader:
    """Keeps a switch's flows and availability in step with the files and the store."""

    path: Path | None
    switch: Switch
    database: Database
    interval: float
    _signature: Signature = ()
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def load_initial(self) -> None:
        """Load the flows at start-up; raise :class:`FlowError` (the engine will not start)."""
        if self.path is None:
            return
        self._signature = _signature(self.path)
        interpreter, flows = load_interpreter(self.path, self.switch)
        self.switch.flows = interpreter
        log.info(
            "flows_loaded",
            revision=flows.revision,
            files=len(flows.files),
            numbers=len(flows.document.numbers),
        )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def request(self) -> None:
        """Reload now (SIGHUP)."""
        self._signature = ()
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            self.check_files()
            await self.refresh_availability()

    def check_files(self) -> bool:
        """Reload when the files changed; True when a new version went live."""
        if self.path is None:
            return False
        signature = _signature(self.path)
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            interpreter, flows = load_interpreter(self.path, self.switch)
        except FlowError as error:
            current = self.switch.flows.revision if self.switch.flows is not None else None
            log.error("flows_rejected", errors=error.errors, kept_revision=current)
            return False
        if self.switch.flows is not None and self.switch.flows.revision == flows.revision:
            return False
        self.switch.flows = interpreter
        log.info(
            "flows_reloaded",
            revision=flows.revision,
            files=len(flows.files),
            numbers=len(flows.document.numbers),
            calls_in_progress=len(self.switch.calls),
        )
        return True

    async def refresh_availability(self) -> None:
        """Members' availability and the address books' caller names, from the store."""
        try:
            self.switch.availability = await load_availability(self.database)
        except Exception:  # the database may be down: keep what we had
            log.exception("availability_refresh_failed")
        await refresh_caller_names(self.database, self.switch)
