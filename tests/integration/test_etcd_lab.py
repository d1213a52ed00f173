"""etcd backup / restore for real on a lab node (issue 5, etcd part).

One lab (km-etcd, 1 node) for the module; the tests run in file order like an operator's
session: --check changes nothing → backup (with retention) → later writes → restore --latest
brings back exactly the backed-up data → restore --check changes nothing → a damaged snapshot is
refused before any node is touched → a restore that fails half-way puts the old data back →
the same restore for a kubeadm-style static-pod etcd (manifest moved away and back).

Real here: Debian 12's etcd-server + etcd-client 3.4 (ETCDCTL_API=3, no etcdutl), systemd, TLS
with client-certificate auth at kubeadm's paths (/etc/kubernetes/pki/etcd/ca.crt,
healthcheck-client.crt/key, https://127.0.0.1:2379), ssh, the kubemedic CLI. Test-only set-up:
an openssl CA + certificates and a systemd drop-in that turns TLS on for Debian's etcd unit, and
group_vars/etcd.yml naming Debian's data dir (/var/lib/etcd/default) and member name (the
hostname). Test double: there is no kubelet, so a systemd path unit (fake-kubelet-etcd, below)
starts/stops the real etcd unit when the static pod manifest appears/disappears.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-etcd"
SUBNET = "192.168.252.0/24"
NODE = "km-etcd-node1"
PKI = "/etc/kubernetes/pki/etcd"
ETCDCTL = (f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert={PKI}/ca.crt "
           f"--cert={PKI}/healthcheck-client.crt --key={PKI}/healthcheck-client.key")

SETUP = rf"""
set -e
export DEBIAN_FRONTEND=noninteractive
for i in $(seq 60); do  # the lab's apt archive cache is shared with other labs: wait for its lock
  apt-get install -y -q -o DPkg::Lock::Timeout=300 etcd-server etcd-client openssl \
    >/tmp/apt.log 2>&1 && break
  sleep 5
done
dpkg -s etcd-server etcd-client >/dev/null
mkdir -p {PKI} && cd {PKI}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=etcd-ca
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN={NODE}
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
  > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
  -days 2 -extfile server.ext
openssl req -newkey rsa:2048 -nodes -keyout healthcheck-client.key -out hc.csr \
  -subj /O=system:masters/CN=kube-etcd-healthcheck-client
