"""Every role follows the house rules the README promises: variables prefixed with the role name,
each documented in defaults/main.yml and declared in meta/argument_specs.yml (generated from
defaults/main.yml by scripts/gen-argspecs: tests/unit/test_argspecs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {} if path.is_file() else {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_defaults_and_argument_specs(role: Path) -> None:
    assert (role / "defaults" / "main.yml").is_file(), f"{role.name}: no defaults/main.yml"
    assert (role / "meta" / "argument_specs.yml").is_file(), f"{role.name}: no argument_specs"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_are_prefixed_and_declared(role: Path) -> None:
    defaults = _load(role / "defaults" / "main.yml")
    specs = _load(role / "meta" / "argument_specs.yml").get("argument_specs", {})
    declared = set()
    for entry in specs.values():
        declared |= set((entry or {}).get("options", {}) or {})
    unprefixed = [name for name in defaults if not name.startswith(f"{role.name}_")]
    undeclared = sorted(set(defaults) - declared)
    assert not unprefixed, f"{role.name}: defaults without the role prefix: {unprefixed}"
    assert not undeclared, f"{role.name}: defaults missing from meta/argument_specs.yml: {undeclared}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_declared_options_are_documented_defaults(role: Path) -> None:
    defaults = _load(role / "defaults" / "main.yml")
    specs = _load(role / "meta" / "argument_specs.yml").get("argument_specs", {})
    options = {name: spec for entry in specs.values()
               for name, spec in ((entry or {}).get("options") or {}).items()}
    missing = sorted(name for name, spec in options.items()
                     if name not in defaults and not (spec or {}).get("required"))
    assert not missing, f"{role.name}: declared but neither in defaults/main.yml nor required: {missing}"
