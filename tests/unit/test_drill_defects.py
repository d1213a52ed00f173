"""Defects the fault drills (tests/integration/test_drills.py) found, each pinned by a test that
failed before its fix:

- recover containerd-upgrade upgraded containerd, then failed its own final check (exit 3): the
  assert's `regex_search(..., '\\1')` in a folded YAML conditional reaches Jinja as the string
  '\\x01' ("Unknown argument"). Both version reads now use one filter, kubemedic_binary_version.
- doctor had no check that names registry-gc: a registry whose storage filled up after images
  were deleted was only a disk-cleanup (or nothing, on its own disk). Registry nodes now have
  their storage (the registry role's folder) checked, naming registry-gc.
- doctor missed a broken docker image store on any graph driver but overlay2: the lab's (and
  many customers') vfs driver says `stat /var/lib/docker/vfs/dir/<id>: no such file or
  directory`, the drill's real fault for docker-prune-restart.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import filter_loader
from ansible.template import Templar, trust_as_template

from kubemedic.doctor import checks, kb
from tests.unit.doctor_settings import role_settings

REPO = Path(__file__).resolve().parents[2]
UPGRADE = REPO / "roles" / "container_runtime" / "tasks" / "recover_containerd_upgrade.yml"
filter_loader.add_directory(str(REPO / "plugins" / "filter"))
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_packages", REPO / "plugins" / "filter" / "kubemedic_packages.py")
packages = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(packages)
CONDITIONAL_KEYS = {"that", "when", "failed_when", "changed_when", "until"}


@pytest.mark.parametrize(("text", "expected"), [
    ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", "1.6.20"),
    ("containerd containerd.io 1.2.2 9754871865f7fe2f4e74d43e2fc7ccd237edcbce", "1.2.2"),
    ("containerd github.com/containerd/containerd v1.7.13 7c3aca7", "1.7.13"),
    ("containerd: command not found", ""),
    (None, ""),
])
def test_binary_version(text, expected) -> None:
    assert packages.binary_version(text) == expected


def _task(name_part: str) -> dict:
    def walk(tasks):
        for task in tasks:
            yield task
            yield from walk(task.get("block") or [])
    return next(t for t in walk(yaml.safe_load(UPGRADE.read_text())) if name_part in t["name"])


@pytest.mark.parametrize(("stdout", "passes"), [
    ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", True),
    ("containerd github.com/containerd/containerd 1.2.2~drl0 1.2.2~drl0-1+deb12u3", False),
])
def test_containerd_upgrade_final_check_evaluates(stdout, passes) -> None:
    """The assert after the upgrade is evaluated by Ansible's templar as the role runs it."""
    loader = DataLoader()
    templar = Templar(loader=loader, variables={
        "_container_runtime_containerd_new": {"stdout": stdout},
        "container_runtime_containerd_min_version": "1.2.4"})
    that = _task("now >=")["ansible.builtin.assert"]["that"]
    assert templar.evaluate_conditional(trust_as_template(that)) is passes
    current = _task("| version")["ansible.builtin.set_fact"]["_container_runtime_containerd_current"]
    templar = Templar(loader=loader, variables={"_container_runtime_containerd_v": {"stdout": stdout}})
    assert templar.template(trust_as_template(current)) == packages.binary_version(stdout)


def _conditionals(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _conditionals(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _conditionals(v, key)
    elif isinstance(node, str) and key in CONDITIONAL_KEYS:
        yield node


def test_no_regex_backreference_argument_in_conditionals() -> None:
    """A `'\\1'` argument inside a conditional is the string '\\x01' for Jinja: the filter fails."""
    bad = []
    for path in [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("playbooks/*.yml")]:
        for text in _conditionals(yaml.safe_load(path.read_text())):
            if re.search(r"""regex_(search|replace|findall)\(.*?['"]\\[0-9g]""", text, re.S):
                bad.append(f"{path.relative_to(REPO)}: {text.strip()[:100]}")
    assert not bad, bad


@pytest.mark.parametrize("line", [
    'dockerd[1518]: time="2026-12-02T01:12:52.59Z" level=error msg="Handler for POST '
    '/v1.41/containers/create returned error: 6f81109169: stat /var/lib/docker/vfs/dir/'
    '6f8110916930f623af82f2654b2e778a522ef59aa219fb8563ab5405fca36dc6: no such file or directory"',
    "Error response from daemon: stat /var/lib/docker/overlay2/17ba0ec02fde764d76435757c8d2b2551"
    "50d98160b305600a603ce40f53cdca8: no such file or directory",
])
def test_missing_layer_dir_names_docker_prune_restart(line) -> None:
    steps = {m.signature.step for m in kb.match_text(line, source="journal")}
    assert "docker-prune-restart" in steps, steps


def _registry_probe(used: float, same_device: bool) -> dict:
    disk = {"exists": True, "inode_used_pct": 1.0, "device": 1}
    return {"disks": {"/": {**disk, "used_pct": 40.0},
                      "/var/lib/registry": {**disk, "used_pct": used,
                                            "device": 1 if same_device else 2}}}


def _disk_findings(probe: dict, settings: dict) -> list[tuple]:
    return [(f["check"], f["severity"], f["step"]) for f in checks.evaluate("node1", probe, settings)
            if f["check"] in ("registry-storage", "disk-usage")]


@pytest.mark.parametrize("same_device", [True, False], ids=["root-disk", "own-disk"])
def test_full_registry_storage_names_registry_gc(same_device) -> None:
    settings = role_settings(groups=["registry"], customer="acme")
    assert settings["registry_storage_dir"] == "/var/lib/registry"  # the registry role's folder
    assert _disk_findings(_registry_probe(97.0, same_device), settings) == [
        ("registry-storage", "critical", "registry-gc")]
    assert _disk_findings(_registry_probe(50.0, same_device), settings) == []
    # Not a registry node: the folder is not its concern (and is not probed by the role).
    assert role_settings(groups=["workers"])["registry_storage_dir"] == ""
