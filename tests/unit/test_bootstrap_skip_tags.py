"""cluster_bootstrap_skip_tags: plain `kubemedic bootstrap` skips them; --tags/--skip-tags win;
a malformed value is an inventory error (exit 2) naming the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubemedic import options as options_module
from kubemedic.commands import bootstrap as bootstrap_module
from kubemedic.main import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventories(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "inventories" / "example", tmp_path / "acme")
    return tmp_path


def _set_skip(inventories: Path, value) -> None:
    path = inventories / "acme" / "group_vars" / "all.yml"
    data = yaml.safe_load(path.read_text())
    data["cluster_bootstrap_skip_tags"] = value
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def captured(monkeypatch) -> list:
    calls: list = []

    def fake_execute(opts, verb, playbook, **_kwargs):
        calls.append(opts)
        return object()

    monkeypatch.setattr(bootstrap_module, "execute", fake_execute)
    monkeypatch.setattr(bootstrap_module, "exit_with", lambda result: None)
    return calls


def _run(inventories: Path, *args: str):
    return CliRunner().invoke(cli, ["--inventory-dir", str(inventories), "bootstrap", "-c",
                                    "acme", *args], catch_exceptions=False)


def test_plain_bootstrap_skips_the_listed_tags(inventories, captured) -> None:
    _set_skip(inventories, ["kubernetes-node", "nvidia-driver"])
    result = _run(inventories)
    assert result.exit_code == 0, result.output
    assert captured[0].skip_tags == ["kubernetes-node", "nvidia-driver"]
    assert "skipping kubernetes-node, nvidia-driver" in result.output


@pytest.mark.parametrize("args", [("--tags", "common"), ("--skip-tags", "firewall")])
def test_tags_or_skip_tags_override_the_inventory(inventories, captured, args) -> None:
    _set_skip(inventories, ["kubernetes-node"])
    _run(inventories, *args)
    assert "kubernetes-node" not in captured[0].skip_tags


def test_malformed_value_is_refused_before_any_run(inventories, captured) -> None:
    _set_skip(inventories, "kubernetes-node")
    result = CliRunner().invoke(cli, ["--inventory-dir", str(inventories), "bootstrap", "-c",
                                      "acme"])
    assert result.exit_code == 2
    assert "cluster_bootstrap_skip_tags" in result.output
    assert captured == []


class _Reached(Exception):
    """Raised by the fake run_playbook: the tags passed every check and a run would start."""


@pytest.fixture
def runs(monkeypatch) -> list:
    """The real execute (it checks the tags) up to run_playbook, which records and stops."""
    requests: list = []

    def fake_run(request, _display):
        requests.append(request)
        raise _Reached

    monkeypatch.setattr(options_module, "run_playbook", fake_run)
    return requests


def _run_caught(inventories: Path, *args: str):
    return CliRunner().invoke(cli, ["--inventory-dir", str(inventories), "bootstrap", "-c",
                                    "acme", *args])


@pytest.mark.parametrize("flag", ["--tags", "--skip-tags"])
def test_old_underscore_tag_is_refused_with_the_hyphen_spelling(inventories, runs, flag) -> None:
    result = _run_caught(inventories, flag, "common,container_runtime")
    assert result.exit_code == 2, result.output
    assert "playbooks/site.yml has no such tag" in result.output
    assert (f"{flag}: unknown tag 'container_runtime': did you mean container-runtime?"
            in result.output)
    assert "'common'" not in result.output
    assert runs == []


def test_unknown_tag_without_a_close_one_is_named(inventories, runs) -> None:
    result = _run_caught(inventories, "--tags", "zzzz", "--skip-tags", "kubernetes_node")
    assert result.exit_code == 2
    assert "--tags: unknown tag 'zzzz'\n" in result.output
    assert "--skip-tags: unknown tag 'kubernetes_node': did you mean kubernetes-node?" in result.output


def test_inventory_skip_tags_are_checked_against_site(inventories, runs) -> None:
    _set_skip(inventories, ["nvidia_driver"])
    result = _run_caught(inventories)
    assert result.exit_code == 2, result.output
    assert "group_vars/all.yml: cluster_bootstrap_skip_tags" in result.output
    assert "did you mean nvidia-driver?" in result.output
    assert runs == []


def test_special_and_step_tags_are_accepted(inventories, runs) -> None:
    result = _run_caught(inventories, "--tags", "always,sysctl,npu-info-collector")
    assert isinstance(result.exception, _Reached), result.output
    assert runs[0].tags == ["always", "sysctl", "npu-info-collector"]


def test_recover_step_tag_is_not_a_bootstrap_tag(inventories, runs) -> None:
    result = _run_caught(inventories, "--tags", "npu-collector")
    assert result.exit_code == 2
    assert "did you mean npu-info-collector?" in result.output
