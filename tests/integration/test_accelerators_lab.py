"""Issue 8 on real lab nodes: NVIDIA/Ascend driver roles, NPU collector service, GPU Xid healing
by policy, the rolling kernel upgrade and the kernel-driver recovery.

Real here: podman nodes with systemd + sshd, apt, the bundle's offline apt repository, users,
systemd units (the collector is killed and systemd restarts it), bind mounts, logrotate, the
ansible.builtin.reboot module, kubemedic's CLI and run records.

TEST DOUBLES (no GPU, NPU, Kubernetes or kernel of their own here), all under tests/doubles/:
- fake-kubectl on node1 (the first master) records every call and keeps node state in a file;
- fake-nvidia-installer.run / fake-nvidia-smi, fake-ascend.run / fake-npu-smi stand in for the
  vendor installers and tools; fake-ascend-docker-runtime.run for Huawei's Ascend Docker Runtime
  installer (its runtime hands every call to runc: docker is real, the NPU hook is not); the
  drivers' "kernel side" (module version, /dev/davinci*, devdrv-class) lives on tmpfs (/run,
  /dev) so it vanishes on a reboot like a module built for another kernel;
- npu_info_gen.py stands in for the customer's NPU info collector;
- kernel packages are dummy .debs (built here with dpkg-deb) named like the real ones for the
  shared host kernel and for a kernel that cannot boot (node2: it fails the `uname -r` check);
- a reboot is `systemctl reboot` in the node container (the container stops) and a watcher
  thread starts the container again; the reboot module detects the new boot through systemd's
  UserspaceTimestampMonotonic (boot_id is the shared host's);
- kernel logs are a file per node fed with real Xid lines (never /dev/kmsg: it is the host's);
- the "data disk" for NPU logs is a tmpfs mounted on node2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubemedic.bundle.create import write_apt_index
from tests.conftest import REPO
from tests.integration import mttr
from tests.integration.kernel_packages import host_kernel, kernel_debs
from tests.integration.lab_reboot import RebootStandIn

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME, SUBNET = "km-acc", "192.168.242.0/24"
NVIDIA, ASCEND, FIRMWARE = "535.183.01", "23.0.0", "7.1.0.3.220"
ASCEND_RUNTIME = "6.0.0"
BAD_KERNEL = "9.9.9-1-test"
OLD_KERNEL = "4.15.0-45-generic"  # seed 000 #4's old kernel
DOUBLES = REPO / "tests" / "doubles"
BOOT_STAMP = "systemctl show -p UserspaceTimestampMonotonic --value"
REBOOT = {"reboot_command": "systemctl reboot", "reboot_boot_time_command": BOOT_STAMP}


def _run_file(script: Path, payload: Path, target: Path) -> None:
    """A self-extracting .run like the vendors': installer script + payload after a marker."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(script.read_text() + "__PAYLOAD__\n" + payload.read_text())
    target.chmod(0o755)


def _kubectl_calls(lab) -> list[str]:
    return lab.ssh(lab.n1, "touch /etc/kubernetes/calls.log && cat /etc/kubernetes/calls.log",
                   check=True).stdout.splitlines()


def _nodes_state(lab) -> dict:
    return json.loads(lab.ssh(lab.n1, "cat /etc/kubernetes/nodes.json", check=True).stdout)


def _boot_stamp(lab, node: str) -> str:
    return lab.ssh(node, BOOT_STAMP, check=True).stdout.strip()


def _summary(lab, verb: str) -> dict:
    runs = [r for r in json.loads(lab.kubemedic("history", "-c", NAME, "--json").stdout)
            if r["verb"] == verb]
    return runs[-1]