printf 'extendedKeyUsage=clientAuth\n' > hc.ext
openssl x509 -req -in hc.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out healthcheck-client.crt -days 2 -extfile hc.ext
chown etcd:etcd server.key
mkdir -p /etc/systemd/system/etcd.service.d
cat > /etc/systemd/system/etcd.service.d/kubemedic-test-tls.conf <<'EOF'
[Service]
Environment=ETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:2379
Environment=ETCD_ADVERTISE_CLIENT_URLS=https://127.0.0.1:2379
Environment=ETCD_CERT_FILE={PKI}/server.crt
Environment=ETCD_KEY_FILE={PKI}/server.key
Environment=ETCD_TRUSTED_CA_FILE={PKI}/ca.crt
Environment=ETCD_CLIENT_CERT_AUTH=true
EOF
systemctl daemon-reload
systemctl restart etcd
for i in $(seq 30); do {ETCDCTL} endpoint health && exit 0; sleep 1; done
exit 1
"""


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(NAME, nodes=1, subnet=SUBNET, outside=0)
    lab.ssh(NODE, SETUP, timeout=900, check=True)
    # Debian's unit: data in /var/lib/etcd/default, member named after the host.
    (lab.inventory / "group_vars" / "etcd.yml").write_text(yaml.safe_dump({
        "etcd_snapshot_data_dir": "/var/lib/etcd/default",
        "etcd_snapshot_member_name": NODE}))
    return lab


@pytest.fixture(scope="module")
def backups() -> Path:
    return Path(os.environ["KUBEMEDIC_STATE_DIR"]) / "backups" / NAME / "etcd"


def ectl(lab, command: str) -> str:
    return lab.ssh(NODE, f"{ETCDCTL} {command}", check=True).stdout


def keys(lab) -> dict[str, str]:
    out = json.loads(ectl(lab, "get --prefix /km/ -w json"))
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode()
            for kv in out.get("kvs", [])}


def etcd_instance(lab) -> str:
    """Changes whenever etcd is (re)started: proves a refused restore left it alone."""
    return lab.ssh(NODE, "systemctl is-active etcd; systemctl show -p MainPID "
                         "-p ActiveEnterTimestampMonotonic etcd", check=True).stdout


def km(lab, *args: str) -> subprocess.CompletedProcess:
    return lab.kubemedic(*args, "-c", NAME)


def aside_dirs(lab) -> list[str]:
    return lab.ssh(NODE, "ls -d /var/lib/etcd/default.before-restore-* 2>/dev/null || true"
                   ).stdout.split()


def test_etcdctl_is_api_v3_over_tls(lab) -> None:
    assert "API version: 3" in lab.ssh(NODE, "etcdctl version", check=True).stdout
    ectl(lab, "put /km/a before")
    ectl(lab, "put /km/b before")
    assert keys(lab) == {"/km/a": "before", "/km/b": "before"}
    # client-certificate auth is on: without the client certificate etcd refuses
    bare = lab.ssh(NODE, f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 "
                         f"--cacert={PKI}/ca.crt --dial-timeout=3s --command-timeout=5s get /km/a")
    assert bare.returncode != 0


def test_backup_check_changes_nothing(lab, backups: Path) -> None:
    result = km(lab, "etcd", "backup", "--check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not backups.exists()  # not even the folder: --check writes nothing on the dev-box
    assert lab.ssh(NODE, "ls /var/lib/kubemedic/etcd-snapshots 2>/dev/null").stdout.strip() == ""


def test_missing_certificates_are_refused_unless_plain_http_is_allowed(lab) -> None:
    result = km(lab, "etcd", "backup", "-e", "etcd_snapshot_cacert=/nonexistent/ca.crt", "--json")
    assert result.returncode == 3
    assert "/nonexistent/ca.crt" in result.stdout and "etcd_snapshot_allow_plain_http" in result.stdout


def test_backup_keeps_the_newest_and_records_sha256(lab, backups: Path) -> None:
    backups.mkdir(parents=True, exist_ok=True)
    for old in ("20000101T000000Z", "20000102T000000Z"):  # older backups of this customer
        (backups / f"{old}.db").write_bytes(b"old")
        (backups / f"{old}.db.sha256").write_text(f"{hashlib.sha256(b'old').hexdigest()}  x\n")
    result = km(lab, "etcd", "backup", "--keep", "2", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(p.name for p in backups.iterdir())
    assert len(names) == 4 and names[:2] == ["20000102T000000Z.db", "20000102T000000Z.db.sha256"]
    new = backups / names[2]
    recorded, filename = (backups / names[3]).read_text().split()
    assert filename == new.name and recorded == hashlib.sha256(new.read_bytes()).hexdigest()
    assert oct(new.stat().st_mode & 0o777) == "0o600"
    check = subprocess.run(["sha256sum", "-c", names[3]], cwd=backups, capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout
    # the scratch copy on the node is gone
    assert lab.ssh(NODE, "ls /var/lib/kubemedic/etcd-snapshots").stdout.strip() == ""
    listed = json.loads(km(lab, "etcd", "list", "--json").stdout)
    assert [s["name"] for s in listed["snapshots"]] == [new.stem, "20000102T000000Z"]
    (backups / "20000102T000000Z.db").unlink()  # a fake: --latest must not pick it anyway
    (backups / "20000102T000000Z.db.sha256").unlink()


def test_restore_latest_brings_back_the_backed_up_data(lab, backups: Path) -> None:
    ectl(lab, "put /km/a after")
    ectl(lab, "del /km/b")
    ectl(lab, "put /km/c after")
    result = km(lab, "etcd", "restore", "--latest", "--yes", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert keys(lab) == {"/km/a": "before", "/km/b": "before"}
    assert lab.ssh(NODE, "stat -c %U:%G:%a /var/lib/etcd/default", check=True).stdout.strip() \
        == "etcd:etcd:700"
    (aside,) = aside_dirs(lab)  # the old data dir was kept
    assert lab.ssh(NODE, f"test -d {aside}/member/snap").returncode == 0
    record = Path(json.loads(result.stdout)["record"])
    before = record / "backups" / "etcd-before-restore" / "before-restore.db"
    assert before.is_file() and before.with_name("before-restore.db.sha256").is_file()
    ectl(lab, "put /km/d written-after-restore")  # etcd takes writes again


def test_restore_check_changes_nothing(lab) -> None:
    instance = etcd_instance(lab)
    result = km(lab, "etcd", "restore", "--latest", "--check", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert keys(lab)["/km/d"] == "written-after-restore"
    assert etcd_instance(lab) == instance and len(aside_dirs(lab)) == 1


def test_damaged_snapshot_is_refused_before_touching_the_node(lab, backups: Path,
                                                              tmp_path: Path) -> None:
    good = sorted(backups.glob("*.db"))[-1]
    bad = tmp_path / "damaged.db"
    shutil.copy(good, bad)
    shutil.copy(good.with_name(good.name + ".sha256"), tmp_path / "damaged.db.sha256")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    instance = etcd_instance(lab)
    result = km(lab, "etcd", "restore", str(bad), "--yes", "--json")
    assert result.returncode == 3
    assert f"{bad}: sha256" in result.stdout and "refusing to restore" in result.stdout
    assert etcd_instance(lab) == instance and "active" in instance
    assert keys(lab)["/km/d"] == "written-after-restore" and len(aside_dirs(lab)) == 1
    summary = json.loads(result.stdout)
    assert sum(h["changed"] for h in summary["hosts"].values()) == 0
    # without a recorded sha256 it is refused too
    (tmp_path / "damaged.db.sha256").unlink()
    result = km(lab, "etcd", "restore", str(bad), "--yes", "--json")
    assert result.returncode == 3 and f"{bad}.sha256" in result.stdout


def test_failed_restore_puts_the_old_data_back(lab) -> None:
    result = km(lab, "etcd", "restore", "--latest", "--yes", "--json",
                "-e", "etcd_snapshot_initial_cluster=nobody=http://localhost:2380")
    assert result.returncode == 3
    assert "old data dir was put back" in result.stdout
    assert "active" in etcd_instance(lab)
    assert keys(lab)["/km/d"] == "written-after-restore"


# Test double for kubelet (there is no kubelet here): a systemd path unit that starts Debian's
# etcd unit while /etc/kubernetes/manifests/etcd.yaml exists and stops it while it does not, as
# kubelet does with a static pod. The manifest has kubeadm's shape and its flags describe the etcd
# that really runs, so restore has to take data dir, member name and peer URL from it.
FAKE_KUBELET = r"""
set -e
mkdir -p /etc/kubernetes/manifests
cat > /usr/local/sbin/fake-kubelet-etcd <<'SCRIPT_END'
#!/bin/sh
if [ -f /etc/kubernetes/manifests/etcd.yaml ]; then systemctl start etcd; else systemctl stop etcd; fi
SCRIPT_END
chmod 755 /usr/local/sbin/fake-kubelet-etcd
cat > /etc/systemd/system/fake-kubelet-etcd.service <<'SERVICE_END'
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/fake-kubelet-etcd
SERVICE_END
cat > /etc/systemd/system/fake-kubelet-etcd.path <<'PATH_END'
[Path]
PathModified=/etc/kubernetes/manifests
PATH_END
systemctl daemon-reload
systemctl start fake-kubelet-etcd.path
"""

MANIFEST = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "etcd", "namespace": "kube-system"},
    "spec": {"hostNetwork": True, "containers": [{
        "name": "etcd", "image": "registry.k8s.io/etcd:3.5.9-0",
        "command": ["etcd", "--advertise-client-urls=https://127.0.0.1:2379",
                    f"--cert-file={PKI}/server.crt", "--client-cert-auth=true",
                    "--data-dir=/var/lib/etcd/default",
                    "--initial-advertise-peer-urls=http://localhost:2380",
                    f"--initial-cluster={NODE}=http://localhost:2380",
                    f"--key-file={PKI}/server.key",
                    "--listen-client-urls=https://127.0.0.1:2379", f"--name={NODE}",
                    f"--trusted-ca-file={PKI}/ca.crt"]}]}}


def test_static_pod_etcd_restore_follows_the_manifest(lab) -> None:
    lab.ssh(NODE, FAKE_KUBELET, check=True)
    manifest = yaml.safe_dump(MANIFEST)
    lab.ssh(NODE, f"cat > /etc/kubernetes/manifests/etcd.yaml <<'MANIFEST_END'\n{manifest}"
                  "MANIFEST_END\n", check=True)
    ectl(lab, "put /km/e static-pod-era")
    aside = len(aside_dirs(lab))
    # the inventory's systemd settings must not be used: the manifest names the data dir
    result = km(lab, "etcd", "restore", "--latest", "--yes", "--json",
                "-e", "etcd_snapshot_data_dir=/nonexistent", "-e", "etcd_snapshot_service=none")
    assert result.returncode == 0, result.stdout + result.stderr
    assert keys(lab) == {"/km/a": "before", "/km/b": "before"}
    assert len(aside_dirs(lab)) == aside + 1
    assert lab.ssh(NODE, "test -f /etc/kubernetes/manifests/etcd.yaml").returncode == 0
    assert lab.ssh(NODE, "ls /var/lib/kubemedic/etcd-snapshots").stdout.strip() == ""
