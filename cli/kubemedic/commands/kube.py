"""`kubemedic reset` and `kubemedic node add|remove`: the kubeadm lifecycle verbs.

reset        -> playbooks/reset.yml (backups first: /etc/kubernetes, kubeconfigs, etcd snapshot;
                kubeadm reset -f and cleanup; --reinit = kubeadm init again from local images)
node add     -> playbooks/node-add.yml (prepare like bootstrap, then join)
node remove  -> playbooks/node-remove.yml (drain, delete the Node, reset the node)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.loader import load_and_validate
from kubemedic.inventory.validate import InventoryData
from kubemedic.options import RunOptions, confirm_or_abort, execute, exit_with, run_options
from kubemedic.playbook_tags import playbook_tags


@click.command()
@click.option("--reinit", is_flag=True,
              help="After the reset, kubeadm init again (only from images on the node or in the "
                   "private registry) and let the other nodes join.")
@run_options
def reset(opts: RunOptions, reinit: bool) -> None:
    """kubeadm reset on the cluster (or --limit), backups first; asks unless --yes."""
    where = f"--limit {opts.limit}" if opts.limit else "every master and worker"
    confirmed = confirm_or_abort(
        opts, f"kubeadm reset on {opts.customer} ({where})"
        + ("; then kubeadm init again from local images" if reinit else ""))
    extravars = {"kubernetes_reset_reinit": True} if reinit else {}
    exit_with(execute(opts, "reset", "reset.yml", extravars=extravars, confirmed=confirmed))


def _node_host(opts: RunOptions, name: str, *, removing: bool) -> tuple[Path, InventoryData]:
    """NAME must be a master or worker of the customer's inventory (exit 2 otherwise); the
    validated inventory's root and data."""
    root, data = load_and_validate(opts.customer, opts.inventory_dir, opts.vault_password_file)
    members = set(data.groups.get("masters", [])) | set(data.groups.get("workers", []))
    if name not in members:
        raise KubemedicUsageError(
            f"{root / 'hosts.yml'}: host {name!r} is not in the masters or workers group"
            + ("" if removing else "; add it to the inventory first"))
    if removing and data.hosts.get(name, {}).get("first_master"):
        raise KubemedicUsageError(f"{root / 'hosts.yml'}: {name} has first_master: true and "
                                  "cannot be removed (use `kubemedic reset`)")
    return root, data


@click.group()
def node() -> None:
    """Add a node to the cluster or remove one."""


@node.command("add")
@click.argument("name")
@run_options
def node_add(opts: RunOptions, name: str) -> None:
    """Prepare host NAME (already in the inventory) and join it to the cluster."""
    root, data = _node_host(opts, name, removing=False)
    # The roles the inventory keeps out of bootstrap stay out of the node's preparation too
    # (e.g. an air-gapped site without the packages of `common`): those node-add.yml runs.
    wanted = data.cluster_vars().get("cluster_bootstrap_skip_tags") or []
    skip = [tag for tag in wanted if tag in playbook_tags("node-add.yml")]
    if skip and not opts.tags and not opts.skip_tags:
        click.echo(f"kubemedic: skipping {', '.join(skip)} (cluster_bootstrap_skip_tags of "
                   f"{opts.customer}); --tags or --skip-tags overrides it", err=True)
        opts = dataclasses.replace(opts, skip_tags=skip)
    exit_with(execute(opts, f"node-add-{name}", "node-add.yml", inventory=root,
                      extravars={"kubemedic_node": name}))


@node.command("remove")
@click.argument("name")
@run_options
def node_remove(opts: RunOptions, name: str) -> None:
    """Drain NAME, delete it from Kubernetes and reset it (backups first); asks unless --yes."""
    _node_host(opts, name, removing=True)
    confirmed = confirm_or_abort(opts, f"drain, delete and kubeadm reset {name} "
                                       f"({opts.customer})")
    exit_with(execute(opts, f"node-remove-{name}", "node-remove.yml",
                      extravars={"kubemedic_node": name}, confirmed=confirmed))
