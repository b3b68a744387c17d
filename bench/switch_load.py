"""Switch throughput: SIPp carrier calls forked to 10 SIPp member phones, one answering.

Run: ``.venv/bin/python -m bench.switch_load --rate 50 --seconds 20 [--runs 3]``.

Each run provisions a Starter workspace (10 members on +14155550100, a trunk for 127.0.0.1),
starts ``sharedline serve`` (UDP), registers 10 SIPp phones with digest auth,
leaves 9 ringing (they are CANCELled when the 10th answers) and 1 answering after ~200 ms, and
has a SIPp carrier place ``rate`` calls per second for ``seconds``. It prints offered and
achieved calls per second, failed calls, the engine's CPU seconds per call (from
/proc/PID/stat), and the carrier's INVITE-to-200 latency p50/p99. The baseline, measured in the
same run, is the same carrier calling one answering SIPp phone directly (no switch): the
difference of the medians is the latency the switch adds, forking to 10 legs.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.process import MD5_FIRST, serving
from tests.peers.sipp import SCENARIOS, SippProcess, free_udp_port, run_sipp

NUMBER = "+14155550100"
MEMBERS = 10


def workspace_yaml() -> str:
    users = "\n".join(
        f"  - email: m{i}@bench.test\n    name: Member {i}\n    devices:\n"
        f"      - username: m{i}\n        password: pw{i}"
        for i in range(1, MEMBERS + 1)
    )
    members = "\n".join(f"      - user: m{i}@bench.test" for i in range(1, MEMBERS + 1))
    return (
        "workspace:\n  name: Bench\n  plan: starter\nusers:\n"
        f"{users}\ntrunks:\n  - name: carrier\n    allowed_sources: [127.0.0.1/32]\n"
        f'numbers:\n  - e164: "{NUMBER}"\n    name: Bench\n    trunk: carrier\n'
        f"    members:\n{members}\n"
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latencies(folder: Path) -> list[float]:
    """INVITE-to-200 times in ms from SIPp's -trace_rtt file (built-in uac times that pair)."""
    values: list[float] = []
    for path in folder.glob("*_rtt.csv"):
        with path.open() as handle:
            for row in csv.reader(handle, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    values.append(float(row[1]))
    return values


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def carrier(
    target: str, rate: float, seconds: float, cwd: Path
) -> tuple[int, int, float, list[float]]:
    calls = int(rate * seconds)
    started = time.monotonic()
    result = run_sipp(
        "uac",
        target,
        calls=calls,
        rate=rate,
        timeout=seconds + 60,
        cwd=cwd,
        extra=["-s", NUMBER, "-trace_rtt", "-rtt_freq", "1", "-l", str(max(10, int(rate * 4)))],
    )
    elapsed = time.monotonic() - started
    return result.successful, result.failed, elapsed, latencies(cwd)


def baseline(rate: float, seconds: float, folder: Path) -> float:
    """Median INVITE-to-200 ms of the carrier calling one SIPp phone directly."""
    calls = int(rate * seconds)
    with SippProcess.start(
        SCENARIOS / "member_answer.xml", "", calls=calls, timeout=seconds + 60, cwd=folder / "uas"
    ) as uas:
        _, _, _, times = carrier(f"127.0.0.1:{uas.port}", rate, seconds, folder / "uac")
        uas.wait()
    return statistics.median(times) if times else float("nan")


def one_run(rate: float, seconds: float, folder: Path) -> dict[str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    db = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    (folder / "workspace.yaml").write_text(workspace_yaml())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sharedline",
            "provision",
            str(folder / "workspace.yaml"),
            "--db",
            db,
        ],
        check=True,
        capture_output=True,
    )
    port = free_udp_port()
    target = f"127.0.0.1:{port}"
    calls = int(rate * seconds)
    phones: list[SippProcess] = []
    serve_args = ("--sip-listen", f"udp:{target}", "--db", db)
    # SIPp answers only the first digest challenge, and only MD5: offer MD5 first
    with serving(*serve_args, listeners=1, env=MD5_FIRST) as server:
        try:
            for i in range(1, MEMBERS + 1):
                phone_port = free_udp_port()
                registered = run_sipp(
                    SCENARIOS / "register.xml",
                    target,
                    cwd=folder / f"reg{i}",
                    port=phone_port,
                    timeout=10,
                    extra=["-s", f"m{i}", "-au", f"m{i}", "-ap", f"pw{i}"],
                )
                if registered.successful != 1:
                    sys.exit(f"phone m{i} did not register:\n{registered.describe()}")
                scenario = "member_answer.xml" if i == MEMBERS else "member_ring.xml"
                phones.append(
                    SippProcess.start(
                        SCENARIOS / scenario, "", calls=calls, timeout=seconds + 60,
                        cwd=folder / f"phone{i}", port=phone_port,
                    )
                )  # fmt: skip
            cpu_before = cpu_seconds(server.pid)
            successful, failed, elapsed, times = carrier(target, rate, seconds, folder / "carrier")
            cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            for phone in phones:
                phone.process.terminate()
    return {
        "offered": rate,
        "achieved": successful / elapsed,
        "failed": failed,
        "cpu_per_call_ms": 1000 * cpu / max(1, successful),
        "p50_ms": percentile(times, 0.5),
        "p99_ms": percentile(times, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="forking switch throughput")
    parser.add_argument("--rate", type=float, default=50.0, help="carrier calls per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("sipp not found: scripts/setup installs it (Debian sip-tester)")
    runs, bases = [], []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="sharedline-bench-") as tmp:
            folder = Path(tmp)
            bases.append(baseline(args.rate, min(args.seconds, 10), folder / "baseline"))
            runs.append(one_run(args.rate, args.seconds, folder / "switch"))
        print(
            f"run {index + 1}: " + " ".join(f"{k}={v:.2f}" for k, v in runs[-1].items()), flush=True
        )
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    base = statistics.median(bases)
    print(
        f"median of {args.runs} runs at {args.rate:g} calls/s for {args.seconds:g} s, forked to "
        f"{MEMBERS} legs:\n"
        f"  achieved {median['achieved']:.1f} calls/s, failed {median['failed']:.0f}, "
        f"engine CPU {median['cpu_per_call_ms']:.2f} ms per call\n"
        f"  INVITE->200 p50 {median['p50_ms']:.0f} ms, p99 {median['p99_ms']:.0f} ms; direct "
        f"(no switch) p50 {base:.0f} ms; added by the switch p50 {median['p50_ms'] - base:.0f} ms"
    )


if __name__ == "__main__":
    main()
