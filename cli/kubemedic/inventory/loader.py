"""Load `inventories/<customer>/` exactly as Ansible will see it, without contacting any host."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from kubemedic import inputs, paths
from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory import schema
from kubemedic.inventory.validate import InventoryData, validate

_YAML_SUFFIXES = {".yml", ".yaml", ".json"}
# Groups an inventory may hold besides schema.GROUPS: Ansible's own and the lab's.
_KNOWN_GROUPS = {"all", "ungrouped", schema.CLUSTER_GROUP, schema.LAB_OUTSIDE_GROUP}
STRICT_ENV = "KUBEMEDIC_STRICT"


def customer_dir(customer: str, inventory_dir: str | None = None) -> Path:
    try:
        inputs.check_name("customer name", customer)
    except inputs.InputError as exc:
        raise KubemedicUsageError(str(exc)) from None
    return paths.inventory_dir(inventory_dir) / customer


def _var_files(root: Path) -> list[Path]:
    files = []
    for sub in ("group_vars", "host_vars"):
        base = root / sub
        if base.is_dir():
            files += sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in _YAML_SUFFIXES)
    return files


def _parse_all(root: Path, warnings: list[str] | None = None) -> dict[Path, Any]:
    """Parse every YAML file first (bounded: kubemedic.inputs) so a bad file names its line."""
    parsed: dict[Path, Any] = {}
    problems = []
    for path in [root / "hosts.yml", *_var_files(root)]:
        try:
            text = inputs.read_text(path)
            if text.lstrip().startswith("$ANSIBLE_VAULT"):
                parsed[path] = {}  # a whole vaulted file: Ansible decrypts it with the password
                continue
            parsed[path] = inputs.load_yaml(text, str(path), warnings) or {}
        except inputs.InputError as exc:
            problems.append(str(exc))
    if problems:
        raise KubemedicUsageError(f"inventory {root} cannot be parsed; nothing was run", problems)
    return parsed


def _inline_defines(data: Any, name: str) -> bool:
    """Whether hosts.yml sets `name` in some `vars:` of a group (`all: vars:` included)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("vars"), dict) and name in item["vars"]:
            return True
        stack.extend(v for k, v in item.items() if k != "hosts")
    return False


def _make_locator(root: Path, parsed: dict[Path, Any], host_groups: dict[str, list[str]]):
    hosts_file = root / "hosts.yml"

    def defines(path: Path, name: str) -> bool:
        data = parsed.get(path)
        return isinstance(data, dict) and name in data

    def group_files(group: str) -> list[Path]:
        return [p for p in parsed if (p.parent.name == "group_vars" and p.stem == group)
                or (p.parent.parent.name == "group_vars" and p.parent.name == group)]

    def locate(host: str | None, name: str) -> str:
        if host is not None:
            for path in parsed:
                in_host_vars = "host_vars" in path.parts and (path.stem == host or path.parent.name == host)
                if in_host_vars and defines(path, name):
                    return str(path)
            for group in [*reversed(host_groups.get(host, [])), "all"]:
                for path in group_files(group):
                    if defines(path, name):
                        return str(path)
            return str(hosts_file)
        for path in group_files("all"):
            if defines(path, name):
                return str(path)
        if name in ("groups", "first_master") or _inline_defines(parsed.get(hosts_file), name):
            return str(hosts_file)
        default = root / "group_vars" / "all.yml"
        return str(default)

    return locate


def load(customer: str, inventory_dir: str | None = None,
         vault_password_file: str | None = None) -> tuple[Path, InventoryData]:
    """Load a customer inventory; raises KubemedicUsageError if it is missing or unparsable."""
    root, _parsed, data = _load(customer, inventory_dir, vault_password_file)
    return root, data


def _load(customer: str, inventory_dir: str | None,
          vault_password_file: str | None) -> tuple[Path, dict[Path, Any], InventoryData]:
    root = customer_dir(customer, inventory_dir)
    if not (root / "hosts.yml").is_file():
        hint = f"run `kubemedic init {customer}`" if not root.exists() else "add hosts.yml"
        raise KubemedicUsageError(f"no inventory for customer {customer!r}: "
                                  f"{root / 'hosts.yml'} does not exist ({hint})")
    warnings: list[str] = []
    parsed = _parse_all(root, warnings)
    data = load_path(root, parsed, vault_password_file)
    data.warnings = warnings + data.warnings + structure_warnings(root, parsed, data)
    return root, parsed, data


def structure_warnings(root: Path, parsed: dict[Path, Any], data: InventoryData) -> list[str]:
    """What Ansible accepts silently but an operator rarely means."""
    hosts_file = root / "hosts.yml"
    found = [f"{hosts_file}: host {inputs.shown(h)} is in no group: kubemedic runs nothing on it"
             for h in data.groups.get("ungrouped", [])]
    known = set(schema.GROUPS) | _KNOWN_GROUPS
    found += [f"{hosts_file}: group {inputs.shown(g)} is not a kubemedic group (known: "
              f"{', '.join(schema.GROUPS)}, {schema.CLUSTER_GROUP}, {schema.LAB_OUTSIDE_GROUP})"
              for g in sorted(set(data.groups) - known)]
    for path in parsed:
        rel = path.relative_to(root)
        kind = rel.parts[0]
        name = rel.parts[1] if len(rel.parts) > 2 else path.stem
        if kind == "host_vars" and name not in data.hosts:
            found.append(f"{path}: host_vars for {inputs.shown(name)}, which is not a host of "
                         "hosts.yml (ignored by Ansible)")
        elif kind == "group_vars" and name not in data.groups:
            found.append(f"{path}: group_vars for {inputs.shown(name)}, which is not a group of "
                         "hosts.yml (ignored by Ansible)")
    return found


