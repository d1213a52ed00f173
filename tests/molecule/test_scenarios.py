"""Every molecule scenario under molecule/ runs its full test sequence on lab nodes.

Scenarios use molecule/resources/create.yml + destroy.yml, which build real systemd + sshd
podman nodes through `kubemedic lab up`; verifiers are testinfra over ssh. Molecule calls
ansible-playbook itself, so the scenarios get the strategy the CLI would pick: mitogen_linear
when the speed extra is installed, linear with KUBEMEDIC_MITOGEN=0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import strategy_env

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


@pytest.mark.lab
@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str) -> None:
    if os.environ.get("KUBEMEDIC_SKIP_LAB") == "1":
        pytest.skip("KUBEMEDIC_SKIP_LAB=1")
    molecule = Path(sys.executable).parent / "molecule"
    result = subprocess.run([str(molecule), "test", "-s", scenario], cwd=REPO, text=True,
                            capture_output=True, timeout=1800, check=False,
                            env={**os.environ, **strategy_env()})
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-80:])
    assert result.returncode == 0, f"molecule test -s {scenario} failed:\n{tail}"