@pytest.fixture(scope="module")
def lab(lab_factory, tmp_path_factory):
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=0)
    lab.n1, lab.n2, lab.n3 = sorted(lab.nodes)
    kernel = host_kernel()
    lab.kernel = kernel
    bundle = tmp_path_factory.mktemp("bundle")
    _run_file(DOUBLES / "fake-nvidia-installer.run", DOUBLES / "fake-nvidia-smi",
              bundle / "drivers" / f"NVIDIA-Linux-x86_64-{NVIDIA}.run")
    _run_file(DOUBLES / "fake-ascend.run", DOUBLES / "fake-npu-smi",
              bundle / "ascend" / f"Ascend-hdk-910-npu-driver_{ASCEND}_linux-x86_64.run")
    _run_file(DOUBLES / "fake-ascend.run", DOUBLES / "fake-npu-smi",
              bundle / "ascend" / f"Ascend-hdk-910-npu-firmware_{FIRMWARE}.run")
    shutil.copy(DOUBLES / "npu_info_gen.py", bundle / "ascend" / "npu_info_gen.py")
    shutil.copy(DOUBLES / "fake-ascend-docker-runtime.run",
                bundle / "ascend" / f"Ascend-docker-runtime_{ASCEND_RUNTIME}_linux-x86_64.run")
    (bundle / "debs").mkdir()
    for version in (kernel, BAD_KERNEL):
        kernel_debs(version, bundle / "debs")
    write_apt_index(bundle / "debs")
    old = tmp_path_factory.mktemp("old-kernels")
    old_debs = kernel_debs(OLD_KERNEL, old)

    # Inventory: node1 = first master + GPU (seed 000's master-as-worker), node2 = NPU, node3 = GPU.
    inv = lab.inventory
    hosts_text = (inv / "hosts.yml").read_text()
    hosts = yaml.safe_load(hosts_text)
    children = hosts["all"]["children"]["cluster"]["children"]
    workers = children["workers"]["hosts"]
    workers[lab.n1]["accelerator"] = workers[lab.n3]["accelerator"] = "nvidia"
    workers[lab.n2]["accelerator"] = "ascend"
    children["gpu"] = {"hosts": {lab.n1: None, lab.n3: None}}
    children["npu"] = {"hosts": {lab.n2: None}}
    # keeps host order, and the header `kubemedic lab drill` recognises a lab's inventory by
    header = "".join(line for line in hosts_text.splitlines(keepends=True) if line.startswith("#"))
    (inv / "hosts.yml").write_text(header + yaml.safe_dump(hosts, sort_keys=False))
    all_yml = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    all_yml["cluster_bundle_dir"] = str(bundle)
    (inv / "group_vars" / "all.yml").write_text(yaml.safe_dump(all_yml))
    (inv / "group_vars" / "gpu.yml").write_text(yaml.safe_dump({
        "nvidia_driver_source": "run", "nvidia_driver_version": NVIDIA,
        "nvidia_driver_build_packages": ["kmod"],  # no headers exist for the shared host kernel
        "nvidia_driver_module_version_file": "/run/fake-accel/nvidia-version",
        "gpu_heal_log_command": "cat /var/log/kubemedic-test/kern.log",
        **{f"gpu_heal_{k}": v for k, v in REBOOT.items()}}))
    (inv / "group_vars" / "npu.yml").write_text(yaml.safe_dump({
        "ascend_driver_version": ASCEND, "ascend_driver_firmware_version": FIRMWARE,
        "ascend_runtime_version": ASCEND_RUNTIME,
        "ascend_driver_packages": ["pciutils", "logrotate"],  # no headers for the host kernel
        "ascend_driver_sysfs_class": "/run/fake-sys/devdrv-class",
        "ascend_driver_log_dir": "/srv/data/npu-logs", "ascend_driver_collector_restart_sec": 1}))
    (inv / "group_vars" / "cluster.yml").write_text(yaml.safe_dump({
        "kernel_upgrade_version": kernel, "kernel_upgrade_source": "offline",
        "kernel_upgrade_force": True, "kernel_upgrade_reboot_timeout": 240,
        **{f"kernel_upgrade_{k}": v for k, v in REBOOT.items()}}))
    (inv / "host_vars").mkdir(exist_ok=True)
    (inv / "host_vars" / f"{lab.n2}.yml").write_text(yaml.safe_dump(
        {"kernel_upgrade_version": BAD_KERNEL}))
    assert lab.kubemedic("inventory", "check", NAME).returncode == 0

    nodes = {n: {"labels": {"kubernetes.io/hostname": n}} for n in (lab.n1, lab.n2, lab.n3)}
    lab.ssh(lab.n1, "mkdir -p /etc/kubernetes && touch /etc/kubernetes/admin.conf "
                    "&& rm -f /etc/kubernetes/calls.log && cat > /etc/kubernetes/nodes.json "
                    f"<<'EOF'\n{json.dumps(nodes)}\nEOF", check=True)
    subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), str(DOUBLES / "fake-kubectl"),
                    f"{lab.n1}:/usr/local/bin/kubectl"], check=True)
    for node in lab.nodes:  # start from a node without any (fake) accelerator software
        lab.ssh(node, "rm -rf /var/lib/fake-accel /run/fake-accel /run/fake-sys /usr/local/Ascend "
                      "/etc/ascend-docker-runtime.d /var/lib/kubemedic/ascend-docker-runtime.version "
                      "/usr/local/bin/nvidia-smi /usr/local/bin/npu-smi /dev/davinci* /lib/modules/*/updates "
                      "/lib/modules/*/kernel/drivers/video/nvidia.ko && dpkg --purge "
                      f"linux-image-{kernel} linux-headers-{kernel} linux-image-{BAD_KERNEL} "
                      f"linux-headers-{BAD_KERNEL} >/dev/null", check=True)
        subprocess.run(["scp", "-q", "-F", str(lab.ssh_config), *map(str, old_debs),
                        f"{node}:/tmp/"], check=True)
        lab.ssh(node, "dpkg -i /tmp/linux-*-4.15.0-45-generic_1.0_all.deb", check=True)
    lab.ssh(lab.n2, "mkdir -p /srv/data && (mountpoint -q /srv/data || "
                    "mount -t tmpfs -o size=32m kubemedic-data-disk /srv/data)", check=True)
    lab.watcher = RebootStandIn([lab.n1, lab.n2, lab.n3])
    yield lab
    lab.watcher.stop()