def command_lookup_problems(parsed: dict[Path, Any], data: InventoryData) -> list[str]:
    """Inventory values that would run a command on the dev-box when a playbook templates them
    (inventories arrive from customers and importers); refused unless the inventory opts in."""
    if data.cluster_vars().get("cluster_allow_command_lookups") is True:
        return []
    return [f"{path}: {field}: templates the lookup {inputs.shown(plugin)}, which can run a "
            "command on the dev-box: refused (set cluster_allow_command_lookups: true in "
            "group_vars/all.yml if this inventory really needs it)"
            for path, content in parsed.items()
            for field, value in inputs.strings(content)
            for plugin in [inputs.command_lookup(value)] if plugin]


def strict_mode(strict: bool | None = None) -> bool:
    """--strict (per verb or `kubemedic --strict`) or KUBEMEDIC_STRICT=1: warnings are errors."""
    if strict:
        return True
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("strict"):
        return True
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _vault_secrets(loader: Any, password_file: str) -> None:
    from ansible.cli import CLI

    loader.set_vault_secrets(CLI.setup_vault_secrets(
        loader, vault_ids=[], vault_password_files=[password_file], ask_vault_pass=False))


def load_path(root: Path, parsed: dict[Path, Any] | None = None,
              vault_password_file: str | None = None) -> InventoryData:
    # Imported late: Ansible's import costs ~0.5 s and most unit tests do not need it.
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    parsed = parsed if parsed is not None else _parse_all(root)
    loader = DataLoader()
    hosts: dict[str, dict[str, Any]] = {}
    host_groups: dict[str, list[str]] = {}
    try:
        if vault_password_file:
            _vault_secrets(loader, vault_password_file)
        source = str(root / "hosts.yml")
        inventory = InventoryManager(loader=loader, sources=[source])
        if source not in inventory._inventory.processed_sources:
            # Ansible only warns when no plugin parses a source, and keeps the groups it filled
            # before giving up (their hosts then have no variables at all).
            raise KubemedicUsageError(f"inventory {source} is not a valid Ansible YAML "
                                      f"inventory: {_yaml_inventory_error(loader, source)}")
        variables = VariableManager(loader=loader, inventory=inventory)
        for host in inventory.get_hosts():
            hosts[str(host.name)] = dict(variables.get_vars(host=host, include_hostvars=False))
            host_groups[str(host.name)] = [g.name for g in host.get_groups() if g.name != "all"]
    except AnsibleError as exc:
        hint = "" if vault_password_file else " (vaulted data? pass --vault-password-file)"
        raise KubemedicUsageError(f"inventory {root} cannot be loaded{hint}: {exc.message}") from exc
    groups = {name: [h.name for h in group.get_hosts()]
              for name, group in inventory.groups.items()}
    data = InventoryData(hosts=hosts, groups=groups,
                         locate=_make_locator(root, parsed, host_groups))
    problems = _open_vaulted(data, vault_password_file)
    if problems:
        raise KubemedicUsageError(f"inventory {root} has vaulted values that cannot be "
                                  "decrypted; nothing was run", problems)
    return data


def _yaml_inventory_error(loader: Any, source: str) -> str:
    """Why Ansible's yaml inventory plugin refuses SOURCE (Ansible itself only warns)."""
    from ansible.inventory.data import InventoryData as AnsibleInventoryData
    from ansible.plugins.loader import inventory_loader

    plugin = inventory_loader.get("yaml")
    try:
        plugin.parse(AnsibleInventoryData(), loader, source, cache=False)
    except Exception as exc:  # any refusal is the answer asked for
        return getattr(exc, "message", None) or str(exc)
    return "no inventory plugin could parse it"


def _open_vaulted(data: InventoryData, vault_password_file: str | None) -> list[str]:
    """Decrypt `!vault` values now, so a corrupt one is an error naming its file and field
    (Ansible decrypts lazily: the first str() would raise deep inside validation). Without a
    password they become a placeholder that validation skips, like a template."""
    from ansible.parsing.vault import EncryptedString

    problems: list[str] = []
    for host, variables in data.hosts.items():
        for name, value in list(variables.items()):
            if not isinstance(value, EncryptedString):
                continue
            if not vault_password_file:
                variables[name] = inputs.VAULT_PLACEHOLDER
                note = (f"{data.locate(host, name)}: {name}: vaulted, not checked without "
                        "--vault-password-file (a run needs it)")
                if note not in data.warnings:
                    data.warnings.append(note)
                continue
            try:
                variables[name] = str(value)
            except Exception as exc:  # Ansible raises several unrelated types for a bad vault
                problem = (f"{data.locate(host, name)}: {name}: vaulted value cannot be "
                           f"decrypted: {inputs.clip(str(exc), 120)}")
                if problem not in problems:
                    problems.append(problem)
    return problems


def load_and_validate(customer: str, inventory_dir: str | None = None,
                      vault_password_file: str | None = None,
                      strict: bool | None = None) -> tuple[Path, InventoryData]:
    """What every verb does first: load, validate, and stop with exit 2 on any problem.
    Warnings go to stderr; with --strict they are problems too."""
    root, parsed, data = _load(customer, inventory_dir, vault_password_file)
    problems: list[str] = [str(p) for p in validate(data)]
    problems += command_lookup_problems(parsed, data)
    if strict_mode(strict):
        problems += [f"{w} (--strict)" for w in data.warnings]
    else:
        for warning in data.warnings:
            click.echo(f"warning: {warning}", err=True)
    if problems:
        raise KubemedicUsageError(f"inventory {root} is invalid ({len(problems)} problems); "
                                  "nothing was run", problems)
    return root, data
