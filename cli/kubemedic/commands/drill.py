"""`kubemedic lab drill -c <lab> <fault> --limit <node>`: inject a named fault on a rehearsal-lab
node, to rehearse doctor -> recover before doing it on a customer's cluster.

Thin like every verb: refuse anything but a lab inventory (exit 2, nothing touched), then run
the fault's tag of playbooks/drill.yml (the playbook refuses non-lab nodes again).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import click
import yaml

from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.loader import load_and_validate
from kubemedic.options import RunOptions, execute, exit_with, run_options

LAB_MARKER = "written by `kubemedic lab up`"


def load_faults() -> list[dict[str, Any]]:
    text = resources.files("kubemedic.data").joinpath("drills.yml").read_text()
    return yaml.safe_load(text) or []


def require_lab(opts: RunOptions) -> None:
    """A drill injects real faults: only on a rehearsal lab's inventory."""
    root, data = load_and_validate(opts.customer, opts.inventory_dir, opts.vault_password_file)
    hosts_file = root / "hosts.yml"
    marker = hosts_file.is_file() and LAB_MARKER in hosts_file.read_text(encoding="utf-8")
    shared = bool(data.cluster_vars().get("cluster_shared_kernel"))
    if not (marker and shared):
        raise KubemedicUsageError(
            f"{root}: not a rehearsal lab (needs cluster_shared_kernel: true in "
            f"group_vars/all.yml and a hosts.yml {LAB_MARKER}); drills inject real faults and "
            "are refused on a customer's cluster")
    if not opts.limit:
        raise KubemedicUsageError("name the lab node(s) to break with --limit <node>")


class _ListAwareCommand(click.Command):
    """`lab drill --list` needs neither a fault nor a lab."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--list" in args:
            faults = load_faults()
            if "--json" in args:
                click.echo(json.dumps(faults, indent=2))
            else:
                for fault in faults:
                    click.echo(f"{fault['name']:24} {fault['injects']}")
            ctx.exit(0)
        return super().parse_args(ctx, args)


@click.command(cls=_ListAwareCommand)
@click.option("--list", "list_faults", is_flag=True, help="List the faults a drill can inject.")
@click.argument("faults", nargs=-1, required=True)
@run_options
def drill(opts: RunOptions, faults: tuple[str, ...], list_faults: bool) -> None:
    """Inject FAULTS on the rehearsal-lab node(s) given by --limit (see --list).

    Then rehearse: `kubemedic doctor -c LAB` names the repair, `kubemedic recover <step>` runs it.
    Refused (exit 2) on any inventory not written by `kubemedic lab up`.
    """
    known = {f["name"] for f in load_faults()}
    unknown = [f for f in faults if f not in known]
    if unknown:
        raise KubemedicUsageError(f"unknown fault(s) {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(known))}")
    require_lab(opts)
    exit_with(execute(opts, "lab-drill", "drill.yml", tags=[*faults, *opts.tags]))
