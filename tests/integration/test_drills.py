"""Fault drills on real lab nodes: inject (`kubemedic lab drill`), `kubemedic doctor` must name the
right repair as a root cause (not folded under another finding), `kubemedic recover <step> --yes`
(or the command doctor prints) repairs it, doctor is clean for that fault again (and for the
symptoms it explained), and user data survived (a file in a docker volume, the private
registry's content, MariaDB rows). Time from injection to clean is printed per drill (pytest -s)
and written to $KUBEMEDIC_DRILL_TIMES (JSON) when set: benchmarks/drills makes the MTTR table of
docs/performance.md from it.

One lab (km-drill, 3 nodes) for the module, docker + registry converged once. To stay inside the
module budget the drills run in waves: every fault of a wave is injected, ONE doctor run sees
them all, each is repaired, ONE doctor run must be clean for all of them; a drill's time runs from
its injection to the end of that clean doctor run (so it includes the other drills' repairs).
Drills that would disturb each other on one node (two repairs restarting docker, a broken
containerd package under an apt run) are in different waves or on different nodes.

Real: systemd, journald, sshd, apt (the lab's Debian mirror), docker.io (vfs) running real
containers (the --systemd=false node recipe), Debian's docker-registry (its storage on a 48 MiB
tmpfs standing in for the registry's data disk, so "full" is real without filling the host's
disk), MariaDB, dpkg. The faults are real: a removed image layer folder and a removed docker-init
make real `docker run`s fail in dockerd's journal; the registry is really filled and the image
really deleted through its API; the old containerd really is the installed package. Not real,
and why:
- containerd-old-package: no containerd 1.2 exists for Debian 12, so the old package is a TEST
  DOUBLE made on node2 by tests/doubles/make-old-containerd-deb (Debian's own package and binary
  relabelled 1.2.2; it still is 1.6.20 underneath); recover containerd-upgrade's upgrade back to
  Debian's package is a real apt upgrade;
- the shim panic and killed-shim lines (seed 004) are logged into docker's journal with the
  seed's text; no containerd-shim is crashed (the 1.2.2 bug is not in the binary);
- download.docker.com is unreachable, so broken-docker-list names a reachable Debian suite whose
  key is missing — apt's NO_PUBKEY failure is real;
- nic-autoneg-off: a lab node's veth has no autonegotiation, so node2's ethtool is a TEST
  DOUBLE (tests/doubles/fake-ethtool, first in PATH and in systemd's search path) that keeps
  the settings `ethtool -s` gives it; the boot unit recover nic-autoneg writes is real;
- the flooding container's json log is appended where dockerd's json-file driver writes it;
- fs.inotify.* is host-wide on the shared kernel: the lowered limits are only persisted in the
  node's sysctl.d (what doctor judges on the lab), never applied;
- the kubelet unit is a test double (a unit running `sleep infinity`; no kubelet here); swap is
  never turned on (it would be the host's swap).
job-path (seed 000 #12) is drilled on the real cluster (test_kubernetes_real.py).
Steps drilled elsewhere or not yet: `kubemedic recover --list` (drilled_by) and
tests/unit/test_recover_steps.py's NOT_DRILLED_YET; xid-kernel-log names no recovery step (the
fix is `kubemedic heal`).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration import mttr

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-drill"
SUBNET = "10.77.22.0/24"
N1, N2, N3 = "km-drill-node1", "km-drill-node2", "km-drill-node3"
REGISTRY = "10.77.22.11:5000"
PAUSE = f"{REGISTRY}/pause:3.9"
HERE = Path(__file__).resolve().parent
OLD_CONTAINERD = HERE.parent / "doubles" / "make-old-containerd-deb"
FAKE_ETHTOOL = HERE.parent / "doubles" / "fake-ethtool"
BUNDLE_ARCHIVE = "/var/cache/kubemedic/images/images.tar"   # container_runtime_node_bundle_dir

KUBELET_DOUBLE = """cat > /etc/systemd/system/kubelet.service <<'EOF'
# TEST DOUBLE (tests/integration/test_drills.py): no kubelet binary exists in the lab.
[Unit]
Description=kubelet test double
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload && systemctl enable --now kubelet"""


@dataclass
class Drill:
    name: str
    node: str
    fault: str | tuple[str, ...]           # `lab drill` fault(s)
    check: str                             # doctor's check for it
    step: str | None                       # recover step doctor must name
    command: list[str] = field(default_factory=list)  # when doctor names a command instead
    extra: list[str] = field(default_factory=list)    # -e for the recover step
    symptoms: tuple[str, ...] = ()         # checks the fault also causes: folded under it,
                                           # and gone after the repair
    verify: str = ""                       # shell on the node that must succeed after it
    injected: float = 0.0
    seconds: float = 0.0

    @property
    def faults(self) -> tuple[str, ...]:
        return (self.fault,) if isinstance(self.fault, str) else self.fault


WAVES = [
    [
        Drill("pause image removed", N2, "pause-image-removed", "pause-image", "pause-image"),
        Drill("disk filled by a container log", N3, "container-log-flood", "container-log-size",
              "disk-cleanup"),
        Drill("broken docker.list", N3, "broken-docker-list", "apt-sources", "apt-sources-fix"),
        Drill("inotify limits lowered (persisted only)", N3, "inotify-lowered", "inotify-limits",
              "inotify-limits"),
        Drill("kubelet-style unit down after reboot", N2, "kubelet-stopped", "kubelet-active",
              "after-reboot"),
        Drill("MariaDB database without backup", N3, "mysql-no-backup", "mysql-backup",
              "mysql-backup", extra=["-e", "mysql_backup_dir=/data/backup/mysql"]),
    ],
    [
        Drill("daemon.json corrupted", N1, "daemon-json-corrupted", "docker-daemon-json",
              "daemon-json"),
        Drill("docker stopped", N2, "docker-stopped", "docker-active", None,
              command=["bootstrap", "-c", NAME, "--tags", "container-runtime", "--limit", N2]),
        Drill("hosts.allow duplicated, subnet removed", N3, "hosts-allow-broken",
              "hosts-allow-subnet", "hosts-allow"),
    ],
    [
        Drill("registry full after images were deleted", N1, "registry-storage-full",
              "registry-storage", "registry-gc",
              verify="systemctl is-active -q docker-registry && "
                     "! test -e /var/lib/registry/docker/registry/v2/repositories/drill/junk/"
                     "_manifests/tags/1/current/link"),
        Drill("containers exit 137, only killed-shim lines", N1, "shim-killed-log",
              "log:shim-killed", "shim-crash-capture", symptoms=("log:shim-reaped",)),
        Drill("old containerd with the shim panic", N2,
              ("containerd-old-package", "shim-panic-log"), "containerd-version",
              "containerd-upgrade",
              symptoms=("log:containerd-shim-exec-panic", "log:shim-killed", "log:shim-reaped"),
              # a real upgrade: Debian's package (and binary) again, not the 1.2.2 double
              verify="! dpkg-query -W -f '${Version}' containerd | grep -q drill && "
                     "containerd --version | grep -q ' 1.6.'"),
        Drill("image layer folder gone", N3, "docker-layer-missing", "log:overlay2-layer-missing",
              "docker-prune-restart",
              # the bundle's images are back (re-loaded from the node's archive)
              verify=f"docker image inspect {PAUSE} >/dev/null"),
    ],
    [
        Drill("NIC autonegotiation off after a power cycle", N2, "nic-autoneg-off", "nic-autoneg",
              "nic-autoneg",
              # the setting is persisted by the boot unit, and was applied through it
              verify="systemctl is-enabled -q kubemedic-nic-autoneg@eth0 && "
                     "grep -q 'ethtool -s eth0 speed 1000 duplex full autoneg on' "
                     "/var/lib/fake-ethtool/calls.log"),
        Drill("docker-init gone from docker.io", N3, "docker-binary-missing",
              "log:docker-binaries-broken", "docker-reinstall",
              # docker runs a container needing docker-init again; the bundle's images are back
              verify="set -eo pipefail; tar -c -C / usr/bin/true lib lib64 usr/lib64 "
                     "usr/lib/x86_64-linux-gnu/libc.so.6 "
                     "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 | docker import - drill/app:2 "
                     ">/dev/null && docker run --rm --init drill/app:2 /usr/bin/true && "
                     f"docker image inspect {PAUSE} >/dev/null"),
    ],
]


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=0)
    boot = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "container-runtime,registry", "--json")
    assert boot.returncode == 0, boot.stdout[-3000:] + boot.stderr[-3000:]
    # The registry's storage on its own small disk (a tmpfs stands in for a data disk), so that
    # registry-storage-full fills it for real without touching the host's disk.
    lab.ssh(N1, "set -e; systemctl stop docker-registry; mount -t tmpfs -o size=48m,mode=0750,"
            "uid=$(id -u docker-registry),gid=$(id -g docker-registry) tmpfs /var/lib/registry; "
            "systemctl start docker-registry", check=True)
    # User data every drill must leave alone.
    for node in lab.nodes:
        lab.ssh(node, "docker volume create userdata >/dev/null && "
                "echo precious > /var/lib/docker/volumes/userdata/_data/keep.txt", check=True)
    # The pause image, in the private registry (registry content) and on every node; node3 also
    # keeps it as the bundle's image archive, what docker-prune-restart and docker-reinstall
    # re-load after they emptied docker's image store.
    lab.ssh(N1, f"""set -e; d=$(mktemp -d); echo pause > $d/pause
        tar -C $d -c . | docker import - {PAUSE} >/dev/null && docker push {PAUSE} >/dev/null""",
            check=True)
    for node in (N2, N3):
        lab.ssh(node, f"docker pull {PAUSE} >/dev/null", check=True)
    lab.ssh(N3, f"mkdir -p {Path(BUNDLE_ARCHIVE).parent} && docker save -o {BUNDLE_ARCHIVE} {PAUSE}",
            check=True)
    # node2: the old containerd package containerd-old-package installs (TEST DOUBLE, see above).
    for double, target in ((OLD_CONTAINERD, "/root/make-old-containerd-deb"),
                           (FAKE_ETHTOOL, "/usr/local/sbin/ethtool")):
        copy = subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(double),
                               f"{N2}:{target}"], capture_output=True, text=True, check=False)
        assert copy.returncode == 0, copy.stderr
    # node2's NIC checked by doctor (a veth is not a "physical" NIC doctor finds by itself);
    # its ethtool is the double above (TEST DOUBLE: a veth has no autonegotiation).
    (lab.inventory / "host_vars").mkdir(exist_ok=True)
    (lab.inventory / "host_vars" / f"{N2}.yml").write_text("doctor_nics: [eth0]\n")
    lab.ssh(N2, "/root/make-old-containerd-deb "
            "/root/kubemedic-drill/containerd_1.2.2~ds1-0drill1_amd64.deb", check=True)
    # MariaDB on node3, its backups on a separate file system (a tmpfs stands in for a data disk).
    lab.ssh(N3, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
            "-o DPkg::Lock::Timeout=120 mariadb-server >/dev/null && mkdir -p /data/backup && "
            "mount -t tmpfs -o size=64m tmpfs /data/backup", check=True)
    lab.ssh(N2, KUBELET_DOUBLE, check=True)
    return lab


def doctor(lab, *nodes: str) -> dict:
    result = lab.kubemedic("doctor", "-c", NAME, "--json", "--limit", ",".join(nodes))
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)


def findings(answer: dict, node: str, check: str) -> list[dict]:
    return [f for f in answer["findings"] if f["host"] == node and f["check"] == check]


def user_data_survived(lab) -> None:
    for node in lab.nodes:
        out = lab.ssh(node, "cat /var/lib/docker/volumes/userdata/_data/keep.txt").stdout
        assert out.strip() == "precious", f"{node}: the docker volume's file is gone"
    catalog = lab.ssh(N2, "python3 -c \"import urllib.request as u; print(u.urlopen("
                      f"'http://{REGISTRY}/v2/pause/tags/list').read().decode())\"",
                      check=True).stdout
    assert "3.9" in json.loads(catalog)["tags"], "registry content lost"
    rows = lab.ssh(N3, "mysql -N -e 'SELECT COUNT(*) FROM drill_shop.orders'").stdout.strip()
    assert rows == "3", f"MariaDB rows: {rows!r}"


def root_cause_and_symptoms(drill: Drill, found: list[dict], host_findings: list[dict]) -> list[str]:
    """Doctor lists the drill's finding as a root cause, and the symptoms under it."""
    problems = [f"{drill.name}: {drill.check} is folded under {f['caused_by']}, not a root cause"
                for f in found if f["caused_by"]]
    for f in host_findings:
        if f["check"] in drill.symptoms and f["caused_by"] != drill.check:
            problems.append(f"{drill.name}: symptom {f['check']} not folded under {drill.check} "
                            f"(caused_by {f['caused_by']})")
    return problems


