"""The record of every run: `<state>/runs/<customer>/<UTC timestamp>-<verb>/`.

A record is the ansible-runner private data dir (artifacts, job events) plus `summary.json`.
Secrets never land here: extravars whose names look secret are redacted before ansible-runner
writes them, its `env/` folder is scrubbed after the run, and `no_log` results are already
censored by Ansible in the events.
"""

from __future__ import annotations

import getpass
import json
import re
import shutil
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kubemedic import inputs, paths

SECRET_NAME = re.compile(r"(pass(word)?|secret|token|key|credential|vault)", re.IGNORECASE)
REDACTED = "********"


@dataclass
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass
class RunSummary:
    customer: str
    verb: str
    playbook: str
    started: str
    user: str = field(default_factory=getpass.getuser)
    devbox: str = field(default_factory=socket.gethostname)
    tags: list[str] = field(default_factory=list)
    skip_tags: list[str] = field(default_factory=list)
    limit: str | None = None
    check: bool = False
    extravars: dict[str, Any] = field(default_factory=dict)
    strategy: str = "linear"  # mitogen_linear when the speed extra is in use
    status: str = "running"
    rc: int | None = None
    duration_seconds: float | None = None
    hosts: dict[str, HostResult] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    covers: list[str] = field(default_factory=list)  # `kubemedic report`: ids of the runs it covered
    extra: dict[str, Any] = field(default_factory=dict)
    # Re-running it completes a run cut short (engine.interruption).
    command: str = ""
    # Per host: tasks_finished, last_finished, in_flight (when cut short), unreachable_at.
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    # {"signal": "SIGTERM", "at": <UTC time>} when SIGINT/SIGTERM stopped the run.
    interrupted: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def redact(variables: dict[str, Any]) -> dict[str, Any]:
    """Copy of variables with values of secret-looking names replaced (recursively)."""
    clean: dict[str, Any] = {}
    for name, value in variables.items():
        if SECRET_NAME.search(str(name)):
            clean[name] = REDACTED
        elif isinstance(value, dict):
            clean[name] = redact(value)
        else:
            clean[name] = value
    return clean


def runs_dir(state_dir: str | None = None) -> Path:
    return paths.state_dir(state_dir) / "runs"


def new_record_dir(customer: str, verb: str, state_dir: str | None = None) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    record = runs_dir(state_dir) / customer / f"{stamp}-{verb}"
    record.mkdir(parents=True, exist_ok=False)
    return record


def write_summary(record: Path, summary: RunSummary) -> Path:
    target = record / "summary.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary.to_json(), indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(target)  # atomic: history never reads a half-written summary
    return target


def scrub_runner_env(record: Path) -> None:
    """ansible-runner keeps extravars, passwords and ssh keys under env/; none of it is history."""
    env = record / "env"
    if env.is_dir():
        shutil.rmtree(env)
    for leftover in record.glob("artifacts/*/ssh_key_data"):
        leftover.unlink(missing_ok=True)


def list_runs(customer: str | None = None, state_dir: str | None = None) -> list[dict[str, Any]]:
    if customer:
        inputs.check_name("customer name", customer)
    base = runs_dir(state_dir)
    if not base.is_dir():
        return []
    customers = [base / customer] if customer else sorted(p for p in base.iterdir() if p.is_dir())
    found = []
    for cdir in customers:
        if not cdir.is_dir():
            continue
        for record in sorted(cdir.iterdir()):
            summary_file = record / "summary.json"
            if not summary_file.is_file():
                continue
            try:
                summary = json.loads(summary_file.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            summary["record"] = str(record)
            found.append(summary)
    found.sort(key=lambda s: s.get("started", ""))
    return found
