"""The dpkg-query probes that let a rerun skip the apt module decide like apt would.

A wrong "nothing to do" would leave a node without a package or at the wrong version, silently;
so every doubtful answer must send the run to apt. The expressions are rendered with
ansible-core's own templar, from the role files themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
RUNTIME_VARS = REPO / "roles" / "container_runtime" / "vars" / "main.yml"
PACKAGES = ["docker.io", "containerd", "runc"]
INSTALLED = ["hi |docker.io|20.10.24+dfsg1-1+deb12u1+b6", "hi |containerd|1.6.20~ds1-1+deb12u3",
             "ii |runc|1.1.5+ds1-1+deb12u1"]


def render(expression: str, **variables) -> object:
    loader = DataLoader()
    role_vars = dict(loader.load_from_file(str(RUNTIME_VARS), trusted_as_template=True))
    templar = Templar(loader=loader, variables={**role_vars, **variables})
    return templar.template(trust_as_template(expression))


def unmet(lines: list[str], docker: str = "", containerd: str = "") -> list[str]:
    return render("{{ _container_runtime_unmet_pins }}",
                  container_runtime_packages=PACKAGES,
                  container_runtime_docker_version=docker,
                  container_runtime_containerd_version=containerd,
                  _container_runtime_packages_state={"rc": 0, "stdout_lines": lines})


@pytest.mark.parametrize(("docker", "containerd", "expected"), [
    ("", "", []),                                         # installed and held ("hi ")
    ("20.10.24+dfsg1-1+deb12u1+b6", "", []),              # exact pin
    ("20.10*", "1.6.*", []),                              # apt wildcards
    ("20.10.24", "", ["docker.io"]),                      # apt needs the full version
    ("24.0*", "", ["docker.io"]),                         # another version pinned
    ("", "1.7.*", ["containerd"]),
])
def test_runtime_pins_against_installed_versions(docker, containerd, expected) -> None:
    assert unmet(INSTALLED, docker, containerd) == expected


@pytest.mark.parametrize("lines", [
    INSTALLED[1:],                                        # docker.io unknown to dpkg
    ["rc |docker.io|20.10.24", *INSTALLED[1:]],           # removed, config files left
    ["iU |docker.io|20.10.24", *INSTALLED[1:]],           # unpacked, not configured
    ["iF |docker.io|20.10.24", *INSTALLED[1:]],           # half-configured
    ["iiR|docker.io|20.10.24", *INSTALLED[1:]],           # reinstall required
])
def test_anything_but_a_clean_install_sends_the_run_to_apt(lines) -> None:
    assert unmet(lines) == ["docker.io"]


def test_version_metacharacters_are_literal() -> None:
    """A '+' or '.' in a Debian version must not act as a regex operator."""
    assert unmet(["ii |docker.io|20x10", *INSTALLED[1:]], docker="20.10") == ["docker.io"]
    assert unmet(["ii |docker.io|1+b6", *INSTALLED[1:]], docker="1+b6") == []


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
