"""KUBEMEDIC_MITOGEN=1 switches runs to mitogen_linear; without mitogen they fall back to linear."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from kubemedic.engine import runner


def _request() -> runner.RunRequest:
    return runner.RunRequest(customer="acme", verb="bootstrap", playbook="site.yml",
                             inventory=Path("/nonexistent"))


@pytest.mark.parametrize(("value", "wanted"), [("1", True), ("yes", True), ("true", True),
                                               ("0", False), ("", False), ("no", False)])
def test_mitogen_requested(value, wanted):
    assert runner.mitogen_requested({"KUBEMEDIC_MITOGEN": value}) is wanted


def test_default_run_keeps_ansible_cfg_strategy(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBEMEDIC_MITOGEN", raising=False)
    env = runner.environment(tmp_path, _request())
    assert "ANSIBLE_STRATEGY" not in env


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
    monkeypatch.setenv("KUBEMEDIC_MITOGEN", "1")
    env = runner.environment(tmp_path, _request())
    assert "ANSIBLE_STRATEGY" not in env
    assert "ignored, using the linear strategy" in capsys.readouterr().err
    with pytest.raises(runner.MitogenUnavailable, match="kubemedic\\[speed\\]"):
        runner.mitogen_environment()
