"""`kubemedic lab up|status|down`: the rehearsal lab on podman systemd nodes."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
from rich.console import Console
from rich.table import Table

from kubemedic import output
from kubemedic.lab import lab as lab_mod

NAME_OPTION = click.option("--name", default="lab", show_default=True,
                           help="Lab name: prefixes nodes/networks; inventory inventories/<name>/.")


def _root_params() -> dict:
    return click.get_current_context().find_root().params


@click.group()
def lab() -> None:
    """Rehearsal lab: real systemd + sshd nodes as podman containers on this machine.

    Rehearse a repair on the lab before doing it on a customer's cluster:
    `kubemedic lab up` then `kubemedic bootstrap -c lab`, `kubemedic doctor -c lab`, ...
    """


@lab.command()
@NAME_OPTION
@click.option("--nodes", default=3, show_default=True, help="Cluster nodes (1-16).")
@click.option("--outside", default=1, show_default=True,
              help="Nodes on a second network outside the cluster subnet (for deny tests).")
@click.option("--subnet", default=lab_mod.DEFAULT_SUBNET, show_default=True,
              help="Cluster subnet; the outside network is the next one of the same size.")
@click.option("--bundle", type=click.Path(file_okay=False),
              help="Offline bundle folder on this machine (`kubemedic bundle create`): written "
                   "as cluster_bundle_dir, and bootstrap then runs offline-images.")
@click.option("--kubernetes", is_flag=True,
              help="Air-gapped lab with real Kubernetes 1.20.2: offline bundle from "
                   "scripts/build-kubernetes, nodes without internet, then `bootstrap` (1 master, "
                   "the other nodes workers; docs/lab.md).")
@click.option("--kubernetes-runtime", type=click.Choice(["docker", "containerd"]),
              default="docker", show_default=True,
              help="With --kubernetes: the runtime kubelet drives (docker through dockershim, "
                   "or containerd's CRI).")
@click.option("--no-bootstrap", is_flag=True,
              help="With --kubernetes: prepare bundle, air gap and inventory only.")
@click.option("--json", "json_output", is_flag=True, help="Print the lab description as JSON.")
def up(name: str, nodes: int, outside: int, subnet: str, bundle: str | None, kubernetes: bool,
       kubernetes_runtime: str, no_bootstrap: bool,
       json_output: bool) -> None:
    """Create (or complete) the lab and write inventories/<name>/."""
    params = _root_params()
    info = lab_mod.up(name, nodes=nodes, subnet=subnet, outside=outside, bundle=bundle,
                      inventory_dir=params.get("inventory_dir"),
                      state_dir=params.get("state_dir"), log=lambda msg: click.echo(msg, err=True),
                      kubernetes=kubernetes, kubernetes_runtime=kubernetes_runtime)
    if kubernetes and not no_bootstrap:
        # The same `kubemedic bootstrap` an operator runs (live progress, run record, exit code).
        root = [f"--{key.replace('_', '-')}={params[key]}" for key in ("inventory_dir", "state_dir")
                if params.get(key)]
        command = [sys.executable, "-m", "kubemedic", *root, "bootstrap", "-c", name]
        code = subprocess.run(command, check=False).returncode
        if code != 0:
            raise SystemExit(code)
    if json_output:
        click.echo(json.dumps(info.to_json(), indent=2))
        return
    for node in info.nodes:
        click.echo(f"{node.name:24} {node.ip:16} {node.role}")
    click.echo(f"inventory: {info.inventory}\nssh:       ssh -F {info.ssh_config} "
               f"{info.nodes[0].name}")
    if kubernetes and not no_bootstrap:
        click.echo(f"kubectl:   ssh -F {info.ssh_config} {info.nodes[0].name} kubectl get nodes")
    else:
        click.echo(f"next:      kubemedic bootstrap -c {name}")


@lab.command()
@NAME_OPTION
@click.option("--json", "json_output", is_flag=True)
def status(name: str, json_output: bool) -> None:
    """Show the lab's nodes, their container and systemd state."""
    report = lab_mod.status(name, _root_params().get("state_dir"))
    if json_output:
        click.echo(json.dumps(report, indent=2))
        return
    if not report["exists"]:
        click.echo(f"lab {name!r} does not exist (kubemedic lab up --name {name})")
        return
    table = Table(title=f"lab {name}")
    for column in ("node", "container", "systemd", "networks"):
        table.add_column(column)
    for node in report["nodes"]:
        table.add_row(node["name"], node["state"], node["systemd"], ",".join(node["networks"]))
    Console().print(table)


@lab.command()
@NAME_OPTION
@click.option("--json", "json_output", is_flag=True, help="Print {name, removed} as JSON.")
def down(name: str, json_output: bool) -> None:
    """Remove the lab's containers, networks, generated inventory and keys."""
    params = _root_params()
    removed = lab_mod.down(name, params.get("inventory_dir"), params.get("state_dir"))
    if json_output:
        output.emit_json({"name": name, "removed": removed})
        return
    click.echo(f"removed: {', '.join(removed)}" if removed else f"lab {name!r}: nothing to remove")


# `lab drill`: inject a named fault on a lab node (commands/drill.py).
lab.add_command(importlib.import_module("kubemedic.commands.drill").drill)
