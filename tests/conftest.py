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
    # `python -m kubemedic` in the tests runs this checkout's CLI, not whatever checkout the
    # venv's editable install points at (a second worktree sharing one .venv ran main's code)
    cli = str(REPO / "cli")
    if os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] != cli:
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (cli, os.environ.get("PYTHONPATH")) if p)
    os.environ.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))


# Test modules by wall time, longest first, as `make test`'s --durations measured them
# (2026-12-02). pytest-xdist's loadfile hands modules out in collection order (make test passes
# --no-loadscope-reorder: by default xdist puts the modules with the MOST tests first, which sends
# these few-test, many-minute lab modules to the end and leaves one worker running alone).
# The real-cluster module is first: it waits for the background Kubernetes build, and waiting
# costs no CPU. Modules not listed follow, unit tests (seconds each) fill in at the end.
LONGEST_FIRST = (
    "integration/test_kubernetes_real.py", "integration/test_kubernetes_lifecycle_real.py",
    "integration/test_kubernetes_containerd_real.py",
    "integration/test_drills.py",
    "integration/test_foundation_lab.py", "integration/test_accelerators_lab.py",
    "integration/test_drills_seed000.py", "integration/test_firewall_default_deny_lab.py",
    "molecule/test_scenarios.py", "integration/test_runtime_bundle_flow.py",
    "integration/test_report_lab.py", "integration/test_packaging_lab.py",
    "integration/test_interruption_lab.py", "integration/test_storage_lab.py",
    "integration/test_kube_lifecycle.py", "integration/test_defects_lab.py",
    "integration/test_doctor_lab.py", "integration/test_etcd_lab.py",
    "integration/test_lab_containers.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}

    def order(item: pytest.Item) -> tuple[int, int]:
        module = item.path.relative_to(REPO / "tests").as_posix()
        if module in rank:
            return (0, rank[module])
        return (1 if item.get_closest_marker("lab") else 2, 0)

    items.sort(key=order)   # stable: file order within a module is kept


def run_kubemedic(*args: str, input: str | None = None, env: dict[str, str] | None = None,
                  timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the CLI as an operator would (a separate process), capturing its output."""
    return subprocess.run([sys.executable, "-m", "kubemedic", *args], input=input, text=True,
                          capture_output=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, **(env or {})}, check=False)


def strategy_env() -> dict[str, str]:
    """The ANSIBLE_STRATEGY* settings the CLI picks here (Mitogen, or linear with
    KUBEMEDIC_MITOGEN=0, as in modules marked `linear_strategy`)."""
    from kubemedic.engine import runner

    return runner.strategy_environment()


@pytest.fixture(scope="module", autouse=True)
def _strategy_of_the_module(request: pytest.FixtureRequest):
    """Modules marked `linear_strategy` run every kubemedic call with KUBEMEDIC_MITOGEN=0: the
    linear strategy plain ansible-playbook and AWX use. The others keep the CLI's default
    (Mitogen when installed), so one `pytest tests` covers both. Autouse at module scope: set
    before the module's lab fixtures converge anything, restored after the module."""
    if request.node.get_closest_marker("linear_strategy") is None:
        yield
        return
    from kubemedic.engine import runner

    before = os.environ.get(runner.MITOGEN_ENV)
    os.environ[runner.MITOGEN_ENV] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(runner.MITOGEN_ENV, None)
        else:
            os.environ[runner.MITOGEN_ENV] = before


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
             outside: int = 1, kubernetes: bool = False,
             kubernetes_runtime: str = "docker") -> Lab:
        try:
            info = lab_mod.up(name, nodes=nodes, subnet=subnet, outside=outside,
                              log=lambda m: None, kubernetes=kubernetes,
                              kubernetes_runtime=kubernetes_runtime)
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
