"""The inventory schema and cross-host rules, on inventories written to a temp folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kubemedic.errors import KubemedicUsageError
from kubemedic.inventory import loader, schema
from kubemedic.inventory.validate import validate
from tests.conftest import run_kubemedic

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def inventories(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "inventories" / "example", tmp_path / "acme")
    return tmp_path


def edit(inventories: Path, relative: str, change) -> None:
    path = inventories / "acme" / relative
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def cluster_groups(data: dict) -> dict:
    return data["all"]["children"]["cluster"]["children"]


def problems_of(inventories: Path) -> list[str]:
    _root, data = loader.load("acme", str(inventories))
    return [str(p) for p in validate(data)]


def test_example_inventory_is_valid(inventories: Path) -> None:
    assert problems_of(inventories) == []


def test_uppercase_duplicate_ip_and_outside_subnet_are_all_reported(inventories: Path) -> None:
    def break_hosts(data: dict) -> None:
        workers = cluster_groups(data)["workers"]["hosts"]
        workers["Worker-A"] = {"ansible_host": "192.168.100.21"}   # upper case + duplicate IP
        workers["w2"] = {"ansible_host": "10.1.2.3"}               # outside cluster_subnet

    edit(inventories, "hosts.yml", break_hosts)
    problems = problems_of(inventories)
    hosts_file = str(inventories / "acme" / "hosts.yml")
    assert any("'Worker-A'" in p and "upper-case" in p and p.startswith(hosts_file)
               for p in problems)
    assert any("'Worker-A'" in p and "192.168.100.21 is also used by host 'gpu1'" in p
               for p in problems)
    assert any("'w2'" in p and "ansible_host" in p and "outside cluster_subnet" in p
               for p in problems)


def test_first_master_must_be_exactly_one(inventories: Path) -> None:
    def two_masters(data: dict) -> None:
        groups = cluster_groups(data)
        groups["masters"]["hosts"]["master2"] = {"ansible_host": "192.168.100.11",
                                                 "first_master": True}
        groups["workers"]["hosts"]["gpu1"]["first_master"] = True

    edit(inventories, "hosts.yml", two_masters)
    problems = problems_of(inventories)
    assert any("exactly one master" in p and "master1, master2" in p for p in problems)
    assert any("'gpu1'" in p and "not in 'masters'" in p for p in problems)


def test_cluster_fields_name_the_group_vars_file(inventories: Path) -> None:
    def bad_cluster(data: dict) -> None:
        data["cluster_pod_cidr"] = "10.96.0.0/16"          # overlaps the service CIDR
        data["cluster_kubernetes_version"] = "v1.28"        # wrong format
        data["cluster_subnet"] = "192.168.100.0/33"         # does not parse
        data["cluster_regsitry"] = "typo:5000"              # unknown key
        del data["cluster_name"]

    edit(inventories, "group_vars/all.yml", bad_cluster)
    problems = problems_of(inventories)
    all_yml = str(inventories / "acme" / "group_vars" / "all.yml")
    expected = ["cluster_service_cidr: 10.96.0.0/12 overlaps cluster_pod_cidr",
                "cluster_kubernetes_version: 'v1.28' is not a version",
                "cluster_subnet: '192.168.100.0/33' is not a network",
                "cluster_regsitry: unknown cluster setting",
                "cluster_name: is required"]
    for text in expected:
        assert any(text in p and p.startswith(all_yml) for p in problems), (text, problems)


def test_accelerator_must_match_group(inventories: Path) -> None:
    def mismatch(data: dict) -> None:
        groups = cluster_groups(data)
        groups["workers"]["hosts"]["gpu1"]["accelerator"] = "ascend"
        groups["workers"]["hosts"]["npu1"]["accelerator"] = "tpu"

    edit(inventories, "hosts.yml", mismatch)
    problems = problems_of(inventories)
    assert any("'gpu1'" in p and "'ascend' but the host is in group 'gpu'" in p for p in problems)
    assert any("'npu1'" in p and "'tpu' is not one of nvidia, ascend, none" in p for p in problems)


def test_nfs_enabled_needs_a_server(inventories: Path) -> None:
    edit(inventories, "hosts.yml",
         lambda data: cluster_groups(data).update(nfs_server={"hosts": None}))
    assert any("cluster_nfs_enabled" in p and "has 0 hosts" in p for p in problems_of(inventories))


def test_registry_must_point_at_registry_host(inventories: Path) -> None:
    edit(inventories, "group_vars/all.yml",
         lambda data: data.update(cluster_registry="192.168.100.99:5000"))
    assert any("cluster_registry" in p and "does not point at the registry host" in p
               for p in problems_of(inventories))


def test_unparsable_yaml_names_the_file(inventories: Path) -> None:
    (inventories / "acme" / "group_vars" / "all.yml").write_text("cluster_name: [unclosed\n")
    with pytest.raises(KubemedicUsageError) as caught:
        loader.load("acme", str(inventories))
    assert "group_vars/all.yml:2: not valid YAML" in caught.value.format_message()
    assert caught.value.exit_code == 2


def test_yaml_that_is_no_inventory_is_refused_naming_the_file(inventories: Path) -> None:
    """Found by the property test: hosts.yml cut after `workers:` parses as YAML, Ansible only
    warns that no plugin can read it and keeps the half-filled groups, so cluster_vars() hit a
    host with no variables (KeyError traceback instead of exit 2)."""
    hosts = inventories / "acme" / "hosts.yml"
    text = hosts.read_text()
    hosts.write_text(text[:text.index("        workers:")] + "        workers:\n          hos")
    result = run_kubemedic("--inventory-dir", str(inventories), "inventory", "check", "acme")
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"inventory {hosts} is not a valid Ansible YAML inventory" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_inventory_and_bad_customer_name(tmp_path: Path) -> None:
    with pytest.raises(KubemedicUsageError, match="kubemedic init nobody"):
        loader.load("nobody", str(tmp_path))
    with pytest.raises(KubemedicUsageError, match="customer name"):
        loader.load("../etc", str(tmp_path))


def test_host_vars_file_is_named(inventories: Path) -> None:
    host_vars = inventories / "acme" / "host_vars"
    host_vars.mkdir()
    (host_vars / "gpu1.yml").write_text("ansible_host: 192.168.100.300\n")
    problems = problems_of(inventories)
    assert any(p.startswith(str(host_vars / "gpu1.yml")) and "not an IP address" in p
               for p in problems)


def test_schema_markdown_is_the_committed_reference() -> None:
    assert (REPO / "docs" / "inventory.md").read_text() == schema.as_markdown()


def test_bad_public_ports_name_the_field_and_entry(inventories: Path) -> None:
    """Issue 20: a bad cluster_public_ports entry is refused before any host is touched."""
    path = inventories / "acme" / "group_vars" / "all.yml"
    path.write_text(path.read_text().replace("{port: 443, name: ingress}",
                                             "{port: 443, proto: sctp}"))
    result = run_kubemedic("inventory", "check", "acme",
                           env={"KUBEMEDIC_INVENTORY_DIR": str(inventories)})
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "group_vars/all.yml" in out and "cluster_public_ports" in out
    assert "entry 2: proto 'sctp'" in out and "Traceback" not in out
