"""Drills for the recovery steps seed 000 asks for and seed 002's rook case (issue 14): a real fault
injected, `kubemedic doctor` names the step with a pasteable command, that command repairs it,
doctor is clean for it again, user data survived. Time from injection to clean is printed
(pytest -s).

One lab (km-std: 3 cluster nodes on 10.77.32.0/24, no outside node) for the module; node1 is the
first master.

Real: systemd, sshd, apt, Debian's nginx package (the host case of nginx-restart: the unit
disabled and stopped as after the seed's master reboot), the nodes' network namespaces (network-
reapply: node2's cluster address given a /32 netmask and its default route gone, so it reaches no
peer while the dev-box still reaches it over a host route; the step must put the subnet's netmask
and the default route back), ping, the CLI.
TEST DOUBLE, and why: this lab runs no Kubernetes (the real 1.20 cluster is
test_kubernetes_real.py's, where probe-timeout's plain Deployment, npu-log-configmap and job-path
are drilled for real), so kubectl on node1 is tests/doubles/kube_workloads_double.py —
Deployments, their pods, Warning events and a rook operator that puts a CephObjectStore's probe
timeout back into its rgw Deployment. It serves what the real cluster cannot: rook's operator
(probe-timeout's rook-owned case: no rook or Ceph here). nginx-restart's pod case (the portal's
nginx as a pod) is drilled on the real cluster with real nginx (test_kubernetes_real.py).
grafana-address: no grafana or platform portal can run offline here, so the portal is
tests/doubles/fake-dashboard.py (reads grafana's URL from the seed's /etc/Dashboard/local.yaml,
answers 502 when grafana is not there) and grafana is Python's http.server on node3; the
config file, the TCP reachability and the service restart are real.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration import mttr

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME = "km-std"
SUBNET = "10.77.32.0/24"
GATEWAY = "10.77.32.1"
N1, N2, N3 = "km-std-node1", "km-std-node2", "km-std-node3"
REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "tests" / "doubles" / "kube_workloads_double.py"
DASHBOARD = REPO / "tests" / "doubles" / "fake-dashboard.py"
DASHBOARD_UNIT = """[Unit]
Description=TEST DOUBLE of the platform portal (tests/doubles/fake-dashboard.py)
[Service]
ExecStart=/usr/bin/python3 /usr/local/bin/fake-dashboard
[Install]
WantedBy=multi-user.target
"""
STATE = "/var/lib/kube-workloads-double/state.json"
USER_DATA = "/srv/userdata/keep.txt"


def deployment(ns: str, name: str, node: str, container: str, labels: dict,
               owner: dict | None = None) -> dict:
    meta = {"name": name, "namespace": ns, "labels": labels}
    if owner:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "nodeName": node, "containers": [{
                             "name": container, "image": f"registry.local/{container}:1",
                             "livenessProbe": {"httpGet": {"path": "/", "port": 8080},
                                               "timeoutSeconds": 1}}]}}}}


STORE_OWNER = {"apiVersion": "ceph.rook.io/v1", "kind": "CephObjectStore", "name": "my-store",
               "controller": True}
RGW = "rook-ceph-rgw-my-store-a"


def initial_state() -> dict:
    return {
        "nodes": [N1, N2, N3],
        "deployments": {
            "shop/web": deployment("shop", "web", N2, "web", {"app": "web"}),
            f"rook-ceph/{RGW}": deployment("rook-ceph", RGW, N2, "rgw",
                                           {"app": "rook-ceph-rgw", "rook_object_store": "my-store"},
                                           STORE_OWNER),
        },
        "customresources": {"cephobjectstore/rook-ceph/my-store": {
            "apiVersion": "ceph.rook.io/v1", "kind": "CephObjectStore",
            "metadata": {"name": "my-store", "namespace": "rook-ceph"},
            "spec": {"gateway": {"port": 80, "instances": 1}}}},
    }


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(NAME, nodes=3, subnet=SUBNET, outside=0)
    lab.ssh(N1, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
            "-o DPkg::Lock::Timeout=120 nginx iputils-ping python3-yaml >/dev/null", check=True)
    lab.ssh(N1, f"mkdir -p {Path(STATE).parent} /etc/kubernetes", check=True)
    push(lab, "/usr/bin/kubectl", DOUBLE.read_text())
    lab.ssh(N1, "chmod 0755 /usr/bin/kubectl", check=True)
    lab.ssh(N1, "printf 'apiVersion: v1\\nkind: Config\\n# TEST DOUBLE: kubectl is "
            "kube_workloads_double.py\\n' > /etc/kubernetes/admin.conf", check=True)
    state = initial_state()
    push(lab, STATE, json.dumps(state))
    for node in lab.nodes:
        lab.ssh(node, f"mkdir -p {Path(USER_DATA).parent} && echo precious > {USER_DATA}",
                check=True)
    return lab


def push(lab, path: str, text: str, node: str = N1) -> None:
    """Write a file on a node over ssh."""
    subprocess.run(["ssh", "-F", str(lab.ssh_config), node, f"cat > {path}"],
                   input=text, text=True, check=True, timeout=60)


def change_state(lab, code: str) -> None:
    """Run `code` with `s` = the double's state on node1, then save it (the fault injection)."""
    script = (f"import json\np={STATE!r}\ns=json.load(open(p))\n{code}\n"
              "json.dump(s, open(p, 'w'))\n")
    lab.ssh(N1, f"python3 - <<'EOF'\n{script}EOF", check=True)