def test_driver_roles_install_verify_and_converge(lab) -> None:
    first = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "nvidia-driver,ascend-driver",
                          "--json")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    # NVIDIA: installer run with --dkms for the running kernel; nvidia-smi + versions agree
    for node in (lab.n1, lab.n3):
        calls = lab.ssh(node, "cat /var/lib/fake-accel/calls.log", check=True).stdout
        assert f"nvidia-installer {NVIDIA} --silent --dkms" in calls
        assert f"--kernel-name={lab.kernel}" in calls
        assert "nvidia-smi -L" in calls
    # Ascend: HwHiAiUser first, then Huawei's first-install order: driver, then firmware
    calls = lab.ssh(lab.n2, "cat /var/lib/fake-accel/calls.log", check=True).stdout.splitlines()
    installs = [c for c in calls if c.startswith(("driver", "firmware"))]
    assert installs == [f"driver {ASCEND} --full --install-for-all --quiet",
                        f"firmware {FIRMWARE} --full --quiet"]
    assert "npu-smi info" in calls
    host = lab.host(lab.n2)
    assert host.user("HwHiAiUser").group == "HwHiAiUser"
    # NPU logs: data disk bound over /var/log/npu, rotation config valid for logrotate
    assert host.mount_point("/var/log/npu").exists
    assert host.run("logrotate -d /etc/logrotate.d/kubemedic-npu").rc == 0
    lab.ssh(lab.n2, "echo hello > /var/log/npu/probe.log", check=True)
    assert lab.ssh(lab.n2, "cat /srv/data/npu-logs/probe.log", check=True).stdout == "hello\n"
    # device plugins restarted on every node whose driver changed
    calls = _kubectl_calls(lab)
    for node, selector in ((lab.n1, "nvidia"), (lab.n3, "nvidia"), (lab.n2, "ascend")):
        assert (f"-n kube-system delete pod -l name={selector}-device-plugin-ds "
                f"--field-selector spec.nodeName={node} --wait=false") in calls

    second = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "nvidia-driver,ascend-driver",
                           "--json")
    assert second.returncode == 0, second.stderr[-2000:]
    changed = {h: r["changed"] for h, r in json.loads(second.stdout)["hosts"].items()}
    assert set(changed.values()) == {0}, changed


