"""The repository root is the collection kubemedic.cluster (galaxy.yml): its roles must work from
an installed copy, where only FQCN filters resolve (ansible-core looks up a short Jinja plugin
name in ansible.builtin and the legacy filter_plugins paths only, never in the role's own
collection). tests/integration/test_packaging_lab.py runs them from the installed tarball."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from tests.conftest import REPO

NAMESPACE = "kubemedic.cluster"


def _filter_names() -> set[str]:
    names: set[str] = set()
    for path in sorted((REPO / "plugins" / "filter").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_kubemedic_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        names |= set(module.FilterModule().filters())
    return names


def test_roles_and_playbooks_call_our_filters_by_fqcn() -> None:
    names = _filter_names()
    assert names
    # `| name(` / `| name }}` / map('name') / select('name') without the collection prefix
    short = re.compile(r"(?:\|\s*|(?:map|select|reject)\(\s*['\"])(" + "|".join(sorted(names))
                       + r")\b")
    offenders = []
    for folder in ("roles", "playbooks", "molecule"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in (".yml", ".yaml", ".j2") or ".cache" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if short.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, f"use {NAMESPACE}.<filter>:\n" + "\n".join(offenders)


def test_checkout_resolves_the_collection_to_itself() -> None:
    link = REPO / ".collection" / "ansible_collections" / "kubemedic" / "cluster"
    assert link.is_symlink() and link.resolve() == REPO.resolve()
    config = (REPO / "ansible.cfg").read_text()
    assert re.search(r"^collections_path = \.collection:", config, re.M)


def test_the_wheel_lays_its_content_out_as_the_collection() -> None:
    from kubemedic import paths

    assert paths.PACKAGED_CONTENT.parts[-4:] == ("_content", "ansible_collections", "kubemedic",
                                                 "cluster")
    pyproject = (REPO / "pyproject.toml").read_text()
    for folder in ("playbooks", "roles", "plugins", "meta", "galaxy.yml", "ansible.cfg"):
        assert (f'"{folder}" = "kubemedic/_content/ansible_collections/kubemedic/cluster/'
                f'{folder}"') in pyproject, folder
    assert Path(REPO / "meta" / "runtime.yml").is_file()
