"""Runs use mitogen_linear when the speed extra is installed (KUBEMEDIC_MITOGEN unset or 'auto'),
never with KUBEMEDIC_MITOGEN=0, and fall back to linear (saying so when it was asked for with =1)
when mitogen is missing or refuses this ansible-core."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from kubemedic.engine import runner


def _request() -> runner.RunRequest:
    return runner.RunRequest(customer="acme", verb="bootstrap", playbook="site.yml",
                             inventory=Path("/nonexistent"))


@pytest.mark.parametrize(("value", "mode"), [("1", "on"), ("yes", "on"), ("true", "on"),
                                             ("0", "off"), ("no", "off"), ("OFF", "off"),
                                             ("", "auto"), ("auto", "auto")])
def test_mitogen_mode(value, mode):
    assert runner.mitogen_mode({"KUBEMEDIC_MITOGEN": value}) == mode
    assert runner.mitogen_mode({}) == "auto"


def test_switched_off_keeps_ansible_cfg_strategy(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBEMEDIC_MITOGEN", "0")
    env = runner.environment(tmp_path, _request())
    assert "ANSIBLE_STRATEGY" not in env


def test_default_uses_mitogen_when_installed(monkeypatch, tmp_path):
    pytest.importorskip("ansible_mitogen")
    monkeypatch.delenv("KUBEMEDIC_MITOGEN", raising=False)
    assert runner.environment(tmp_path, _request())["ANSIBLE_STRATEGY"] == "mitogen_linear"


def test_mitogen_strategy_when_installed(monkeypatch, tmp_path):
    pytest.importorskip("ansible_mitogen")
    monkeypatch.setenv("KUBEMEDIC_MITOGEN", "1")
    env = runner.environment(tmp_path, _request())
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()


def test_missing_mitogen_falls_back_to_linear(monkeypatch, tmp_path, capsys):
    real_import = builtins.__import__

    def no_mitogen(name, *args, **kwargs):
        if name.startswith("ansible_mitogen"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mitogen)
    monkeypatch.delenv("KUBEMEDIC_MITOGEN", raising=False)
    assert "ANSIBLE_STRATEGY" not in runner.environment(tmp_path, _request())
    assert capsys.readouterr().err == ""  # not asked for: a quiet fallback
    monkeypatch.setenv("KUBEMEDIC_MITOGEN", "1")
    env = runner.environment(tmp_path, _request())
    assert "ANSIBLE_STRATEGY" not in env
    assert "ignored, using the linear strategy" in capsys.readouterr().err
    with pytest.raises(runner.MitogenUnavailable, match="kubemedic\\[speed\\]"):
        runner.mitogen_environment()


def test_one_probe_verbs_stay_linear_unless_forced(monkeypatch, tmp_path):
    pytest.importorskip("ansible_mitogen")
    request = runner.RunRequest(customer="acme", verb="doctor", playbook="doctor.yml",
                                inventory=Path("/nonexistent"), mitogen_by_default=False)
    monkeypatch.delenv("KUBEMEDIC_MITOGEN", raising=False)
    assert "ANSIBLE_STRATEGY" not in runner.environment(tmp_path, request)
    monkeypatch.setenv("KUBEMEDIC_MITOGEN", "1")
    assert runner.environment(tmp_path, request)["ANSIBLE_STRATEGY"] == "mitogen_linear"


def test_runs_do_not_begin_with_the_dsa_deprecation_warning(monkeypatch, tmp_path):
    """cryptography's import-time DSA warning (ansible-core's ssh-agent code) filled the first
    events of every run record; an operator's own PYTHONWARNINGS is kept."""
    import subprocess
    import sys

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    env = runner.environment(tmp_path, _request())
    assert env["PYTHONWARNINGS"] == runner.QUIET_WARNINGS
    shown = subprocess.run([sys.executable, "-c", "import warnings; warnings.warn("
                            "'DSA is deprecated and support will be removed')"],
                           env={"PYTHONWARNINGS": env["PYTHONWARNINGS"]},
                           capture_output=True, text=True, check=True)
    assert shown.stderr == ""
    monkeypatch.setenv("PYTHONWARNINGS", "error::ResourceWarning")
    assert runner.environment(tmp_path, _request())["PYTHONWARNINGS"] == (
        f"error::ResourceWarning,{runner.QUIET_WARNINGS}")
