"""cluster_bootstrap_skip_tags: plain `kubemedic bootstrap` skips them; --tags/--skip-tags win;
a malformed value is an inventory error (exit 2) naming the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

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
    _set_skip(inventories, ["kubernetes_node", "nvidia_driver"])
    result = _run(inventories)
    assert result.exit_code == 0, result.output
    assert captured[0].skip_tags == ["kubernetes_node", "nvidia_driver"]
    assert "skipping kubernetes_node, nvidia_driver" in result.output


@pytest.mark.parametrize("args", [("--tags", "common"), ("--skip-tags", "firewall")])
def test_tags_or_skip_tags_override_the_inventory(inventories, captured, args) -> None:
    _set_skip(inventories, ["kubernetes_node"])
    _run(inventories, *args)
    assert "kubernetes_node" not in captured[0].skip_tags


def test_malformed_value_is_refused_before_any_run(inventories, captured) -> None:
    _set_skip(inventories, "kubernetes_node")
    result = CliRunner().invoke(cli, ["--inventory-dir", str(inventories), "bootstrap", "-c",
                                      "acme"])
    assert result.exit_code == 2
    assert "cluster_bootstrap_skip_tags" in result.output
    assert captured == []
