"""`kubemedic inventory check|schema|import|show`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubemedic import output
from kubemedic.inventory import schema
from kubemedic.inventory.importers import kubespray, openpai
from kubemedic.inventory.loader import customer_dir, load_and_validate
from kubemedic.inventory.writer import write_inventory

IMPORTERS = {"openpai": openpai.parse, "kubespray": kubespray.parse}


@click.group()
def inventory() -> None:
    """Validate, document and import customer inventories."""


def _inventory_dir() -> str | None:
    return click.get_current_context().find_root().params.get("inventory_dir")


@inventory.command()
@click.argument("customer")
@click.option("--vault-password-file", type=click.Path(exists=True, dir_okay=False),
              envvar="KUBEMEDIC_VAULT_PASSWORD_FILE", help="Decrypt vaulted values.")
@click.option("--strict", is_flag=True, help="Warnings (host in no group, unknown group, orphan "
              "host_vars, duplicate keys) are errors too.")
@click.option("--json", "json_output", is_flag=True, help="Print the verdict as JSON.")
def check(customer: str, vault_password_file: str | None, strict: bool, json_output: bool) -> None:
    """Validate inventories/CUSTOMER against the schema; contacts no host. Exit 2 if invalid."""
    root, data = load_and_validate(customer, _inventory_dir(), vault_password_file, strict)
    cluster = data.cluster_hosts()
    if json_output:
        output.emit_json({"customer": customer, "inventory": str(root), "valid": True,
                          "hosts": len(cluster),
                          "groups": {g: len(data.groups.get(g, [])) for g in schema.GROUPS}})
        return
    click.echo(f"{root}: valid ({len(cluster)} hosts: "
               + ", ".join(f"{g}={len(data.groups.get(g, []))}" for g in schema.GROUPS) + ")")


@inventory.command("schema")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown")
@click.option("--json", "json_output", is_flag=True, help="The same as --format json.")
def show_schema(fmt: str, json_output: bool) -> None:
    """Print every inventory field, its type, default and the cross-host rules."""
    if fmt == "markdown" and not json_output:
        click.echo(schema.as_markdown(), nl=False)
        return
    fields = {title: [{"name": f.name, "type": f.kind, "required": f.required,
                       "default": f.default, "choices": list(f.choices),
                       "description": f.description} for f in group]
              for title, group in (("cluster", schema.CLUSTER_FIELDS), ("host", schema.HOST_FIELDS))}
    click.echo(json.dumps({"groups": schema.GROUPS, **fields}, indent=2))


@inventory.command("import")
@click.option("--from", "source", type=click.Choice(sorted(IMPORTERS)), required=True,
              help="Format of the file to import.")
@click.option("-c", "--customer", required=True, help="Name of the inventory to create.")
@click.option("--force", is_flag=True, help="Replace an existing inventory of that name.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "json_output", is_flag=True, help="Print what was written as JSON.")
def import_(source: str, customer: str, force: bool, path: Path, json_output: bool) -> None:
    """Create inventories/CUSTOMER from an OpenPAI layout.yaml or a kubespray inventory."""
    hosts, cluster_vars = IMPORTERS[source](path)
    cluster_vars["cluster_name"] = customer.replace("_", "-")
    target = write_inventory(customer_dir(customer, _inventory_dir()), hosts, cluster_vars,
                             source=f"{source} {path}", force=force)
    if json_output:
        output.emit_json({"customer": customer, "inventory": str(target), "source": source,
                          "hosts": len(hosts)})
        return
    click.echo(f"wrote {target} ({len(hosts)} hosts); review group_vars/all.yml "
               "(cluster_devbox_cidr, registry, bundle dir) before the first run")
