"""Load `inventories/<customer>/` exactly as Ansible will see it, without contacting any host."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from kubemedic import paths
from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory.validate import InventoryData, Problem, validate

_CUSTOMER = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_YAML_SUFFIXES = {".yml", ".yaml", ".json"}


def customer_dir(customer: str, inventory_dir: str | None = None) -> Path:
    if not _CUSTOMER.match(customer or ""):
        raise KubemedicUsageError(
            f"customer name {customer!r} is invalid: use lower-case letters, digits, '-' and '_'")
    return paths.inventory_dir(inventory_dir) / customer


def _var_files(root: Path) -> list[Path]:
    files = []
    for sub in ("group_vars", "host_vars"):
        base = root / sub
        if base.is_dir():
            files += sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in _YAML_SUFFIXES)
    return files


def _parse_all(root: Path) -> dict[Path, Any]:
    """Parse every YAML file first so a syntax error names its file and line."""
    parsed: dict[Path, Any] = {}
    problems = []
    for path in [root / "hosts.yml", *_var_files(root)]:
        try:
            text = path.read_text(encoding="utf-8")
            if "$ANSIBLE_VAULT" in text:
                parsed[path] = {}
                continue
            parsed[path] = yaml.load(text, Loader=_VaultTolerantLoader) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not valid YAML: {exc}")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror}")
    if problems:
        raise KubemedicUsageError(f"inventory {root} cannot be parsed", problems)
    return parsed


class _VaultTolerantLoader(yaml.SafeLoader):
    """SafeLoader that accepts `!vault` and `!unsafe` values without decrypting them."""


_VaultTolerantLoader.add_constructor("!vault", lambda loader, node: "<vault>")
_VaultTolerantLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


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
        if name in ("groups", "first_master"):
            return str(hosts_file)
        default = root / "group_vars" / "all.yml"
        return str(default)

    return locate


def load(customer: str, inventory_dir: str | None = None,
         vault_password_file: str | None = None) -> tuple[Path, InventoryData]:
    """Load a customer inventory; raises KubemedicUsageError if it is missing or unparsable."""
    root = customer_dir(customer, inventory_dir)
    if not (root / "hosts.yml").is_file():
        hint = f"run `kubemedic init {customer}`" if not root.exists() else "add hosts.yml"
        raise KubemedicUsageError(f"no inventory for customer {customer!r}: "
                                  f"{root / 'hosts.yml'} does not exist ({hint})")
    parsed = _parse_all(root)
    return root, load_path(root, parsed, vault_password_file)


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
        inventory = InventoryManager(loader=loader, sources=[str(root / "hosts.yml")])
        variables = VariableManager(loader=loader, inventory=inventory)
        for host in inventory.get_hosts():
            hosts[str(host.name)] = dict(variables.get_vars(host=host, include_hostvars=False))
            host_groups[str(host.name)] = [g.name for g in host.get_groups() if g.name != "all"]
    except AnsibleError as exc:
        hint = "" if vault_password_file else " (vaulted data? pass --vault-password-file)"
        raise KubemedicUsageError(f"inventory {root} cannot be loaded{hint}: {exc.message}") from exc
    groups = {name: [h.name for h in group.get_hosts()]
              for name, group in inventory.groups.items()}
    return InventoryData(hosts=hosts, groups=groups,
                         locate=_make_locator(root, parsed, host_groups))


def load_and_validate(customer: str, inventory_dir: str | None = None,
                      vault_password_file: str | None = None) -> tuple[Path, InventoryData]:
    """What every verb does first: load, validate, and stop with exit 2 on any problem."""
    root, data = load(customer, inventory_dir, vault_password_file)
    problems: list[Problem] = validate(data)
    if problems:
        raise KubemedicUsageError(f"inventory {root} is invalid ({len(problems)} problems); "
                                  "nothing was run", [str(p) for p in problems])
    return root, data
