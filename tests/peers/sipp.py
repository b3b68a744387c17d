"""Run SIPp (Debian ``sip-tester``, SIPp 3.6.1) as a subprocess in tests.

SIPp only ever talks to loopback here: it sends from ``-i 127.0.0.1 -p <free port>``
(``-bind_local``), keeps its control socket on ``-ci 127.0.0.1``, and the target must be a
loopback address. Each run writes its traces into ``cwd``, so give every concurrently running
SIPp its own directory:

- ``stats.csv``: ``-trace_stat``. A ';'-separated header line, then one row per dump; the last
  row holds the final cumulative counters ``SuccessfulCall(C)`` and ``FailedCall(C)``. The
  date columns themselves contain tabs (``2026-11-23<TAB>10:13:34.27<TAB>1795428814.27``).
- ``msgs.log``: every message SIPp sent and received (``-trace_msg``).
- ``errs.log``: unexpected messages (``-trace_err``); absent when there were none.
- ``sipp.stdout``, ``sipp.stderr``: the screen and any start-up error.

A test that needs SIPp fails with a clear message when it is missing and ``CI`` is set, and is
skipped otherwise (:func:`require_sipp`, which :func:`run_sipp` calls itself)::

    def test_options_probe_over_udp(tmp_path: Path) -> None:
        result = run_sipp(SCENARIOS / "options_uac.xml", f"127.0.0.1:{port}", cwd=tmp_path)
        assert result.successful == 1, result.describe()

Exit codes (SIPp manual): 0 every call succeeded, 1 at least one call failed, 97 exit on an
internal command, 99 normal exit without calls processed, 255 fatal error (including the
global ``-timeout`` under ``-timeout_error``), 254 could not bind.
"""

from __future__ import annotations

import ipaddress
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import pytest

Transport = Literal["u1", "t1", "un", "tn"]

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
"""The scenario files that ship with the tests (``options_uac.xml`` …)."""

BUILTIN_SCENARIOS = frozenset(
    {"uac", "uas", "regexp", "branchc", "branchs", "3pcc-C-A", "3pcc-C-B", "3pcc-A", "3pcc-B"}
)
"""Names that :func:`run_sipp` passes as ``-sn name`` rather than ``-sf file``."""

STATS_FILE = "stats.csv"
MESSAGE_FILE = "msgs.log"
ERROR_FILE = "errs.log"
STDOUT_FILE = "sipp.stdout"
STDERR_FILE = "sipp.stderr"
KILL_GRACE = 15.0
"""Seconds past SIPp's own ``-timeout`` before the process is killed."""


class SippTimeoutError(RuntimeError):
    """SIPp ran past its own global timeout plus :data:`KILL_GRACE` and was killed."""


def find_sipp() -> str | None:
    """The path of the ``sipp`` binary, or None when it is not on PATH."""
    return shutil.which("sipp")


def require_sipp() -> str:
    """The path of ``sipp``; fail the test under CI when it is missing, skip it otherwise."""
    path = find_sipp()
    if path is None:
        reason = "sipp is not on PATH: install the Debian package sip-tester (scripts/setup does)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def sipp_binary() -> str:
    """The ``sipp`` path, with :func:`require_sipp`'s skip-or-fail rule."""
    return require_sipp()


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    return _free_port(socket.SOCK_DGRAM)


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port(socket.SOCK_STREAM)


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True, kw_only=True)
class SippResult:
    """What one SIPp run did."""

    returncode: int
    """SIPp's exit status (0: every call succeeded)."""
    successful: int
    """``SuccessfulCall(C)`` from the last row of the statistics file."""
    failed: int
    """``FailedCall(C)`` from the last row of the statistics file."""
    messages: str
    """The message log: every message SIPp sent and received."""
    errors: str
    """The error log: unexpected messages ("" when there were none)."""
    stdout: str
    """SIPp's screen output."""
    stderr: str
    """SIPp's standard error (start-up and scenario errors)."""
    stats: Mapping[str, str]
    """The last row of the statistics file, by column name ({} when SIPp wrote none)."""
    port: int
    """The local port SIPp used."""
    command: tuple[str, ...]
    """The command line that was run."""

    @property
    def ok(self) -> bool:
        """SIPp exited 0 and counted no failed call."""
        return self.returncode == 0 and self.failed == 0

    def describe(self) -> str:
        """A summary for assertion messages: command, counters and the ends of the logs."""
        return "\n".join(
            [
                f"sipp exited {self.returncode}: {self.successful} successful, "
                f"{self.failed} failed",
                "command: " + " ".join(self.command),
                "stderr: " + _tail(self.stderr),
                "errors: " + _tail(self.errors),
                "messages: " + _tail(self.messages),
            ]
        )


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def read_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp ``-trace_stat`` file by column name; {} when there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0].split(";"), rows[-1].split(";"), strict=False))


def sipp_command(
    scenario: Path | str,
    target: str,
    *,
    port: int,
    transport: Transport = "u1",
    calls: int = 1,
    rate: float | None = None,
    timeout: float = 30,
    extra: Sequence[str] = (),
) -> list[str]:
    """The SIPp command line for one run; ``target`` "" means none (a UAS waiting for calls)."""
    command = [require_sipp(), *_scenario_args(scenario)]
    if target:
        _check_loopback(target)
        command.append(target)
    command += ["-t", transport, "-i", "127.0.0.1", "-p", str(port), "-bind_local"]
    if transport in ("un", "tn") and "-max_socket" not in extra:
        # SIPp refuses a socket-per-call mode whose socket limit (default 50000) is not
        # below the open-file limit.
        command += ["-max_socket", str(_socket_budget())]
    command += ["-ci", "127.0.0.1", "-m", str(calls)]
    if rate is not None:
        command += ["-r", f"{rate:g}"]
    command += ["-timeout", _duration(timeout), "-timeout_error"]
    command += ["-trace_stat", "-stf", STATS_FILE, "-trace_err", "-trace_msg"]
    command += ["-message_file", MESSAGE_FILE, "-error_file", ERROR_FILE, "-nostdin"]
    return [*command, *extra]


