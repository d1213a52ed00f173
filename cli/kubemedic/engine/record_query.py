"""Reading run records back: one run by its id, the runs of a time window, what doctor found.

A run's id is its record folder's name (`<UTC timestamp>-<verb>`, unique per customer). Shared
by the verbs that read records (`kubemedic report`, `kubemedic history`); records.py writes them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kubemedic.engine.records import list_runs

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class RecordQueryError(ValueError):
    """A time or run id that names nothing (the CLI turns it into exit 2)."""


def run_id(run: dict[str, Any]) -> str:
    """The id of a run as list_runs returns it: its record folder's name."""
    return Path(run["record"]).name


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """`2026-12-02T01:00`, `2026-12-02 01:00:00Z`, `2026-12-02` (UTC unless an offset is
    given), or relative to now: `30m`, `2h`, `1d`, `1w`."""
    now = now or datetime.now(timezone.utc)
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RecordQueryError(
            f"{text!r} is not a time: use ISO 8601 (2026-12-02T01:00, UTC unless an offset is "
            "given) or a duration back from now (30m, 2h, 1d, 1w)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def started_at(run: dict[str, Any]) -> datetime:
    moment = datetime.fromisoformat(str(run.get("started", "")).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def ended_at(run: dict[str, Any]) -> datetime:
    return started_at(run) + timedelta(seconds=float(run.get("duration_seconds") or 0))


def customer_runs(customer: str, state_dir: str | None = None) -> list[dict[str, Any]]:
    """Every readable run of the customer, oldest first (ties: by id, which has microseconds)."""
    runs = [r for r in list_runs(customer, state_dir) if _has_time(r)]
    return sorted(runs, key=lambda r: (started_at(r), run_id(r)))


def _has_time(run: dict[str, Any]) -> bool:
    try:
        started_at(run)
    except ValueError:
        return False
    return True


def by_ids(runs: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    """The runs named by id (or by record path); RecordQueryError naming every unknown one."""
    index = {run_id(r): r for r in runs}
    wanted = [Path(i.rstrip("/")).name for i in ids]
    unknown = [i for i in wanted if i not in index]
    if unknown:
        raise RecordQueryError(f"no such run(s): {', '.join(unknown)}")
    return sorted({i: index[i] for i in wanted}.values(),
                  key=lambda r: (started_at(r), run_id(r)))


def since(runs: list[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
    return [r for r in runs if started_at(r) >= moment]


def doctor_answer(run: dict[str, Any]) -> dict[str, Any] | None:
    """What `kubemedic doctor` wrote into the run's record (doctor.json), None if nothing."""
    path = Path(run["record"]) / "doctor.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
