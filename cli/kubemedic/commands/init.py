"""`kubemedic init <customer>`: scaffold a documented inventory from inventories/example/."""

from __future__ import annotations

import re
import shutil

import click

from kubemedic import output, paths
from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.loader import customer_dir


@click.command()
@click.argument("customer")
@click.option("--json", "json_output", is_flag=True, help="Print {customer, inventory} as JSON.")
@click.pass_context
def init(ctx: click.Context, customer: str, json_output: bool) -> None:
    """Create inventories/CUSTOMER/ from the documented example inventory."""
    target = customer_dir(customer, ctx.find_root().params.get("inventory_dir"))
    if target.exists():
        raise KubemedicUsageError(f"{target} already exists; nothing changed")
    example = paths.project_root() / "inventories" / "example"
    shutil.copytree(example, target)
    all_yml = target / "group_vars" / "all.yml"
    cluster_name = customer.replace("_", "-")
    all_yml.write_text(re.sub(r"(?m)^cluster_name: .*$", f"cluster_name: {cluster_name}",
                              all_yml.read_text()))
    if json_output:
        output.emit_json({"customer": customer, "inventory": str(target)})
        return
    click.echo(f"created {target}\n"
               f"next: edit hosts.yml and group_vars/all.yml, then "
               f"`kubemedic inventory check {customer}`")
