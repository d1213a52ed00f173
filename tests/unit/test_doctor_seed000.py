"""Doctor's findings for the seed 000 steps of issue 14 and the rook case of seed 002, on recorded
probe shapes (the drills in tests/integration/test_drills_seed000.py run the same on lab nodes).
Each fails before the fix: no peer check existed, the portal's nginx (pod or unit) named no step
with the Deployment, and the events of a pod a rollout replaced kept doctor unclean."""

from __future__ import annotations

import copy
import importlib.util
import json
import time
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from kubemedic.doctor import checks
from tests.unit.test_doctor_checks import HEALTHY, SETTINGS
from tests.unit.test_doctor_commands import assert_runnable

REPO = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_netcfg", REPO / "plugins" / "filter" / "kubemedic_netcfg.py")
netcfg = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(netcfg)
MASTER = {**SETTINGS, "groups": ["masters"], "first_master": "master1"}


def probe(**parts) -> dict:
    out = copy.deepcopy(HEALTHY)
    out.update(parts)
    return out


def test_a_node_reaching_no_peer_is_told_to_reapply_its_network() -> None:
    down = {"checked": 2, "unreachable": {"w1": "10.0.0.12:22: EHOSTUNREACH No route to host",
                                          "w2": "10.0.0.13:22: timed out"}}
    [found] = [f for f in checks.evaluate("master1", probe(peers=down), MASTER)
               if "peer" in f["check"]]
    assert (found["check"], found["severity"], found["step"]) == (
        "peers-unreachable", "critical", "network-reapply")
    assert found["command"] == "kubemedic recover network-reapply -c acme --limit master1"
    assert_runnable(found["command"], "master1")


def test_one_unreachable_peer_among_many_is_that_peers_problem() -> None:
    one = {"checked": 3, "unreachable": {"w2": "10.0.0.13:22: timed out"}}
    [found] = [f for f in checks.evaluate("master1", probe(peers=one), MASTER)
               if "peer" in f["check"]]
    assert (found["check"], found["step"], found["command"]) == ("peer-unreachable", None, None)
    assert not [f for f in checks.evaluate("master1", probe(peers={"checked": 3, "unreachable": {}}),
                                           MASTER) if "peer" in f["check"]]


def test_host_nginx_down_names_nginx_restart_and_absent_nginx_says_nothing() -> None:
    services = copy.deepcopy(HEALTHY["services"])
    services["nginx"] = {"installed": True, "active": False, "state": "inactive"}
    found = [f for f in checks.evaluate("master1", probe(services=services), MASTER)
             if f["check"].startswith("nginx")]
    assert [(f["check"], f["step"], f["command"]) for f in found] == [
        ("nginx-active", "nginx-restart", "kubemedic recover nginx-restart -c acme --limit master1")]
    services["nginx"] = {"installed": False, "active": False, "state": "not-found"}
    assert not [f for f in checks.evaluate("master1", probe(services=services), MASTER)
                if "nginx" in f["check"]]


def _pod(name: str, node: str, message: str) -> dict:
    return {"metadata": {"namespace": "default", "name": f"{name}-6d4cf56db6-x7k2p",
                         "labels": {"app": name, "pod-template-hash": "6d4cf56db6"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"{name}-6d4cf56db6"}]},
            "spec": {"nodeName": node},
            "status": {"containerStatuses": [{"name": "nginx", "restartCount": 3, "state": {
                "waiting": {"reason": "CrashLoopBackOff", "message": message}}}]}}


def _view(pods: list, events: list | None = None) -> dict:
    return {"available": True, "kubeconfig_present": True, "now": time.time(),
            "nodes": {"items": [{"metadata": {"name": "master1"}, "status": {"conditions": [
                {"type": "Ready", "status": "True"}]}}]},
            "pods": {"items": pods}, "events": {"items": events or []}, "errors": {}}


@pytest.mark.parametrize("message", [
    "back-off 5m0s restarting failed container=nginx",                       # no KB match
    "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)",  # KB nginx-down
])
def test_portal_nginx_pod_down_names_the_deployment_from_the_first_master(message) -> None:
    view = _view([_pod("nginx", "worker1", message)])
    found = [f for f in checks.evaluate("worker1", probe(cluster=view),
                                        {**SETTINGS, "first_master": "master1"})
             if f["step"] == "nginx-restart"]
    assert [f["command"] for f in found] == [
        "kubemedic recover nginx-restart -c acme --limit master1 -e nginx_pod_namespace=default "
        "-e nginx_pod_deployment=nginx"], found
    assert_runnable(found[0]["command"], "master1")


def _running(name: str, container: str, ready: bool, for_seconds: float) -> dict:
    pod = _pod(name, "master1", "")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - for_seconds))
    pod["status"]["containerStatuses"][0].update(name=container, restartCount=0, ready=ready,
                                                 state={"running": {"startedAt": started}})
    return pod