def _changed(result) -> dict:
    return {h: r["changed"] for h, r in json.loads(result.stdout)["hosts"].items()}


def _docker_default_runtime(lab, node: str) -> str:
    return lab.ssh(node, "docker info --format '{{.DefaultRuntime}}'", check=True).stdout.strip()


def test_ascend_runtime_from_the_bundle_is_docker_default_and_converges(lab) -> None:
    """Bootstrap tag ascend-runtime on the npu node: Huawei's --install from the bundle's .run
    (stand-in), ascend merged into daemon.json as the default (real docker), idempotent and
    check-safe; recover ascend-runtime puts it back after a hand edit dropped it."""
    docker = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "container-runtime",
                           "--limit", lab.n2)
    assert docker.returncode == 0, docker.stdout[-3000:] + docker.stderr[-2000:]
    first = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "ascend-runtime", "--limit", lab.n2,
                          "--json")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    calls = lab.ssh(lab.n2, "cat /var/lib/fake-accel/calls.log", check=True).stdout.splitlines()
    assert [c for c in calls if c.startswith("docker-runtime")] == [
        f"docker-runtime {ASCEND_RUNTIME} --install --install-path=/usr/local/Ascend"]
    assert _docker_default_runtime(lab, lab.n2) == "ascend"
    daemon = json.loads(lab.ssh(lab.n2, "cat /etc/docker/daemon.json", check=True).stdout)
    assert daemon["runtimes"]["ascend"]["path"] == \
        "/usr/local/Ascend/Ascend-Docker-Runtime/ascend-docker-runtime"
    assert daemon["log-opts"]["max-size"] == "10m", "container_runtime's keys were lost"
    for node in (lab.n1, lab.n3):  # gpu nodes: not in `npu`, untouched
        assert lab.ssh(node, "test -e /usr/local/Ascend/Ascend-Docker-Runtime").returncode != 0

    second = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "ascend-runtime", "--limit",
                           lab.n2, "--json")
    assert second.returncode == 0, second.stderr[-2000:]
    assert set(_changed(second).values()) == {0}, _changed(second)
    dry = lab.kubemedic("bootstrap", "-c", NAME, "--tags", "ascend-runtime", "--limit", lab.n2,
                        "--check", "--json")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert set(_changed(dry).values()) == {0}, _changed(dry)

    # the drill: a hand edit drops the default runtime; doctor names recover ascend-runtime,
    # which merges it back with no reinstall
    started = mttr.start()
    lab.ssh(lab.n2, "python3 -c \"import json; p='/etc/docker/daemon.json'; d=json.load(open(p)); "
                    "d.pop('default-runtime'); open(p, 'w').write(json.dumps(d))\" "
                    "&& systemctl restart docker", check=True)
    assert _docker_default_runtime(lab, lab.n2) == "runc"
    found = _doctor(lab, lab.n2, "ascend-default-runtime")
    assert [(f["severity"], f["step"], f["caused_by"], f["command"]) for f in found] == [
        ("critical", "ascend-runtime", None,
         f"kubemedic recover ascend-runtime -c {NAME} --limit {lab.n2}")], found
    repair = lab.kubemedic(*found[0]["command"].split()[1:], "--yes")
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-2000:]
    assert _docker_default_runtime(lab, lab.n2) == "ascend"
    calls = lab.ssh(lab.n2, "cat /var/lib/fake-accel/calls.log", check=True).stdout
    assert calls.count("docker-runtime ") == 1
    assert _doctor(lab, lab.n2, "ascend-default-runtime") == []
    mttr.record("ascend-runtime", lab.n2, ["default-runtime dropped from daemon.json"], started)
    kept = json.loads(lab.ssh(lab.n2, "cat /etc/docker/daemon.json", check=True).stdout)
    assert kept["log-opts"]["max-size"] == "10m", "the repair lost container_runtime's keys"


