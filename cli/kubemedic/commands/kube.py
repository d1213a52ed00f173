"""`kubemedic reset` and `kubemedic node add|remove`: the kubeadm lifecycle verbs.

reset        -> playbooks/reset.yml (backups first: /etc/kubernetes, kubeconfigs, etcd snapshot;
                kubeadm reset -f and cleanup; --reinit = kubeadm init again from local images)
node add     -> playbooks/node-add.yml (prepare like bootstrap, then join)
node remove  -> playbooks/node-remove.yml (drain, delete the Node, reset the node)
"""

from __future__ import annotations

import click

from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.loader import load_and_validate
from kubemedic.options import RunOptions, confirm_or_abort, execute, exit_with, run_options


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


def _node_host(opts: RunOptions, name: str, *, removing: bool) -> None:
    """NAME must be a master or worker of the customer's inventory (exit 2 otherwise)."""
    root, data = load_and_validate(opts.customer, opts.inventory_dir, opts.vault_password_file)
    members = set(data.groups.get("masters", [])) | set(data.groups.get("workers", []))
    if name not in members:
        raise KubemedicUsageError(
            f"{root / 'hosts.yml'}: host {name!r} is not in the masters or workers group"
            + ("" if removing else "; add it to the inventory first"))
    if removing and data.hosts.get(name, {}).get("first_master"):
        raise KubemedicUsageError(f"{root / 'hosts.yml'}: {name} has first_master: true and "
                                  "cannot be removed (use `kubemedic reset`)")


@click.group()
def node() -> None:
    """Add a node to the cluster or remove one."""


@node.command("add")
@click.argument("name")
@run_options
def node_add(opts: RunOptions, name: str) -> None:
    """Prepare host NAME (already in the inventory) and join it to the cluster."""
    _node_host(opts, name, removing=False)
    exit_with(execute(opts, f"node-add-{name}", "node-add.yml",
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