def _socket_budget() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1024 if soft == resource.RLIM_INFINITY else max(16, min(1024, soft // 2))


def _scenario_args(scenario: Path | str) -> list[str]:
    if isinstance(scenario, str) and scenario in BUILTIN_SCENARIOS:
        return ["-sn", scenario]
    path = Path(scenario).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"sipp scenario {str(path)!r} does not exist")
    return ["-sf", str(path)]


def _check_loopback(target: str) -> None:
    if target.startswith("["):
        host = target[1:].partition("]")[0]
    else:
        host = target.partition(":")[0]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"sipp target {target!r} is not a loopback address")


def _duration(seconds: float) -> str:
    # SIPp 3.6.1 keeps whole seconds of -timeout ("1500ms" times out after 1.000 s): round up.
    if seconds <= 0:
        raise ValueError(f"sipp timeout {seconds!r} is not positive")
    return f"{math.ceil(seconds)}s"


class SippProcess:
    """A running SIPp. :meth:`wait` collects its :class:`SippResult`; leaving ``with`` kills it.

    Use it directly for a SIPp UAS that must be up while the test drives something else::

        with SippProcess.start("uas", "", cwd=tmp_path / "uas", calls=1) as uas:
            ...  # send a call to 127.0.0.1:uas.port
            assert uas.wait().successful == 1
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        command: list[str],
        cwd: Path,
        port: int,
        limit: float,
    ) -> None:
        self.process = process
        self.command = tuple(command)
        self.cwd = cwd
        self.port = port
        self.limit = limit
        self.deadline = time.monotonic() + limit

    @classmethod
    def start(
        cls,
        scenario: Path | str,
        target: str,
        *,
        transport: Transport = "u1",
        calls: int = 1,
        rate: float | None = None,
        timeout: float = 30,
        extra: Sequence[str] = (),
        cwd: Path,
        port: int | None = None,
    ) -> SippProcess:
        """Start SIPp in ``cwd`` (created if missing) on ``port`` (a free one by default)."""
        if port is None:
            port = free_tcp_port() if transport.startswith("t") else free_udp_port()
        command = sipp_command(
            scenario,
            target,
            port=port,
            transport=transport,
            calls=calls,
            rate=rate,
            timeout=timeout,
            extra=extra,
        )
        cwd.mkdir(parents=True, exist_ok=True)
        for name in (STATS_FILE, MESSAGE_FILE, ERROR_FILE, STDOUT_FILE, STDERR_FILE):
            (cwd / name).unlink(missing_ok=True)
        with (cwd / STDOUT_FILE).open("wb") as out, (cwd / STDERR_FILE).open("wb") as err:
            process = _spawn(command, cwd, out, err)
        return cls(process, command=command, cwd=cwd, port=port, limit=timeout + KILL_GRACE)

    def wait(self) -> SippResult:
        """Wait for SIPp to exit and read its traces.

        Kills SIPp and raises :class:`SippTimeoutError` when it is still running ``timeout +
        KILL_GRACE`` seconds after it started.
        """
        try:
            returncode = self.process.wait(timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            summary = self._result(-signal.SIGKILL).describe()
            raise SippTimeoutError(
                f"sipp did not exit within {self.limit:g} s and was killed\n{summary}"
            ) from None
        return self._result(returncode)

    def kill(self) -> None:
        """Kill SIPp (its whole process group) if it is still running, and reap it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> SippProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()

    def _result(self, returncode: int) -> SippResult:
        stats = read_stats(self.cwd / STATS_FILE)
        return SippResult(
            returncode=returncode,
            successful=int(stats.get("SuccessfulCall(C)") or 0),
            failed=int(stats.get("FailedCall(C)") or 0),
            messages=_read(self.cwd / MESSAGE_FILE),
            errors=_read(self.cwd / ERROR_FILE),
            stdout=_read(self.cwd / STDOUT_FILE),
            stderr=_read(self.cwd / STDERR_FILE),
            stats=stats,
            port=self.port,
            command=self.command,
        )


def _spawn(
    command: list[str], cwd: Path, out: IO[bytes], err: IO[bytes]
) -> subprocess.Popen[bytes]:
    # A session of its own, so that a kill reaches anything SIPp started.
    return subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
    )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def run_sipp(
    scenario: Path | str,
    target: str,
    *,
    transport: Transport = "u1",
    calls: int = 1,
    rate: float | None = None,
    timeout: float = 30,
    extra: Sequence[str] = (),
    cwd: Path,
    port: int | None = None,
) -> SippResult:
    """Run SIPp to completion against ``target`` (``"127.0.0.1:<port>"``) and return its result.

    ``scenario`` is a built-in name (``"uac"``, ``"uas"`` …, run with ``-sn``) or a scenario
    file (``-sf``). SIPp places ``calls`` calls (``-m``) at ``rate`` calls per second (``-r``,
    SIPp's default 10 when None) and gives up after ``timeout`` seconds (``-timeout``, rounded
    up to whole seconds, exit status 255). Raises :class:`SippTimeoutError` if SIPp is still
    running ``KILL_GRACE`` seconds later, and skips or fails the test (see :func:`require_sipp`)
    without SIPp.
    """
    sipp = SippProcess.start(
        scenario,
        target,
        transport=transport,
        calls=calls,
        rate=rate,
        timeout=timeout,
        extra=extra,
        cwd=cwd,
        port=port,
    )
    with sipp:
        return sipp.wait()
