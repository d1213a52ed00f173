"""`kubemedic history`: list the recorded runs, filtered by verb, status and time, each with the
incident reports that cover it.

A run's id is its record folder's name (`<UTC timestamp>-<verb>`). `kubemedic report` stores its
own record whose `covers` field (top level, or under `extra`) lists the ids (or record paths) of
the runs it reported on; history shows them per run as `covered_by`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kubemedic import output
from kubemedic.engine import record_query
from kubemedic.engine.records import list_runs
from kubemedic.errors import KubemedicUsageError

# ansible-runner's final statuses, plus "running" for a record whose run has not ended (or died).
STATUSES = ("successful", "failed", "timeout", "canceled", "running")
def parse_since(value: str, now: datetime | None = None) -> datetime:
    """--since: an ISO date/time (UTC unless it says otherwise) or an age: 30m, 12h, 7d
    (the same times `kubemedic report --since` reads)."""
    try:
        return record_query.parse_time(value, now)
    except record_query.RecordQueryError as exc:
        raise KubemedicUsageError(f"--since {exc}") from None


def _started(run: dict[str, Any]) -> datetime | None:
    try:
        return record_query.started_at(run)
    except ValueError:
        return None


def _covers(run: dict[str, Any]) -> list[str]:
    covers = run.get("covers")
    if covers is None:
        covers = (run.get("extra") or {}).get("covers")
    return [Path(str(item)).name for item in covers or []]


def with_reports(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run with its `id` and `covered_by` (ids of the report runs naming it, oldest first)."""
    covering: dict[str, list[str]] = {}
    for run in runs:
        for covered in _covers(run):
            covering.setdefault(covered, []).append(Path(run["record"]).name)
    return [{**run, "id": Path(run["record"]).name,
             "covered_by": covering.get(Path(run["record"]).name, [])} for run in runs]


def select(runs: list[dict[str, Any]], verb: str | None, status: str | None,
           since: datetime | None) -> list[dict[str, Any]]:
    """--verb matches a verb or its family (`recover` matches recover-hosts-allow)."""
    def wanted(run: dict[str, Any]) -> bool:
        name = str(run.get("verb", ""))
        if verb and name != verb and not name.startswith(f"{verb}-"):
            return False
        if status and run.get("status") != status:
            return False
        started = _started(run)
        return not (since and (started is None or started < since))

    return [run for run in runs if wanted(run)]


def _counts(summary: dict) -> str:
    hosts = summary.get("hosts") or {}
    totals = {k: sum(h.get(k, 0) for h in hosts.values())
              for k in ("ok", "changed", "failed", "unreachable")}
    return " ".join(f"{k}={v}" for k, v in totals.items())


@click.command()
@click.option("-c", "--customer", envvar="KUBEMEDIC_CUSTOMER", help="Only this customer.")
@click.option("-n", "--last", type=int, default=0, help="Only the last N runs (after filters).")
@click.option("--verb", help="Only this verb or verb family (recover = every recover-<step>).")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs that ended so.")
@click.option("--since", help="Only runs started since: ISO time (UTC) or an age (30m, 12h, 7d).")
@click.option("--json", "json_output", is_flag=True,
              help="Print the summaries as JSON (schema: history.json, docs/json.md).")
@click.pass_context
def history(ctx: click.Context, customer: str | None, last: int, verb: str | None,
            status: str | None, since: str | None, json_output: bool) -> None:
    """List recorded runs (who, what, tags, limit, result per host, duration, covering reports)."""
    moment = parse_since(since) if since else None
    runs = select(with_reports(list_runs(customer, ctx.find_root().params.get("state_dir"))),
                  verb, status, moment)
    if last:
        runs = runs[-last:]
    if json_output:
        output.emit_json(runs)
        return
    if not runs:
        click.echo("no runs recorded" + (f" for {customer}" if customer else "")
                   + (" matching the filters" if verb or status or since else ""))
        return
    table = Table(title="kubemedic runs")
    for column in ("started", "customer", "verb", "tags", "limit", "check", "status", "rc",
                   "seconds", "totals", "reports", "record"):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(run.get("started", ""), run.get("customer", ""), run.get("verb", ""),
                      ",".join(run.get("tags") or []), run.get("limit") or "",
                      "yes" if run.get("check") else "", run.get("status", ""),
                      str(run.get("rc", "")), str(run.get("duration_seconds", "")),
                      _counts(run), "\n".join(run["covered_by"]), run.get("record", ""))
    Console(width=200).print(table)