def kubectl(lab, args: str) -> str:
    return lab.ssh(N1, f"kubectl {args}", check=True).stdout


def doctor(lab) -> list[dict]:
    result = lab.kubemedic("doctor", "-c", NAME, "--json")
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)["findings"]


def named(found: list[dict], step: str) -> list[dict]:
    return [f for f in found if f["step"] == step and f["severity"] != "info"]


def run_printed(lab, command: str, *extra: str) -> dict:
    """Run the command doctor printed, as an operator pastes it (plus --yes --json)."""
    argv = shlex.split(command)
    assert argv[0] == "kubemedic", command
    result = lab.kubemedic(*argv[1:], *extra, "--yes", "--json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


def user_data_survived(lab) -> None:
    for node in lab.nodes:
        assert lab.ssh(node, f"cat {USER_DATA}").stdout.strip() == "precious", node


def test_probe_timeout_plain_and_rook_owned(lab) -> None:
    """Seed 002: LAN latency (2 s) above the 1 s liveness timeout. The plain Deployment's probe is
    patched; rook's rgw Deployment would be put back by the operator (shown first with the old
    step's kubectl patch), so the CephObjectStore's healthCheck is patched. Fails before the fix:
    the step patched the rgw Deployment, the operator undid it, the rollout never finished."""
    started = time.monotonic()
    change_state(lab, f"s['latency'] = {{'shop/web': 2, 'rook-ceph/{RGW}': 2}}")
    before = doctor(lab)
    events = [f for f in named(before, "probe-timeout") if f["check"].startswith("event:")]
    commands = sorted({f["command"] for f in events if f["host"] == N2})
    assert commands == sorted(
        f"kubemedic recover probe-timeout -c {NAME} --limit {N1} -e kube_api_probe_namespace={ns}"
        f" -e kube_api_probe_deployment={name}" for ns, name in (("shop", "web"), ("rook-ceph", RGW))
    ), events
    assert any("CephObjectStore my-store" in f["message"] for f in events)
    # What the step did before the fix: patch the rgw Deployment. The operator puts 1 s back.
    kubectl(lab, f"-n rook-ceph patch deployment {RGW} --type=json -p "
                 "'[{\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/livenessProbe/"
                 "timeoutSeconds\",\"value\":5}]'")
    rgw = json.loads(kubectl(lab, f"-n rook-ceph get deployment {RGW} -o json"))
    assert rgw["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["timeoutSeconds"] == 1
    for command in commands:
        info = run_printed(lab, command)
        assert sum(h["changed"] for h in info["hosts"].values()) >= 1, info
    store = json.loads(kubectl(lab, "-n rook-ceph get cephobjectstore my-store -o json"))
    assert store["spec"]["healthCheck"]["livenessProbe"]["probe"]["timeoutSeconds"] == 5
    assert store["spec"]["gateway"] == {"port": 80, "instances": 1}, "the CR lost its settings"
    web = json.loads(kubectl(lab, "-n shop get deployment web -o json"))
    assert web["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["timeoutSeconds"] == 5
    after = doctor(lab)
    left = [f for f in after if f["host"] == N2 and (f["step"] == "probe-timeout"
                                                      or f["check"] == "pod-restarts")]
    print(f"\ndrill probe-timeout (plain + rook) {time.monotonic() - started:6.1f} s "
          "injection -> clean")
    assert left == [], left
    mttr.record("probe-timeout", N2, ["2 s latency over a 1 s liveness timeout (Deployment + rgw)"],
                started)
    # A second run changes nothing (the CR already says 5 s).
    info = run_printed(lab, commands[0])
    assert sum(h["changed"] for h in info["hosts"].values()) == 0, info
    user_data_survived(lab)


def test_nginx_restart_host_unit(lab) -> None:
    """Seed 000 #11, the host's nginx: its unit disabled and stopped (real nginx). Doctor names
    nginx-restart; the step enables it, restarts it and it answers from another node. (The
    portal's nginx pod case is drilled on the real cluster: test_kubernetes_real.py's
    test_nginx_restart_drill_on_the_portal_pod_of_the_real_cluster.)"""
    started = time.monotonic()
    lab.ssh(N1, "systemctl disable --now nginx", check=True)
    before = doctor(lab)
    found = [f for f in named(before, "nginx-restart") if f["host"] == N1]
    assert [(f["check"], f["command"]) for f in found] == [
        ("nginx-active", f"kubemedic recover nginx-restart -c {NAME} --limit {N1}")], found
    run_printed(lab, found[0]["command"])
    assert lab.ssh(N1, "systemctl is-enabled nginx && systemctl is-active nginx").returncode == 0
    answer = lab.ssh(N2, f"python3 -c \"import urllib.request as u; print(u.urlopen('http://"
                         f"{lab.nodes[N1]}/').status)\"", check=True).stdout.strip()
    assert answer == "200"
    after = doctor(lab)
    left = [f for f in after if f["host"] == N1 and f["severity"] != "info"
            and ("nginx" in f["check"] or f["step"] == "nginx-restart")]
    print(f"\ndrill nginx-restart (host unit) {time.monotonic() - started:6.1f} s "
          "injection -> clean")
    assert left == [], left
    mttr.record("nginx-restart", N1, ["host nginx disabled and stopped"], started)
    user_data_survived(lab)


def test_network_reapply_restores_peer_reachability(lab) -> None:
    """Seed 000 #10: node2's cluster address carries a /32 netmask and its default route is gone
    (what a config that did not take leaves), so it reaches no peer; the dev-box reaches it over
    a host route. Doctor names
    network-reapply on node2 only (node1 and node3 each miss one peer: a warning, no step)."""
    ip = lab.nodes[N2]
    started = time.monotonic()
    lab.ssh(N2, f"ip addr add {ip}/32 dev eth0 && ip route add {GATEWAY}/32 dev eth0 src {ip} "
                f"&& ip addr del {ip}/24 dev eth0 && (ip route del default || true)", check=True)
    reach = (f"python3 -c \"import socket; socket.create_connection(('{lab.nodes[N3]}', 22), "
             "timeout=3)\"")
    assert lab.ssh(N2, reach).returncode != 0, "the fault did not cut node2 off its peers"
    before = doctor(lab)
    critical = [f for f in before if f["check"] == "peers-unreachable"]
    assert [(f["host"], f["command"]) for f in critical] == [
        (N2, f"kubemedic recover network-reapply -c {NAME} --limit {N2}")], critical
    warned = {f["host"] for f in before if f["check"] == "peer-unreachable"}
    assert warned == {N1, N3}, before
    # The operator adds the gateway (the seed's `ip route add default via`): doctor cannot know it.
    info = run_printed(lab, critical[0]["command"], "-e", f"network_default_gateway={GATEWAY}")
    assert sum(h["changed"] for h in info["hosts"].values()) >= 1
    assert lab.ssh(N2, reach).returncode == 0, "node2 still cannot reach node3"
    assert f"default via {GATEWAY}" in lab.ssh(N2, "ip route show default", check=True).stdout
    addresses = lab.ssh(N2, "ip -4 -o addr show dev eth0", check=True).stdout
    assert f"{ip}/24" in addresses and f"{ip}/32" not in addresses, addresses
    after = doctor(lab)
    left = [f for f in after if f["check"] in ("peers-unreachable", "peer-unreachable")]
    print(f"\ndrill network-reapply {time.monotonic() - started:6.1f} s injection -> clean")
    assert left == [], left
    mttr.record("network-reapply", N2, ["/32 netmask, default route gone"], started)
    # Idempotent: nothing to do on a healthy node.
    info = run_printed(lab, critical[0]["command"])
    assert sum(h["changed"] for h in info["hosts"].values()) == 0, info
    user_data_survived(lab)


def test_grafana_address_fixes_the_portals_502(lab) -> None:
    """Seed 000 #13: the portal's grafana panel answers 502 because local.yaml names a wrong
    grafana IP. With portal_grafana_url in the inventory, doctor names grafana-address; the step
    backs the file up, writes the right URL, restarts the portal; the panel answers 200."""
    grafana = f"http://{lab.nodes[N3]}:3000/"
    lab.ssh(N3, "mkdir -p /srv/grafana && echo grafana-ok > /srv/grafana/index.html && "
                "systemd-run --unit grafana-double -p WorkingDirectory=/srv/grafana "
                "/usr/bin/python3 -m http.server 3000", check=True)
    push(lab, "/usr/local/bin/fake-dashboard", DASHBOARD.read_text())
    push(lab, "/etc/systemd/system/dashboard.service", DASHBOARD_UNIT)
    lab.ssh(N1, f"mkdir -p /etc/Dashboard && printf 'title: portal\\ngrafana: {grafana}\\n' > "
                "/etc/Dashboard/local.yaml && systemctl daemon-reload && "
                "systemctl enable --now dashboard", check=True)
    panel = ("python3 -c \"import urllib.request as u, urllib.error as e\ntry: print(u.urlopen("
             "'http://127.0.0.1:8088/grafana/', timeout=10).status)\nexcept e.HTTPError as x: "
             "print(x.code)\"")
    assert wait_for(lambda: lab.ssh(N1, panel).stdout.strip() == "200"), "portal never answered"
    group_vars = lab.inventory / "group_vars" / "all.yml"
    group_vars.write_text(group_vars.read_text() + f"portal_grafana_url: {grafana}\n")
    started = time.monotonic()
    lab.ssh(N1, "sed -i 's|^grafana: .*|grafana: http://10.77.32.99:3000/|' "
                "/etc/Dashboard/local.yaml && systemctl restart dashboard", check=True)
    assert wait_for(lambda: lab.ssh(N1, panel).stdout.strip() == "502"), "the fault gave no 502"
    before = doctor(lab)
    found = [f for f in named(before, "grafana-address") if f["host"] == N1]
    assert [f["command"] for f in found] == [
        f"kubemedic recover grafana-address -c {NAME} --limit {N1}"], before
    info = run_printed(lab, found[0]["command"])
    assert sum(h["changed"] for h in info["hosts"].values()) >= 1
    assert lab.ssh(N1, panel).stdout.strip() == "200"
    text = lab.ssh(N1, "cat /etc/Dashboard/local.yaml", check=True).stdout
    assert text == f"title: portal\ngrafana: {grafana}\n", text
    backups = lab.ssh(N1, "grep -l 10.77.32.99 /etc/Dashboard/local.yaml.*~").stdout
    assert backups.strip(), "no backup of the hand-edited local.yaml"
    after = doctor(lab)
    left = [f for f in after if f["check"].startswith("grafana")]
    print(f"\ndrill grafana-address {time.monotonic() - started:6.1f} s injection -> clean")
    assert left == [], left
    mttr.record("grafana-address", N1, ["wrong grafana address in the portal config"], started)
    info = run_printed(lab, found[0]["command"])
    assert sum(h["changed"] for h in info["hosts"].values()) == 0, info
    user_data_survived(lab)


def wait_for(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1)
    return False
