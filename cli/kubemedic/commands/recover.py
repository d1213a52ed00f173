"""`kubemedic recover <step>`: run one repair (a tag of playbooks/recover.yml)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from kubemedic.commands.recover_index import step_locations
from kubemedic.errors import KubemedicUsageError
from kubemedic.options import RunOptions, confirm_or_abort, execute, exit_with, run_options


def load_steps() -> list[dict[str, Any]]:
    text = resources.files("kubemedic.data").joinpath("recover_steps.yml").read_text()
    return yaml.safe_load(text) or []


def _with_locations(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each step with `role` and `file` (lists when the step spans several roles) and
    `drilled_by` (the lab test drilling it, None when no test does yet)."""
    located = step_locations()
    out = []
    for step in steps:
        where = located.get(step["name"], [])
        roles = [w["role"] for w in where]
        files = [w["file"] for w in where]
        out.append({**step, "role": roles[0] if len(roles) == 1 else roles,
                    "file": files[0] if len(files) == 1 else files,
                    "drilled_by": step.get("drilled_by")})
    return out


def _print_steps(json_output: bool) -> None:
    steps = _with_locations(load_steps())
    if json_output:
        click.echo(json.dumps(steps, indent=2))
        return
    table = Table(title="Recovery steps (kubemedic recover <step> -c CUSTOMER)")
    for column in ("step", "destructive", "role", "file", "drilled by", "repairs"):
        table.add_column(column, overflow="fold", no_wrap=column == "file")
    for step in steps:
        def joined(value: str | list[str]) -> str:
            return value if isinstance(value, str) else "\n".join(value)
        table.add_row(step["name"], "yes (asks)" if step.get("destructive") else "no",
                      joined(step["role"]), joined(step["file"]),
                      (step["drilled_by"] or "no drill yet").removeprefix("tests/integration/"),
                      step["symptom"])
    Console(width=180).print(table)


class _ListAwareCommand(click.Command):
    """`recover --list` needs neither a step nor a customer."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--list" in args:
            _print_steps("--json" in args)
            ctx.exit(0)
        return super().parse_args(ctx, args)


@click.command(cls=_ListAwareCommand)
@click.option("--list", "list_steps", is_flag=True, help="List every step and what it repairs.")
@click.argument("step", shell_complete=lambda _c, _p, incomplete: [
    s["name"] for s in load_steps() if s["name"].startswith(incomplete)])
@run_options
def recover(opts: RunOptions, step: str, list_steps: bool) -> None:
    """Run one recovery STEP on the cluster (see --list). Destructive steps ask unless --yes."""
    steps = {s["name"]: s for s in load_steps()}
    if step not in steps:
        raise KubemedicUsageError(f"unknown recovery step {step!r}; "
                                  f"known: {', '.join(sorted(steps))}")
    # The step is the tag: more tags would run more plays of recover.yml (wider, not narrower),
    # fewer would run part of a repair (or skip the inventory validation tagged always).
    for flag, given in (("--tags", opts.tags), ("--skip-tags", opts.skip_tags)):
        if given:
            raise KubemedicUsageError(
                f"recover {step}: {flag} {','.join(given)} is not accepted: recover runs exactly "
                "one whole step (its tag); narrow the hosts with --limit, or run another step "
                "with `kubemedic recover <step>`")
    confirmed = False
    if steps[step].get("destructive"):
        confirmed = confirm_or_abort(opts, f"recover {step} on {opts.customer}"
                                     + (f" (limit {opts.limit})" if opts.limit else ""))
    exit_with(execute(opts, f"recover-{step}", "recover.yml", tags=[step],
                      confirmed=confirmed))
