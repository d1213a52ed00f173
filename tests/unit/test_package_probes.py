"""The dpkg-query probes that let a rerun skip the apt module decide like apt would.

A wrong "nothing to do" would leave a node without a package or at the wrong version, silently;
so every doubtful answer must send the run to apt. The decisions are the filters in
plugins/filter/kubemedic_packages.py: each case runs against the plain functions and, through
ansible-core's own templar, against the role files that call them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
RUNTIME_VARS = REPO / "roles" / "container_runtime" / "vars" / "main.yml"
init_plugin_loader()  # ansible.cfg's collections_path: the roles call kubemedic.cluster.* filters
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_packages", REPO / "plugins" / "filter" / "kubemedic_packages.py")
packages = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(packages)
PACKAGES = ["docker.io", "containerd", "runc"]
INSTALLED = ["hi |docker.io|20.10.24+dfsg1-1+deb12u1+b6", "hi |containerd|1.6.20~ds1-1+deb12u3",
             "ii |runc|1.1.5+ds1-1+deb12u1"]


def render(expression: str, **variables) -> object:
    loader = DataLoader()
    role_vars = dict(loader.load_from_file(str(RUNTIME_VARS), trusted_as_template=True))
    templar = Templar(loader=loader, variables={**role_vars, **variables})
    return templar.template(trust_as_template(expression))


def unmet_in_role(lines: list[str], docker: str = "", containerd: str = "") -> list[str]:
    return render("{{ _container_runtime_unmet_pins }}",
                  container_runtime_packages=PACKAGES,
                  container_runtime_docker_version=docker,
                  container_runtime_containerd_version=containerd,
                  _container_runtime_packages_state={"rc": 0, "stdout_lines": lines})


def unmet_plain(lines: list[str], docker: str = "", containerd: str = "") -> list[str]:
    return packages.unmet_pins(packages.apt_pins(PACKAGES, docker, containerd),
                               packages.dpkg_installed(lines))


@pytest.fixture(params=[unmet_plain, unmet_in_role], ids=["filter", "role"])
def unmet(request):
    return request.param


@pytest.mark.parametrize(("docker", "containerd", "expected"), [
    ("", "", []),                                         # installed and held ("hi ")
    ("20.10.24+dfsg1-1+deb12u1+b6", "", []),              # exact pin
    ("20.10*", "1.6.*", []),                              # apt wildcards
    ("20.10.24", "", ["docker.io"]),                      # apt needs the full version
    ("24.0*", "", ["docker.io"]),                         # another version pinned
    ("", "1.7.*", ["containerd"]),
])
def test_runtime_pins_against_installed_versions(unmet, docker, containerd, expected) -> None:
    assert unmet(INSTALLED, docker, containerd) == expected


@pytest.mark.parametrize("lines", [
    INSTALLED[1:],                                        # docker.io unknown to dpkg
    ["rc |docker.io|20.10.24", *INSTALLED[1:]],           # removed, config files left
    ["iU |docker.io|20.10.24", *INSTALLED[1:]],           # unpacked, not configured
    ["iF |docker.io|20.10.24", *INSTALLED[1:]],           # half-configured
    ["iiR|docker.io|20.10.24", *INSTALLED[1:]],           # reinstall required
])
def test_anything_but_a_clean_install_sends_the_run_to_apt(unmet, lines) -> None:
    assert unmet(lines) == ["docker.io"]


def test_version_metacharacters_are_literal(unmet) -> None:
    """A '+' or '.' in a Debian version must not act as a regex operator."""
    assert unmet(["ii |docker.io|20x10", *INSTALLED[1:]], docker="20.10") == ["docker.io"]
    assert unmet(["ii |docker.io|1+b6", *INSTALLED[1:]], docker="1+b6") == []


@pytest.mark.parametrize(("packages_", "docker", "containerd", "specs"), [
    (PACKAGES, "", "", ["docker.io", "containerd", "runc"]),
    (PACKAGES, "20.10*", "1.6.*", ["docker.io=20.10*", "containerd=1.6.*", "runc"]),
    (["docker-ce", "docker-ce-cli", "containerd.io"], "5:24.0.7-1", "1.6.28-1",
     ["docker-ce=5:24.0.7-1", "docker-ce-cli", "containerd.io=1.6.28-1"]),
    (["docker.io", "runc"], "", "1.7.*", ["docker.io", "runc"]),  # no containerd package listed
])
def test_apt_specs(packages_, docker, containerd, specs) -> None:
    assert [pin["spec"] for pin in packages.apt_pins(packages_, docker, containerd)] == specs
    assert render("{{ _container_runtime_pins | map(attribute='spec') | list }}",
                  container_runtime_packages=packages_,
                  container_runtime_docker_version=docker,
                  container_runtime_containerd_version=containerd) == specs


def test_dpkg_installed_keeps_only_clean_installs() -> None:
    assert packages.dpkg_installed([*INSTALLED, "rc |old|1", "iU |half|2", "", "ii |short"]) == {
        "docker.io": "20.10.24+dfsg1-1+deb12u1+b6", "containerd": "1.6.20~ds1-1+deb12u3",
        "runc": "1.1.5+ds1-1+deb12u1"}


def _release_loop() -> str:
    tasks = yaml.safe_load((REPO / "roles" / "container_runtime" / "tasks" / "packages.yml")
                           .read_text())
    return next(task for task in tasks if "ansible.builtin.dpkg_selections" in task)["loop"]


@pytest.mark.parametrize(("docker", "lines", "released"), [
    ("", INSTALLED, []),                                  # nothing pinned: holds stay
    ("20.10*", INSTALLED, []),                            # held at a version the pin accepts
    ("24.0.7-1", INSTALLED, ["docker.io"]),               # held elsewhere: release before apt
    ("24.0.7-1", INSTALLED[1:], []),                      # not installed: nothing to release
])
def test_a_hold_is_released_only_for_an_installed_package_a_pin_moves(docker, lines,
                                                                      released) -> None:
    assert render(_release_loop(), container_runtime_packages=PACKAGES,
                  container_runtime_docker_version=docker,
                  container_runtime_containerd_version="",
                  _container_runtime_packages_state={"rc": 0, "stdout_lines": lines}) == released


def _common_apt_condition() -> str:
    tasks = yaml.safe_load((REPO / "roles" / "common" / "tasks" / "packages.yml").read_text())
    apt_task = next(task for task in tasks if "ansible.builtin.apt" in task)
    return apt_task["when"]


@pytest.mark.parametrize(("rc", "lines", "apt_runs"), [
    (0, ["ii |chrony", "hi |curl"], False),
    (1, ["ii |chrony"], True),                            # a name dpkg does not know
    (0, ["ii |chrony", "rc |curl"], True),
    (0, ["ii |chrony", "iU |curl"], True),
])
def test_common_apt_runs_unless_every_package_is_installed(rc, lines, apt_runs) -> None:
    condition = "{{ " + _common_apt_condition() + " }}"
    assert render(condition, _common_packages_state={"rc": rc, "stdout_lines": lines}) is apt_runs
