"""The CLI end to end on this machine: real ansible-runner runs against local hosts.

Hosts here use ansible_connection=local (or a closed port for the unreachable case), so these
tests need no lab; the lab tests in tests/integration run the same verbs over real ssh.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path

import pytest
import yaml

from kubemedic.options import parse_extravars
from tests.conftest import REPO, run_kubemedic


def write_inventory(root: Path, name: str, hosts: dict[str, dict], **cluster) -> Path:
    target = root / name
    (target / "group_vars").mkdir(parents=True)
    first = next(iter(hosts))
    children = {g: {"hosts": None} for g in
                ("masters", "etcd", "registry", "nfs_server", "gpu", "npu")}
    children["masters"] = {"hosts": {first: None}}
    children["workers"] = {"hosts": hosts}
    hosts[first]["first_master"] = True
    (target / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"cluster": {"children": children}}}}))
    values = {"cluster_name": name, "cluster_subnet": "127.0.0.0/8",
              "cluster_kubernetes_version": "1.28.2", "cluster_pod_cidr": "10.244.0.0/16",
              "cluster_service_cidr": "10.96.0.0/12", "cluster_registry": "127.0.0.1:5000",
              **cluster}
    (target / "group_vars" / "all.yml").write_text(yaml.safe_dump(values))
    return target


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {"KUBEMEDIC_INVENTORY_DIR": str(tmp_path / "inv"),
            "KUBEMEDIC_STATE_DIR": str(tmp_path / "state")}


def test_help_lists_the_verbs() -> None:
    result = run_kubemedic("--help")
    assert result.returncode == 0
    for verb in ("init", "inventory", "ping", "bootstrap", "recover", "history", "lab"):
        assert f"  {verb} " in result.stdout


def test_init_scaffolds_a_valid_inventory_and_never_overwrites(env, tmp_path: Path) -> None:
    result = run_kubemedic("init", "acme-corp", env=env)
    assert result.returncode == 0, result.stderr
    all_yml = (tmp_path / "inv" / "acme-corp" / "group_vars" / "all.yml").read_text()
    assert "cluster_name: acme-corp" in all_yml and "# " in all_yml  # documented, renamed
    assert run_kubemedic("inventory", "check", "acme-corp", env=env).returncode == 0
    again = run_kubemedic("init", "acme-corp", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run_kubemedic("init", "Bad/Name", env=env).returncode == 2


class ConnectionCounter:
    """A TCP listener standing in for the nodes' sshd: counts every connection attempt."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def test_malformed_inventory_exits_2_naming_each_problem_and_contacts_nothing(env, tmp_path):
    counter = ConnectionCounter()
    try:
        ssh = {"ansible_port": counter.port, "ansible_connection": "ssh"}
        write_inventory(tmp_path / "inv", "broken", {
            "node1": {"ansible_host": "127.0.0.2", **ssh},
            "Node2": {"ansible_host": "127.0.0.2", **ssh},     # upper case, duplicate IP
            "node3": {"ansible_host": "10.9.9.9", **ssh},      # outside the subnet
        })
        for verb in (["bootstrap"], ["ping"], ["recover", "inotify-limits", "--yes"]):
            result = run_kubemedic(*verb, "-c", "broken", env=env)
            assert result.returncode == 2, (verb, result.stderr)
            assert "'Node2'" in result.stderr and "upper-case" in result.stderr
            assert "127.0.0.2 is also used by host 'node1'" in result.stderr
            assert "'node3'" in result.stderr and "outside cluster_subnet" in result.stderr
            assert "hosts.yml" in result.stderr
        assert counter.connections == 0
        assert not (tmp_path / "state" / "runs").exists()  # no run started, none recorded
    finally:
        counter.close()