def record_times(wave: int, drills: list[Drill]) -> None:
    """This wave's MTTR figures, from each drill's injection to the wave's clean doctor run."""
    for drill in drills:
        mttr.record(drill.step or " ".join(drill.command[:3]), drill.node, drill.faults,
                    drill.injected, wave=wave + 1, drill=drill.name, check=drill.check)


@pytest.mark.parametrize("wave", range(len(WAVES)), ids=[f"wave{i + 1}" for i in range(len(WAVES))])
def test_drill_wave(lab, wave) -> None:
    drills = WAVES[wave]
    nodes = sorted({d.node for d in drills})
    for node in nodes:
        mine = [d for d in drills if d.node == node]
        started = time.monotonic()
        result = lab.kubemedic("lab", "drill", "-c", NAME, *[f for d in mine for f in d.faults],
                               "--limit", node, "--json")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        for drill in mine:
            drill.injected = started

    before = doctor(lab, *nodes)
    problems: list[str] = []
    for drill in drills:
        found = findings(before, drill.node, drill.check)
        if not found:
            seen = [(f["check"], f["step"]) for f in before["findings"] if f["host"] == drill.node]
            problems.append(f"{drill.name}: doctor found no {drill.check} on {drill.node}: {seen}")
            continue
        problems += root_cause_and_symptoms(
            drill, found, [f for f in before["findings"] if f["host"] == drill.node])
        if drill.step and drill.step not in {f["step"] for f in found}:
            problems.append(f"{drill.name}: doctor named {[f['step'] for f in found]}, "
                            f"not {drill.step}")
        if drill.step:
            args = ["recover", drill.step, "-c", NAME, "--limit", drill.node, "--yes",
                    *drill.extra, "--json"]
        else:
            assert any(f["command"] and f["command"].startswith(
                "kubemedic " + " ".join(drill.command[:2])) for f in found), found
            args = [*drill.command, "--json"]
        repair = lab.kubemedic(*args)
        if repair.returncode != 0:
            problems.append(f"{drill.name}: {' '.join(args)} exited {repair.returncode}: "
                            f"{repair.stdout[-1500:]}{repair.stderr[-800:]}")

    after = doctor(lab, *nodes)
    ended = time.monotonic()
    print()
    for drill in drills:
        drill.seconds = ended - drill.injected
        left = [f for check in (drill.check, *drill.symptoms)
                for f in findings(after, drill.node, check)]
        verdict = "clean" if not left else f"NOT clean: {left[0]['evidence'][:100]}"
        print(f"drill {drill.name:45} {drill.seconds:6.1f} s injection -> clean  ({verdict})")
        if left:
            problems.append(f"{drill.name}: still {[f['check'] for f in left]} after the "
                            f"repair: {left}")
        if drill.verify:
            check = lab.ssh(drill.node, drill.verify)
            if check.returncode != 0:
                problems.append(f"{drill.name}: after the repair `{drill.verify}` failed: "
                                f"{check.stdout[-500:]}{check.stderr[-500:]}")
    user_data_survived(lab)
    assert not problems, "\n".join(problems)
    record_times(wave, drills)
