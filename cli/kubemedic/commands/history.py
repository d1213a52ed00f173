"""`kubemedic history`: list the recorded runs."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from kubemedic.engine.records import list_runs


def _counts(summary: dict) -> str:
    hosts = summary.get("hosts") or {}
    totals = {k: sum(h.get(k, 0) for h in hosts.values())
              for k in ("ok", "changed", "failed", "unreachable")}
    return " ".join(f"{k}={v}" for k, v in totals.items())


@click.command()
@click.option("-c", "--customer", envvar="KUBEMEDIC_CUSTOMER", help="Only this customer.")
@click.option("-n", "--last", type=int, default=0, help="Only the last N runs.")
@click.option("--json", "json_output", is_flag=True, help="Print the summaries as JSON.")
@click.pass_context
def history(ctx: click.Context, customer: str | None, last: int, json_output: bool) -> None:
    """List recorded runs (who, what, tags, limit, result per host, duration)."""
    runs = list_runs(customer, ctx.find_root().params.get("state_dir"))
    if last:
        runs = runs[-last:]
    if json_output:
        click.echo(json.dumps(runs, indent=2))
        return
    if not runs:
        click.echo("no runs recorded" + (f" for {customer}" if customer else ""))
        return
    table = Table(title="kubemedic runs")
    for column in ("started", "customer", "verb", "tags", "limit", "check", "status", "rc",
                   "seconds", "totals", "record"):
        table.add_column(column, overflow="fold")
    for run in runs:
        table.add_row(run.get("started", ""), run.get("customer", ""), run.get("verb", ""),
                      ",".join(run.get("tags") or []), run.get("limit") or "",
                      "yes" if run.get("check") else "", run.get("status", ""),
                      str(run.get("rc", "")), str(run.get("duration_seconds", "")),
                      _counts(run), run.get("record", ""))
    Console(width=200).print(table)