def test_real_run_records_summary_history_and_redacts_secrets(env, tmp_path: Path) -> None:
    local = {"ansible_connection": "local", "ansible_python_interpreter": shutil.which("python3")
             or "python3"}
    write_inventory(tmp_path / "inv", "local", {"n1": {"ansible_host": "127.0.0.3", **local},
                                                "n2": {"ansible_host": "127.0.0.4", **local}})
    result = run_kubemedic("ping", "-c", "local", "--json", "-e", "db_password=hunter2",
                           "-e", "note=kept", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["hosts"]["n1"]["ok"] >= 1 and summary["hosts"]["n2"]["failed"] == 0
    assert summary["extravars"]["db_password"] == "********"
    assert summary["extravars"]["note"] == "kept"
    record = Path(summary["record"])
    assert (record / "summary.json").is_file()
    assert list(record.glob("artifacts/*/job_events/*.json"))  # full event record kept
    assert not (record / "env").exists()
    for path in record.rglob("*"):
        if path.is_file():
            assert "hunter2" not in path.read_text(errors="replace"), path
    second = run_kubemedic("ping", "-c", "local", "--limit", "n2", env=env)
    assert second.returncode == 0
    assert "Recap" in second.stderr and "n2" in second.stderr
    history = run_kubemedic("history", "-c", "local", "--json", env=env)
    runs = json.loads(history.stdout)
    assert [r["verb"] for r in runs] == ["ping", "ping"]
    assert runs[1]["limit"] == "n2"
    assert "local" in run_kubemedic("history", env=env).stdout


def test_unreachable_host_exits_4(env, tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused at once
    write_inventory(tmp_path / "inv", "dead", {"n1": {"ansible_host": "127.0.0.5",
                                                      "ansible_port": port}})
    result = run_kubemedic("ping", "-c", "dead", env=env)
    assert result.returncode == 4, result.stderr
    assert "UNREACHABLE" in result.stderr


def test_recover_list_and_unknown_step() -> None:
    listing = run_kubemedic("recover", "--list")
    assert listing.returncode == 0 and "inotify-limits" in listing.stdout
    steps = json.loads(run_kubemedic("recover", "--list", "--json").stdout)
    assert all({"name", "symptom", "destructive"} <= set(s) for s in steps)
    unknown = run_kubemedic("recover", "no-such-step", "-c", "example")
    assert unknown.returncode == 2 and "unknown recovery step" in unknown.stderr


def test_extravars_forms(tmp_path: Path) -> None:
    extra = tmp_path / "vars.yml"
    extra.write_text("from_file: 1\n")
    parsed = parse_extravars(("a=1", 'b={"x": 2}', '{"c": true}', f"@{extra}"))
    assert parsed == {"a": 1, "b": {"x": 2}, "c": True, "from_file": 1}
    with pytest.raises(Exception, match="expected key=value"):
        parse_extravars(("nonsense",))


def test_every_playbook_imports_validation_first() -> None:
    for playbook in sorted((REPO / "playbooks").glob("*.yml")):
        if playbook.name == "validate.yml":
            continue
        plays = yaml.safe_load(playbook.read_text())
        assert plays[0].get("ansible.builtin.import_playbook") == "validate.yml", playbook.name


def test_plain_ansible_playbook_validates_before_contacting_hosts(tmp_path: Path) -> None:
    """AWX / ansible-playbook users get the same validation through the action plugin."""
    import os
    import subprocess
    import sys

    counter = ConnectionCounter()
    try:
        ssh = {"ansible_port": counter.port, "ansible_connection": "ssh"}
        inventory = write_inventory(tmp_path, "plain", {
            "node1": {"ansible_host": "127.0.0.2", **ssh},
            "Node2": {"ansible_host": "10.1.1.1", **ssh}})
        playbook = str(Path(sys.executable).parent / "ansible-playbook")
        result = subprocess.run([playbook, "-i", str(inventory / "hosts.yml"),
                                 str(REPO / "playbooks" / "ping.yml")], text=True,
                                capture_output=True, cwd=REPO, timeout=120, check=False,
                                env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
        assert result.returncode != 0
        assert "inventory is invalid" in result.stdout
        assert "'Node2'" in result.stdout and "outside cluster_subnet" in result.stdout
        assert str(inventory / "hosts.yml") in result.stdout
        assert counter.connections == 0
    finally:
        counter.close()


def test_vaulted_inventory_needs_password_and_never_reaches_the_record(env, tmp_path) -> None:
    import subprocess
    import sys

    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = write_inventory(tmp_path / "inv", "vaulted",
                                {"n1": {"ansible_host": "127.0.0.3", **local}})
    password = tmp_path / "vault-pass"
    password.write_text("correct horse\n")
    secret = inventory / "group_vars" / "all" / "vault.yml"
    secret.parent.mkdir()
    (inventory / "group_vars" / "all.yml").rename(secret.parent / "main.yml")
    secret.write_text("registry_password: s3cr3t-Vaulted-Value\n")
    vault = str(Path(sys.executable).parent / "ansible-vault")
    subprocess.run([vault, "encrypt", "--vault-password-file", str(password), str(secret)],
                   check=True, capture_output=True)
    assert "s3cr3t" not in secret.read_text()

    without = run_kubemedic("ping", "-c", "vaulted", env=env)
    assert without.returncode == 2 and "--vault-password-file" in without.stderr
    result = run_kubemedic("ping", "-c", "vaulted", "--json", "--vault-password-file",
                           str(password), env=env)
    assert result.returncode == 0, result.stderr
    record = Path(json.loads(result.stdout)["record"])
    for path in record.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "s3cr3t-Vaulted-Value" not in text and "correct horse" not in text, path