def test_portal_nginx_pod_running_unready_names_nginx_restart_after_a_minute() -> None:
    """Seed 000 #11 as the seed saw it: the portal's pod Running, nginx not up inside (its
    readiness probe fails), nothing restarts it. Not before NOT_READY_AFTER seconds (a pod that
    is starting), and only for the portal's container (an application's unready pod is its own)."""
    def nginx_findings(pod: dict) -> list[dict]:
        return [f for f in checks.evaluate("master1", probe(cluster=_view([pod])), MASTER)
                if f["step"] == "nginx-restart"]

    [found] = nginx_findings(_running("nginx", "nginx", ready=False, for_seconds=300))
    assert (found["check"], found["severity"]) == ("portal-nginx-pod", "critical"), found
    assert "fails its readiness probe" in found["message"], found
    assert found["command"] == ("kubemedic recover nginx-restart -c acme --limit master1 "
                                "-e nginx_pod_namespace=default -e nginx_pod_deployment=nginx")
    assert_runnable(found["command"], "master1")
    assert nginx_findings(_running("nginx", "nginx", ready=False, for_seconds=20)) == []
    assert nginx_findings(_running("nginx", "nginx", ready=True, for_seconds=300)) == []
    app = _running("shop", "web", ready=False, for_seconds=300)
    assert [f for f in checks.evaluate("master1", probe(cluster=_view([app])), MASTER)
            if f["check"].startswith("pod")] == []


NGINX_CRASH = ('2026/12/04 19:19:50 [emerg] 1#1: unknown directive "lsten" in '
               "/etc/nginx/conf.d/default.conf:1")


def _with_container_log(view: dict, origin: str) -> dict:
    return probe(cluster=view, logs={"journal": "", "kernel": "", "container": f"ok\n{NGINX_CRASH}",
                                     "container_origins": [[1, origin]]})


def test_a_pods_own_log_names_that_pods_repair_and_explains_its_generic_finding() -> None:
    """Seen on the real cluster: the portal pod's nginx log line matched a signature on node1
    and doctor named `recover nginx-restart --limit node1` without the Deployment (a no-op on a
    host without nginx). A container log line now carries its pod (the probe's
    container_origins): the repair is that pod's, and the pod's generic finding folds under it;
    the log of a pod that is gone is history."""
    crashing = _pod("nginx", "master1", "back-off 10s restarting failed container=nginx")
    pod = crashing["metadata"]["name"]
    found = checks.evaluate("master1", _with_container_log(
        _view([crashing]), f"default/{pod}/nginx"), MASTER)
    named = {f["check"]: f for f in found if f["step"] == "nginx-restart"}
    pod_command = ("kubemedic recover nginx-restart -c acme --limit master1 "
                   "-e nginx_pod_namespace=default -e nginx_pod_deployment=nginx")
    log = next(f for c, f in named.items() if c.startswith("log:"))
    assert (log["command"], log["subject"], log["caused_by"]) == (
        pod_command, f"default/{pod}", None), log
    assert f"of pod default/{pod}" in log["message"], log
    assert named["portal-nginx-pod"]["caused_by"] == log["check"], named
    gone = checks.evaluate("master1", _with_container_log(
        _view([]), "default/nginx-6d4cf56db6-gone1/nginx"), MASTER)
    assert [f for f in gone if f["step"] == "nginx-restart"] == [], gone
    host = checks.evaluate("master1", _with_container_log(_view([]), ""), MASTER)
    assert [f["command"] for f in host if f["step"] == "nginx-restart"] == [
        "kubemedic recover nginx-restart -c acme --limit master1"], host


def test_events_of_a_replaced_deployment_pod_are_history() -> None:
    event = {"type": "Warning", "reason": "Unhealthy", "count": 65,
             "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-6d4cf56db6-x7k2p"},
             "source": {"host": "worker1"},
             "message": 'Liveness probe failed: Get "http://10.244.1.5:8080/": net/http: request '
                        "canceled (Client.Timeout exceeded while awaiting headers)"}
    live = _pod("web", "worker1", "")
    live["metadata"]["namespace"] = "shop"
    live["status"]["containerStatuses"][0].update(restartCount=0, state={"running": {}})
    settings = {**SETTINGS, "first_master": "master1"}
    found = checks.evaluate("worker1", probe(cluster=_view([live], [event])), settings)
    assert [f["check"] for f in found if f["check"].startswith("event:")] == [
        "event:liveness-probe-timeout"]
    replaced = copy.deepcopy(live)
    replaced["metadata"]["name"] = "web-5f7b9c8d4b-q2w8z"
    found = checks.evaluate("worker1", probe(cluster=_view([replaced], [event])), settings)
    assert not [f for f in found if f["check"].startswith("event:")], found


IP_ADDR = json.dumps([
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.77.32.12", "prefixlen": 32}]},
])


def test_address_fix_puts_the_subnet_netmask_back() -> None:
    assert netcfg.address_fix(IP_ADDR, "10.77.32.12", "10.77.32.0/24") == {
        "device": "eth0", "wanted": "10.77.32.12/24", "present": False,
        "wrong": ["10.77.32.12/32"]}
    good = IP_ADDR.replace('"prefixlen": 32', '"prefixlen": 24')
    assert netcfg.address_fix(good, "10.77.32.12", "10.77.32.0/24")["wrong"] == []


@pytest.mark.parametrize(("address", "cidr", "match"), [
    ("10.77.32.99", "10.77.32.0/24", "no interface holds"),
    ("10.77.33.12", "10.77.32.0/24", "is not in"),
    ("10.77.32.12", "not-a-cidr", "kubemedic_address_fix"),
])
def test_address_fix_refuses_what_it_cannot_know(address, cidr, match) -> None:
    with pytest.raises(AnsibleFilterError, match=match):
        netcfg.address_fix(IP_ADDR, address, cidr)


def test_peer_addresses_are_the_other_hosts() -> None:
    hostvars = {"n1": {"ansible_host": "10.0.0.11"}, "n2": {"ansible_host": "10.0.0.12"}, "n3": {}}
    assert netcfg.peer_addresses(["n1", "n2", "n3"], hostvars, "n1") == {
        "n2": "10.0.0.12", "n3": "n3"}