def test_npu_collector_is_restarted_by_systemd_after_being_killed(lab) -> None:
    host = lab.host(lab.n2)
    assert host.service("npu-info-collector").is_enabled
    pid = lab.ssh(lab.n2, "systemctl show -p MainPID --value npu-info-collector",
                  check=True).stdout.strip()
    assert pid != "0"
    lab.ssh(lab.n2, f"kill -9 {pid}", check=True)
    deadline = time.monotonic() + 30
    new_pid = pid
    while time.monotonic() < deadline:
        new_pid = lab.ssh(lab.n2, "systemctl show -p MainPID --value npu-info-collector").stdout.strip()
        if new_pid not in (pid, "0", ""):
            break
        time.sleep(1)
    assert new_pid not in (pid, "0", ""), "systemd did not restart the collector"
    assert host.service("npu-info-collector").is_running
    log = lab.ssh(lab.n2, "tail -n 1 /var/log/npu/npu-info-collector.log", check=True).stdout
    assert json.loads(log)["npus"] == 1


def test_npu_collector_drill_killed_with_its_unit_gone(lab) -> None:
    """Drill npu-collector (seed 000 #7, leftover 1.3: the collector not restarted): its systemd
    unit removed, then the process killed, so nothing starts it again (`lab drill
    npu-collector-killed`). Doctor names `kubemedic recover npu-collector` on the NPU node; that
    command puts the unit back and starts the collector; doctor is clean for it, the NPU logs
    on the data disk (the collector's own log included) are intact.
    TEST DOUBLES (module docstring): the collector is tests/doubles/npu_info_gen.py, the NPU
    driver and npu-smi the Ascend doubles; systemd, the unit, the kill and doctor are real."""
    started = time.monotonic()
    lines_before = lab.ssh(lab.n2, "wc -l < /var/log/npu/npu-info-collector.log",
                           check=True).stdout.strip()
    fault = lab.kubemedic("lab", "drill", "-c", NAME, "npu-collector-killed", "--limit", lab.n2,
                          "--json")
    assert fault.returncode == 0, fault.stdout[-3000:] + fault.stderr[-2000:]
    time.sleep(3)  # longer than the unit's RestartSec (1 s): nothing may bring it back
    assert lab.ssh(lab.n2, "pgrep -f npu_info_gen.py").returncode != 0, "collector still runs"
    answer = lab.kubemedic("doctor", "-c", NAME, "--limit", lab.n2, "--json")
    assert answer.returncode in (0, 5), answer.stdout[-3000:] + answer.stderr[-2000:]
    found = [f for f in json.loads(answer.stdout)["findings"]
             if f["host"] == lab.n2 and f["check"] == "npu-collector"]
    assert [(f["step"], f["caused_by"], f["command"]) for f in found] == [
        ("npu-collector", None, f"kubemedic recover npu-collector -c {NAME} --limit {lab.n2}")
    ], found
    repair = lab.kubemedic(*found[0]["command"].split()[1:], "--yes", "--json")
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-2000:]
    host = lab.host(lab.n2)
    assert host.service("npu-info-collector").is_enabled
    assert host.service("npu-info-collector").is_running
    assert lab.ssh(lab.n2, "pgrep -f npu_info_gen.py").returncode == 0
    after = lab.kubemedic("doctor", "-c", NAME, "--limit", lab.n2, "--json")
    assert after.returncode in (0, 5), after.stdout[-3000:] + after.stderr[-2000:]
    left = [f for f in json.loads(after.stdout)["findings"] if f["check"] == "npu-collector"]
    print(f"\ndrill npu-collector {time.monotonic() - started:6.1f} s injection -> clean")
    assert left == [], left
    mttr.record("npu-collector", lab.n2, ["npu-collector-killed"], started)
    # the NPU logs on the data disk survived; the collector appends to its log again
    assert lab.ssh(lab.n2, "cat /var/log/npu/probe.log", check=True).stdout == "hello\n"
    lines_after = lab.ssh(lab.n2, "wc -l < /var/log/npu/npu-info-collector.log",
                          check=True).stdout.strip()
    assert int(lines_after) > int(lines_before), (lines_before, lines_after)


