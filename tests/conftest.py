"""Shared fixtures. Lab tests get real systemd + sshd podman nodes through `lab_factory`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # Run records, lab keys and fact caches of a test session never mix with an operator's.
    if "KUBEMEDIC_STATE_DIR" not in os.environ:
        state = Path(config.rootpath) / ".cache" / "test-state" / str(os.getpid())
        os.environ["KUBEMEDIC_STATE_DIR"] = str(state)
    os.environ.setdefault("KUBEMEDIC_PROJECT_DIR", str(REPO))
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))


def run_kubemedic(*args: str, input: str | None = None, env: dict[str, str] | None = None,
                  timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the CLI as an operator would (a separate process), capturing its output."""
    return subprocess.run([sys.executable, "-m", "kubemedic", *args], input=input, text=True,
                          capture_output=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})}, check=False)


def strategy_env() -> dict[str, str]:
    """The ANSIBLE_STRATEGY* settings the CLI picks here (Mitogen, or linear with
    KUBEMEDIC_MITOGEN=0); `make test` runs both."""
    from kubemedic.engine import runner

    return runner.strategy_environment()


@dataclass
class Lab:
    customer: str
    inventory: Path
    ssh_config: Path
    key: Path
    nodes: dict[str, str]      # cluster node name -> IP
    outside: dict[str, str]    # outside node name -> IP
    subnet: str

    def ssh(self, node: str, command: str, timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(["ssh", "-F", str(self.ssh_config), node, command], text=True,
                                capture_output=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{node}: {command!r} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def host(self, node: str):
        import testinfra

        return testinfra.get_host(f"ssh://{node}", ssh_config=str(self.ssh_config))

    def kubemedic(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_kubemedic(*args, **kwargs)

    def down(self) -> None:
        from kubemedic.lab import lab as lab_mod

        lab_mod.down(self.customer)


@pytest.fixture(scope="module")
def lab_factory():
    """Create labs for one test module; all are removed when the module ends.

    Set KUBEMEDIC_KEEP_LAB=1 to keep them for debugging, KUBEMEDIC_SKIP_LAB=1 to skip lab tests
    on a machine without podman (CI never sets it: there a missing podman is a failure).
    """
    if os.environ.get("KUBEMEDIC_SKIP_LAB") == "1":
        pytest.skip("KUBEMEDIC_SKIP_LAB=1")
    from kubemedic.lab import lab as lab_mod

    created: list[Lab] = []

    def make(name: str, nodes: int = 3, subnet: str = lab_mod.DEFAULT_SUBNET,
             outside: int = 1, kubernetes: bool = False) -> Lab:
        try:
            info = lab_mod.up(name, nodes=nodes, subnet=subnet, outside=outside,
                              log=lambda m: None, kubernetes=kubernetes)
        except Exception:
            if os.environ.get("KUBEMEDIC_KEEP_LAB") != "1":
                lab_mod.down(name)  # a half-started lab must not outlive the test
            raise
        lab = Lab(customer=name, inventory=Path(info.inventory),
                  ssh_config=Path(info.ssh_config), key=Path(info.key),
                  nodes={n.name: n.ip for n in info.nodes if n.role == "cluster"},
                  outside={n.name: n.ip for n in info.nodes if n.role == "outside"},
                  subnet=info.subnet)
        created.append(lab)
        return lab

    yield make
    if os.environ.get("KUBEMEDIC_KEEP_LAB") != "1":
        for lab in created:
            lab.down()
