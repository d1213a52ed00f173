"""OpenPAI layout.yaml and kubespray inventories import to valid kubemedic inventories."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from kubemedic.inventory import loader
from kubemedic.inventory.validate import validate
from kubemedic.main import cli

DATA = Path(__file__).resolve().parents[1] / "data"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_openpai_layout_from_seed_001_imports_valid(tmp_path: Path) -> None:
    result = run("--inventory-dir", str(tmp_path), "inventory", "import", "--from", "openpai",
                 "-c", "pai", str(DATA / "openpai-layout.yaml"))
    assert result.exit_code == 0, result.output
    _root, data = loader.load("pai", str(tmp_path))
    assert validate(data) == []
    assert data.groups["masters"] == ["pai-master"]
    assert data.hosts["pai-master"]["first_master"] is True
    assert set(data.groups["workers"]) == {"pai-master", "pai-worker-1", "pai-worker-2",
                                           "pai-worker-3"}
    assert data.groups["nfs_server"] == ["pai-master"]
    assert set(data.groups["gpu"]) == set(data.groups["workers"])
    assert data.hosts["pai-worker-3"]["accelerator"] == "nvidia"
    cluster = yaml.safe_load((tmp_path / "pai" / "group_vars" / "all.yml").read_text())
    assert cluster["cluster_subnet"] == "10.0.0.0/24"
    assert cluster["cluster_registry"] == "10.0.0.1:5000"
    assert cluster["cluster_nfs_enabled"] is True


def test_openpai_uppercase_hostname_refused_and_nothing_written(tmp_path: Path) -> None:
    layout = yaml.safe_load((DATA / "openpai-layout.yaml").read_text())
    layout["machine-list"][1]["hostname"] = "PAI-Worker-1"
    layout["machine-sku"]["v100x8-machine"]["computing-device"]["type"] = "amd.com/gpu"
    source = tmp_path / "layout.yaml"
    source.write_text(yaml.safe_dump(layout))
    result = run("--inventory-dir", str(tmp_path / "inv"), "inventory", "import", "--from",
                 "openpai", "-c", "pai", str(source))
    assert result.exit_code == 2
    assert "amd.com/gpu" in result.output and "machine-list[3]" in result.output
    layout["machine-sku"]["v100x8-machine"]["computing-device"]["type"] = "nvidia.com/gpu"
    source.write_text(yaml.safe_dump(layout))
    result = run("--inventory-dir", str(tmp_path / "inv"), "inventory", "import", "--from",
                 "openpai", "-c", "pai", str(source))
    assert result.exit_code == 2
    assert "'PAI-Worker-1'" in result.output and "upper-case" in result.output
    assert not (tmp_path / "inv" / "pai").exists()


def test_kubespray_ini_uses_private_ip(tmp_path: Path) -> None:
    result = run("--inventory-dir", str(tmp_path), "inventory", "import", "--from", "kubespray",
                 "-c", "spray", str(DATA / "kubespray-inventory.ini"))
    assert result.exit_code == 0, result.output
    _root, data = loader.load("spray", str(tmp_path))
    assert validate(data) == []
    assert data.groups["masters"] == ["node1", "node2"]
    assert data.groups["workers"] == ["node2", "node3"]
    assert data.hosts["node1"]["ansible_host"] == "10.3.0.1"
    assert data.hosts["node1"]["first_master"] is True


def test_kubespray_yaml_takes_versions_and_cidrs(tmp_path: Path) -> None:
    result = run("--inventory-dir", str(tmp_path), "inventory", "import", "--from", "kubespray",
                 "-c", "spray", str(DATA / "kubespray-yaml" / "hosts.yaml"))
    assert result.exit_code == 0, result.output
    cluster = yaml.safe_load((tmp_path / "spray" / "group_vars" / "all.yml").read_text())
    assert cluster["cluster_kubernetes_version"] == "1.27.6"
    assert cluster["cluster_pod_cidr"] == "10.233.64.0/18"
    assert cluster["cluster_service_cidr"] == "10.233.0.0/18"


def test_import_refuses_to_overwrite(tmp_path: Path) -> None:
    args = ("--inventory-dir", str(tmp_path), "inventory", "import", "--from", "openpai", "-c",
            "pai", str(DATA / "openpai-layout.yaml"))
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 2 and "already exists" in again.output
    assert run(*args, "--force").exit_code == 0


def test_not_a_layout(tmp_path: Path) -> None:
    bogus = tmp_path / "x.yaml"
    bogus.write_text("foo: bar\n")
    result = run("--inventory-dir", str(tmp_path), "inventory", "import", "--from", "openpai",
                 "-c", "pai", str(bogus))
    assert result.exit_code == 2 and "no machine-list" in result.output