def test_heal_dry_run_changes_nothing_then_heal_reboots_by_policy(lab) -> None:
    """Default policy (catalog classes): Xid 62 (reset) -> cordon, drain, reboot, uncordon;
    Xid 13 (app) -> notify only."""
    lab.ssh(lab.n1, "mkdir -p /var/log/kubemedic-test && echo '[Thu Jul  4 11:09:40 2024] "
                    "NVRM: Xid (PCI:0000:3b:00): 13, Graphics Exception' "
                    "> /var/log/kubemedic-test/kern.log", check=True)
    lab.ssh(lab.n3, "mkdir -p /var/log/kubemedic-test && echo 'NVRM: Xid (0000:03:00): 62, "
                    "Channel 00000001' > /var/log/kubemedic-test/kern.log", check=True)
    before_nodes, before_calls = _nodes_state(lab), len(_kubectl_calls(lab))
    stamp = _boot_stamp(lab, lab.n3)

    dry = lab.kubemedic("heal", "-c", NAME, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert _nodes_state(lab) == before_nodes
    assert all(c.startswith("get ") for c in _kubectl_calls(lab)[before_calls:])
    assert _boot_stamp(lab, lab.n3) == stamp
    decisions = {d["node"]: d for d in _summary(lab, "heal")["extra"]["heal"]["decisions"]}
    assert decisions[lab.n3]["rule"] == "xid-reset"
    assert [a["name"] for a in decisions[lab.n3]["actions"]] == ["cordon", "drain", "reboot"]
    assert decisions[lab.n1]["rule"] == "xid-app" and decisions[lab.n1]["status"] == "planned"
    assert "NEEDS A HUMAN" in dry.stderr

    restarts = lab.watcher.restarts[lab.n3]
    healed = lab.kubemedic("heal", "-c", NAME, "--yes")
    assert healed.returncode == 0, healed.stderr[-4000:]
    acting = [c for c in _kubectl_calls(lab)[before_calls:] if not c.startswith("get ")]
    assert acting == [f"cordon {lab.n3}",
                      f"drain {lab.n3} --ignore-daemonsets --delete-emptydir-data --force "
                      "--timeout=1200s",
                      f"uncordon {lab.n3}"]
    assert _boot_stamp(lab, lab.n3) != stamp            # the node booted again ...
    assert lab.watcher.restarts[lab.n3] == restarts + 1  # ... through the reboot module
    assert not _nodes_state(lab)[lab.n3].get("unschedulable")
    act = _summary(lab, "heal")
    plan = {p["node"]: p["actions"] for p in act["extra"]["heal"]["plan"]}
    assert plan == {lab.n3: decisions[lab.n3]["actions"],  # node1: recorded + printed only
                    lab.n1: [{"name": "notify", "message": decisions[lab.n1]["actions"][0]["message"]}]}
    events = "\n".join(p.read_text() for p in
                       Path(act["record"]).glob("artifacts/*/job_events/*.json"))
    assert "ansible.builtin.reboot" in events or "GPU heal | reboot" in events


def test_kernel_rollout_halts_at_the_failing_node_and_kernel_driver_repairs_it(lab) -> None:
    """node1 upgrades and rebuilds its GPU driver; node2 boots the wrong kernel: the rollout
    stops there, node3 is never touched; then recover kernel-driver repairs node2 (seed 000 #4)."""
    before_calls = len(_kubectl_calls(lab))
    stamps = {n: _boot_stamp(lab, n) for n in lab.nodes}
    n1_before = lab.ssh(lab.n1, "cat /var/lib/fake-accel/calls.log || true").stdout.count(
        "nvidia-installer")
    lab.ssh(lab.n2, "echo keep > /root/drill-keep.txt", check=True)
    result = lab.kubemedic("kernel", "upgrade", "-c", NAME, "--yes")
    assert result.returncode == 3, result.stderr[-4000:]
    assert f"booted {lab.kernel}, not {BAD_KERNEL}" in result.stderr
    calls = _kubectl_calls(lab)[before_calls:]
    acting = [c for c in calls if not c.startswith("get ")]
    assert acting[:2] == [f"cordon {lab.n1}", f"drain {lab.n1} --ignore-daemonsets "
                          "--delete-emptydir-data --force --timeout=600s"]
    assert (f"-n kube-system delete pod -l name=nvidia-device-plugin-ds --field-selector "
            f"spec.nodeName={lab.n1} --wait=false") in acting
    assert acting.index(f"uncordon {lab.n1}") < acting.index(f"cordon {lab.n2}")
    assert f"uncordon {lab.n2}" not in acting          # stays cordoned for a human
    assert not any(lab.n3 in c for c in calls)          # never touched
    assert _boot_stamp(lab, lab.n3) == stamps[lab.n3]
    assert _boot_stamp(lab, lab.n1) != stamps[lab.n1]
    assert _boot_stamp(lab, lab.n2) != stamps[lab.n2]
    # node1: module reinstalled for the "new" kernel after the reboot, verified with nvidia-smi
    n1_calls = lab.ssh(lab.n1, "cat /var/lib/fake-accel/calls.log", check=True).stdout
    assert n1_calls.count(f"nvidia-installer {NVIDIA}") == n1_before + 1
    assert lab.ssh(lab.n1, "nvidia-smi -L").returncode == 0
    # packages: target installed, old kernel purged, running kept; node3 untouched
    pkgs = {n: lab.ssh(n, "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' 'linux-*'").stdout
            for n in lab.nodes}
    assert f"linux-image-{lab.kernel} installed" in pkgs[lab.n1]
    assert f"linux-image-{OLD_KERNEL} installed" not in pkgs[lab.n1]
    assert f"linux-image-{OLD_KERNEL} installed" not in pkgs[lab.n2]
    assert f"linux-image-{OLD_KERNEL} installed" in pkgs[lab.n3]
    assert f"linux-image-{lab.kernel}" not in pkgs[lab.n3]
    # the NPU info collector came back by itself after node2's reboot (seed 000 #7)
    assert lab.host(lab.n2).service("npu-info-collector").is_running
    # node2 is now in seed 000 #4's state: devdrv-class gone, npu-smi fails
    assert lab.ssh(lab.n2, "test -d /run/fake-sys/devdrv-class").returncode != 0
    assert lab.ssh(lab.n2, "npu-smi info").returncode != 0

    # the drill (issue 14): the fault is the rollout's reboot into a kernel without the driver
    started = mttr.start()
    found = _doctor(lab, lab.n2, *DRIVER_CHECKS)
    roots = [f for f in found if f["caused_by"] is None]
    assert [(f["severity"], f["step"], f["command"]) for f in roots] == [
        ("critical", "kernel-driver", f"kubemedic recover kernel-driver -c {NAME} --limit {lab.n2}")
    ], found
    assert "/run/fake-sys/devdrv-class: missing" in [f["evidence"] for f in found], found
    repair_calls = len(_kubectl_calls(lab))
    repair = lab.kubemedic(*found[0]["command"].split()[1:], "--yes")
    assert repair.returncode == 0, repair.stderr[-4000:]
    assert lab.ssh(lab.n2, "npu-smi info").returncode == 0
    assert lab.ssh(lab.n2, "test -d /run/fake-sys/devdrv-class && ls /dev/davinci0").returncode == 0
    assert (f"-n kube-system delete pod -l name=ascend-device-plugin-ds --field-selector "
            f"spec.nodeName={lab.n2} --wait=false") in _kubectl_calls(lab)[repair_calls:]
    assert _doctor(lab, lab.n2, *DRIVER_CHECKS) == []
    mttr.record("kernel-driver", lab.n2, ["kernel-upgrade into a kernel without the driver"],
                started)
    # user data on the node's disk survived the reboot and the repair (the lab's NPU log "data
    # disk" is a tmpfs: a reboot empties it, so it cannot serve here)
    assert lab.ssh(lab.n2, "cat /root/drill-keep.txt", check=True).stdout == "keep\n"


# doctor's checks for an NPU node whose running kernel has no driver (accelerator-modules is the
# root cause when the module files are missing too; it folds npu-devdrv-class)
DRIVER_CHECKS = ("npu-devdrv-class", "accelerator-modules")


def _doctor(lab, node: str, *checks: str) -> list[dict]:
    """doctor's findings of these checks on one node."""
    answer = lab.kubemedic("doctor", "-c", NAME, "--limit", node, "--json")
    assert answer.returncode in (0, 5), answer.stdout[-3000:] + answer.stderr[-2000:]
    return [f for f in json.loads(answer.stdout)["findings"]
            if f["host"] == node and f["check"] in checks]


def test_plain_ansible_playbook_heals_by_the_inventory_policy(lab, tmp_path) -> None:
    """Issue 17: no kubemedic CLI. heal.yml scans, decides by inventories/<lab>/xid-policy.yml
    (max_unavailable 1: the priority-20 rule takes the slot) and acts, in one playbook run."""
    policy = lab.inventory / "xid-policy.yml"
    policy.write_text(yaml.safe_dump({"max_unavailable": 1, "rules": [
        {"name": "global", "priority": 0, "actions": [{"name": "notify", "message": "look"}]},
        {"name": "mmu-cordon", "priority": 10, "error_codes": [31], "actions": ["cordon"]},
        {"name": "halt-reboot", "priority": 20, "error_codes": [62],
         "actions": ["cordon", {"name": "reboot", "wait": "4m", "uncordon": True}]}]}))
    lab.ssh(lab.n1, "echo 'NVRM: Xid (0000:3b:00): 31, MMU Fault' > /var/log/kubemedic-test/kern.log",
            check=True)
    lab.ssh(lab.n3, "echo 'NVRM: Xid (0000:03:00): 62, Channel 00000001' "
                    "> /var/log/kubemedic-test/kern.log", check=True)
    record = tmp_path / "heal-decisions.json"
    before_calls, stamp = len(_kubectl_calls(lab)), _boot_stamp(lab, lab.n3)
    restarts = lab.watcher.restarts[lab.n3]
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i",
             str(lab.inventory / "hosts.yml"), "playbooks/heal.yml",
             "-e", f"gpu_heal_record_file={record}", "-e", "kubemedic_confirmed=true"],
            cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    finally:
        policy.unlink()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    decided = json.loads(record.read_text())
    assert decided["policy"] == str(policy)
    statuses = {d["node"]: (d["rule"], d["status"]) for d in decided["decisions"]}
    assert statuses == {lab.n3: ("halt-reboot", "planned"), lab.n1: ("mmu-cordon", "deferred")}
    acting = [c for c in _kubectl_calls(lab)[before_calls:] if not c.startswith("get ")]
    assert acting == [f"cordon {lab.n3}", f"uncordon {lab.n3}"]
    assert _boot_stamp(lab, lab.n3) != stamp             # rebooted by policy ...
    assert lab.watcher.restarts[lab.n3] == restarts + 1  # ... through the reboot module
    nodes = _nodes_state(lab)
    assert not nodes[lab.n3].get("unschedulable") and not nodes[lab.n1].get("unschedulable")
