"""`kubemedic report -c CUSTOMER [--since T | --runs ID,...]`: the incident record of a night's
runs, in the seeds' layout (seed 000), as Markdown and as a self-contained HTML page.

Reads only: run records and the customer's inventory; no host is contacted. Like every verb it
stores its own run record (`<state>/runs/<customer>/<time>-report/`), holding report.md,
report.html and summary.json with `covers`: the ids of the runs the report covered.

Which runs: --runs names them; --since takes every run from that time on; without either, the
runs after the customer's last report (all of them if there was none). Reports never cover
reports. Exit 0, or 2 (unknown customer, a time or run id that names nothing, no runs).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from kubemedic.engine import record_query as rq
from kubemedic.engine import records
from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.loader import load
from kubemedic.output import emit_json
from kubemedic.report import incident as incident_mod
from kubemedic.report import render

VERB = "report"


def select(customer: str, state_dir: str | None, since: str | None,
           run_ids: list[str]) -> list[dict]:
    runs = rq.customer_runs(customer, state_dir)
    if not runs:
        raise KubemedicUsageError(f"no runs recorded for customer {customer!r} in "
                                  f"{records.runs_dir(state_dir) / customer}")
    try:
        if run_ids:
            chosen = rq.by_ids(runs, run_ids)
        elif since:
            chosen = rq.since(runs, rq.parse_time(since))
        else:
            reports = [r for r in runs if r.get("verb") == VERB]
            chosen = runs[runs.index(reports[-1]) + 1:] if reports else runs
    except rq.RecordQueryError as exc:
        flag = "--runs" if run_ids else "--since"
        raise KubemedicUsageError(f"{flag}: {exc}") from exc
    chosen = [r for r in chosen if r.get("verb") != VERB]
    if not chosen:
        where = (f"since {since}" if since else "named by --runs" if run_ids
                 else "after its last report")
        raise KubemedicUsageError(f"no runs of customer {customer!r} {where}: nothing to report "
                                  "(`kubemedic history -c " + customer + "` lists them)")
    return chosen


@click.command()
@click.option("-c", "--customer", required=True, envvar="KUBEMEDIC_CUSTOMER",
              help="Customer inventory: inventories/<customer>/ (env KUBEMEDIC_CUSTOMER).")
@click.option("--since", help="Runs from this time on: ISO 8601 (UTC unless an offset is "
                              "given) or a duration back from now (30m, 2h, 1d).")
@click.option("--runs", "run_ids", multiple=True,
              help="Exactly these runs (ids as `kubemedic history` shows them; repeat or a,b).")
@click.option("--lang", type=click.Choice(render.LANGS), default="en", show_default=True,
              help="Headings in English or Chinese.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Also copy report.md and report.html into this folder.")
@click.option("--json", "json_output", is_flag=True,
              help="Print the paths, the runs covered and the faults as JSON.")
@click.pass_context
def report(ctx: click.Context, customer: str, since: str | None, run_ids: tuple[str, ...],
           lang: str, output: str | None, json_output: bool) -> None:
    """Write the incident record (Markdown + HTML) from the customer's run records.

    Basic information (customer, time window, cluster configuration from the inventory), then
    per fault: symptom, analysis, handling, verification, leftover items, time to repair.
    Secrets are redacted as in the records. Contacts no host.
    """
    params = ctx.find_root().params
    state_dir = params.get("state_dir")
    ids = [part.strip() for value in run_ids for part in value.split(",") if part.strip()]
    if since and ids:
        raise KubemedicUsageError("--since and --runs exclude each other: give one")
    started = time.monotonic()
    root, data = load(customer, params.get("inventory_dir"))
    chosen = select(customer, state_dir, since, ids)
    target = Path(output).expanduser().resolve() if output else None
    if target is not None:
        try:  # before anything is written: a bad --output leaves no half-written record
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KubemedicUsageError(f"--output {output}: cannot write the report there: "
                                      f"{exc.strerror or exc}") from exc
    cluster = incident_mod.cluster_config(data.hosts, data.groups, data.cluster_vars())
    incident = incident_mod.build(customer, chosen, cluster)
    now = datetime.now(timezone.utc)
    record = records.new_record_dir(customer, VERB, state_dir)
    summary = records.RunSummary(customer=customer, verb=VERB, playbook="",
                                 started=now.isoformat(timespec="seconds"),
                                 user=getpass.getuser(), devbox=socket.gethostname(),
                                 covers=incident.covers)
    files = {"markdown": record / "report.md", "html": record / "report.html"}
    files["markdown"].write_text(render.markdown(incident, lang, now), encoding="utf-8")
    files["html"].write_text(render.page(incident, lang, now), encoding="utf-8")
    if target is not None:
        for path in list(files.values()):
            shutil.copyfile(path, target / path.name)
        files = {key: target / path.name for key, path in files.items()}
    faults = [{"check": f.check, "checks": f.checks, "hosts": f.hosts, "severity": f.severity, "step": f.step,
               "verified": rq.run_id(f.verified) if f.verified else None,
               "repair_seconds": f.repair_seconds,
               "handling": [rq.run_id(r) for r in f.handling]} for f in incident.faults]
    summary.status, summary.rc = "successful", 0
    summary.duration_seconds = round(time.monotonic() - started, 2)
    summary.extra["report"] = {"lang": lang, "inventory": str(root), "faults": faults,
                               **{key: str(path) for key, path in files.items()}}
    records.write_summary(record, summary)
    if json_output:
        emit_json({"record": str(record), "covers": incident.covers, "faults": faults,
                          "leftovers": len(incident.leftovers),
                          **{key: str(path) for key, path in files.items()}})
        return
    open_count = sum(1 for f in incident.faults if f.verified is None)
    click.echo(f"report: {len(incident.faults)} fault(s), {open_count} still open, "
               f"{len(incident.covers)} run(s) covered; record: {record}")
    click.echo(f"markdown: {files['markdown']}")
    click.echo(f"html:     {files['html']}")
