"""`kubemedic lab` refuses bad input with exit 2 before touching podman."""

from __future__ import annotations

import pytest

from kubemedic.errors import KubemedicUsageError
from kubemedic.lab import lab as lab_mod
from tests.conftest import run_kubemedic


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
