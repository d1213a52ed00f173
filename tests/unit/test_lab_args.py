"""`kubemedic lab` refuses bad input with exit 2 before touching podman."""

from __future__ import annotations

import pytest

from kubemedic.errors import KubemedicUsageError
from kubemedic.lab import lab as lab_mod
from tests.conftest import REPO, run_kubemedic


@pytest.mark.parametrize("args, message", [
    (["--name", "Lab"], "lab name 'Lab' is invalid"),
    (["--name", "lab", "--subnet", "8.8.8.0/24"], "private IPv4"),
    (["--name", "lab", "--subnet", "192.168.1.7/24"], "host bits set"),
    (["--name", "lab", "--nodes", "0"], "--nodes 0"),
    (["--name", "lab", "--outside", "9"], "--outside 9"),
])
def test_lab_up_rejects_bad_input(args, message) -> None:
    result = run_kubemedic("lab", "up", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_outside_network_is_the_next_one() -> None:
    cluster, outside = lab_mod.networks_for("192.168.232.0/24")
    assert str(cluster) == "192.168.232.0/24" and str(outside) == "192.168.233.0/24"
    with pytest.raises(KubemedicUsageError):
        lab_mod.networks_for("10.0.0.0/30")


def test_lab_labels_carry_the_run_id_when_set() -> None:
    assert lab_mod.labels("lab", env={}) == ["--label", "kubemedic.lab=lab"]
    assert lab_mod.labels("lab", env={lab_mod.RUN_ENV: "ci-20261201-42"}) == [
        "--label", "kubemedic.lab=lab", "--label", f"{lab_mod.RUN_LABEL}=ci-20261201-42"]
    with pytest.raises(KubemedicUsageError, match=lab_mod.RUN_ENV):
        lab_mod.labels("lab", env={lab_mod.RUN_ENV: "a b;rm"})


def test_ci_cleanup_removes_only_its_own_run() -> None:
    """Issue 17: .ci/run's cleanup removed every kubemedic lab on the machine."""
    script = (REPO / ".ci" / "run").read_text()
    assert f"export {lab_mod.RUN_ENV}" in script
    filters = [line for line in script.splitlines() if "podman" in line and "--filter" in line]
    assert len(filters) == 2, filters  # containers and networks
    for line in filters:
        assert f'--filter "label={lab_mod.RUN_LABEL}=${lab_mod.RUN_ENV}"' in line, line
