"""What a run leaves behind when it is cut short, and how the next doctor finds it.

- SIGINT (Ctrl-C) or SIGTERM during a run cancels ansible-runner (it kills ansible-playbook's
  process group) instead of killing kubemedic, so the record is finished: status "interrupted",
  exit 8, and per host what completed and which task was in flight.
- A node lost mid-run (ssh or the node gone) is named with the task it was lost at; the others
  finish (exit 4).
- A run killed outright (SIGKILL, power loss) leaves its record at status "running" while the
  customer lock is free: that is cut short too.

The next `doctor` reports each such run, unless the same command has since succeeded, with the
command to run again: every step is idempotent, so re-running it completes the repair.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubemedic.engine import records

_RESULTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
            "runner_on_unreachable": "unreachable"}
_CAUGHT = (signal.SIGINT, signal.SIGTERM)
# The invocation as typed (kubemedic.main records it): the command doctor tells to re-run.
ARGV: list[str] = []


class Stop:
    """Set by SIGINT/SIGTERM while a run is under way; ansible-runner polls `cancelled`."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.at: str | None = None

    def cancelled(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
            self.at = datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def catch_signals() -> Iterator[Stop]:
    """Within the block SIGINT/SIGTERM set the Stop instead of raising or killing; the previous
    handlers come back afterwards (only the main thread can install handlers)."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop._handle) for sig in _CAUGHT}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def what_ran(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per host: tasks finished (count, last one), the task in flight when the run stopped, and
    the task at which the host became unreachable."""
    hosts: dict[str, dict[str, Any]] = {}
    for event in events:
        name = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        if not host or (name != "runner_on_start" and name not in _RESULTS):
            continue
        state = hosts.setdefault(host, {"tasks_finished": 0, "last_finished": None,
                                        "in_flight": None, "unreachable_at": None})
        task = data.get("task") or data.get("task_action") or "?"
        if name == "runner_on_start":
            state["in_flight"] = task
            continue
        state["in_flight"] = None
        state["tasks_finished"] += 1
        state["last_finished"] = task
        if _RESULTS[name] == "unreachable" and state["unreachable_at"] is None:
            state["unreachable_at"] = task
    return hosts


def rerun_command(argv: list[str] | None = None) -> str:
    """The command line of this run, secret-looking -e values masked."""
    argv = list(ARGV if argv is None else argv)
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(_mask_extravar(arg))
            mask_next = False
        elif arg in ("-e", "--extra-vars"):
            out.append(arg)
            mask_next = True
        elif arg.startswith("--extra-vars="):
            out.append("--extra-vars=" + _mask_extravar(arg.split("=", 1)[1]))
        else:
            out.append(arg)
    return shlex.join(["kubemedic", *out])


def _mask_extravar(value: str) -> str:
    if value.startswith("@") or not records.SECRET_NAME.search(value):
        return value
    key, sep, _ = value.partition("=")
    return f"{key}={records.REDACTED}" if sep and not key.lstrip().startswith("{") \
        else records.REDACTED


def _key(run: dict[str, Any]) -> tuple[Any, ...]:
    return (run.get("verb"), tuple(run.get("tags") or ()), run.get("limit"))


def cut_short(runs: list[dict[str, Any]], lock_free: bool) -> list[dict[str, Any]]:
    """Runs (oldest first, as records.list_runs gives them) whose latest attempt of the same
    verb, tags and limit was interrupted, lost a node, or died while running."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for run in runs:
        if run.get("check") or run.get("verb") in ("doctor", "ping"):
            continue
        latest[_key(run)] = run
    found = []
    for run in latest.values():
        status = run.get("status")
        lost = [h for h, p in (run.get("progress") or {}).items() if p.get("unreachable_at")]
        if status == "interrupted" or lost or (status == "running" and lock_free):
            found.append(run)
    return found


def _recorded_events(record: Path) -> list[dict[str, Any]]:
    """The job events ansible-runner wrote for a run that never finished its summary."""
    events = []
    for path in record.glob("artifacts/*/job_events/*.json"):
        try:
            events.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # the event being written when the run died
    return sorted(events, key=lambda e: e.get("counter", 0))


def findings(customer: str, state_dir: str | None, lock_free: bool) -> list[dict[str, Any]]:
    """Doctor findings (kubemedic.doctor.checks.Finding shape) for runs cut short."""
    from kubemedic.doctor.checks import Finding

    out = []
    for run in cut_short(records.list_runs(customer, state_dir), lock_free):
        progress = run.get("progress") or what_ran(_recorded_events(Path(run["record"])))
        status = run.get("status")
        if status == "interrupted":
            how = f"interrupted by {(run.get('interrupted') or {}).get('signal', 'a signal')}"
            hosts = {h: p.get("in_flight") or p.get("last_finished") for h, p in progress.items()}
        elif status == "running":
            how = "killed before it could finish its record"
            hosts = {h: p.get("in_flight") or p.get("last_finished") for h, p in progress.items()}
        else:
            how = "lost node(s) mid-run"
            hosts = {h: p["unreachable_at"] for h, p in progress.items() if p.get("unreachable_at")}
        where = "; ".join(f"{h}: {task}" for h, task in sorted(hosts.items()) if task) or "no task"
        command = run.get("command") or f"kubemedic {run.get('verb')} -c {customer}"
        out.append(Finding(
            host=",".join(sorted(hosts)) or "dev-box", check="run-cut-short", severity="critical",
            evidence=f"{run.get('verb')} started {run.get('started')} ({run.get('record')}): "
                     f"{how}; cut at {where}",
            message=f"`{run.get('verb')}` did not finish: those nodes may be half-changed. "
                    "Re-run the same command (every step is idempotent) to complete it",
            command=command).to_json())
    return out
