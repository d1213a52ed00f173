"""recover probe-timeout on a rook-owned Deployment (seed 002, issue 14): a patch of the rgw
Deployment is undone by the rook operator, so the step must find the owner and patch the
CephObjectStore's / CephCluster's healthCheck instead; a plain Deployment is patched itself.
Regressions: before the fix the step patched every Deployment directly (these filters did not
exist and recover_probe_timeout.yml had no owner branch)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_kube", REPO / "plugins" / "filter" / "kubemedic_kube.py")
kube = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kube)


def deploy(name: str, owners: list[dict] | None = None, app: str = "") -> dict:
    meta = {"name": name, "namespace": "rook-ceph", "labels": {"app": app} if app else {}}
    if owners is not None:
        meta["ownerReferences"] = owners
    return {"kind": "Deployment", "metadata": meta,
            "spec": {"template": {"spec": {"containers": [
                {"name": "rgw", "livenessProbe": {"timeoutSeconds": 1}}]}}}}


STORE = {"apiVersion": "ceph.rook.io/v1", "kind": "CephObjectStore", "name": "my-store",
         "controller": True}
CLUSTER = {"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "name": "rook-ceph"}


def test_rgw_deployment_is_owned_by_its_object_store() -> None:
    owner = kube.probe_owner(json.dumps(deploy("rook-ceph-rgw-my-store-a", [STORE],
                                               "rook-ceph-rgw")))
    assert owner == {"kind": "CephObjectStore", "resource": "cephobjectstore",
                     "name": "my-store", "daemon": "rgw",
                     "path": "spec.healthCheck.livenessProbe.probe.timeoutSeconds"}


def test_mon_deployment_is_owned_by_the_ceph_cluster() -> None:
    owner = kube.probe_owner(deploy("rook-ceph-mon-a", [CLUSTER], "rook-ceph-mon"))
    assert (owner["kind"], owner["daemon"], owner["path"]) == (
        "CephCluster", "mon", "spec.healthCheck.livenessProbe.mon.probe.timeoutSeconds")


@pytest.mark.parametrize("owners", [None, [], [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                "name": "x"}],
                                    [CLUSTER]])  # a CephCluster-owned non-daemon: no healthCheck
def test_other_deployments_are_patched_themselves(owners) -> None:
    owner = kube.probe_owner(deploy("web", owners, "web"))
    assert owner["kind"] == "Deployment" and owner["name"] == "web" and owner["path"] == ""


STORE_PATH = "spec.healthCheck.livenessProbe.probe.timeoutSeconds"


@pytest.mark.parametrize(("resource", "timeout", "patch"), [
    ({"spec": {}}, 5, {"spec": {"healthCheck": {"livenessProbe": {"probe": {
        "timeoutSeconds": 5}}}}}),
    ({"spec": {"healthCheck": {"livenessProbe": {"probe": {"timeoutSeconds": 1}}}}}, "5",
     {"spec": {"healthCheck": {"livenessProbe": {"probe": {"timeoutSeconds": 5}}}}}),
    ({"spec": {"healthCheck": {"livenessProbe": {"probe": {"timeoutSeconds": 5}}}}}, 5, {}),
    ({"spec": {"healthCheck": {"livenessProbe": {"disabled": True}}}}, 5, {}),
    ({"spec": {"healthCheck": None}}, 5, {"spec": {"healthCheck": {"livenessProbe": {
        "probe": {"timeoutSeconds": 5}}}}}),
])
def test_object_store_merge_patch(resource, timeout, patch) -> None:
    owner = {"path": STORE_PATH}
    assert kube.rook_probe_patch(json.dumps(resource), owner, timeout) == patch


def test_ceph_cluster_merge_patch_names_the_daemon() -> None:
    owner = kube.probe_owner(deploy("rook-ceph-osd-0", [CLUSTER], "rook-ceph-osd"))
    cluster = {"spec": {"healthCheck": {"livenessProbe": {"mon": {"probe": {"timeoutSeconds": 9}}}}}}
    assert kube.rook_probe_patch(cluster, owner, 5) == {
        "spec": {"healthCheck": {"livenessProbe": {"osd": {"probe": {"timeoutSeconds": 5}}}}}}


def test_bad_input_is_a_filter_error() -> None:
    with pytest.raises(AnsibleFilterError, match="kubemedic_probe_owner"):
        kube.probe_owner("not json")
    with pytest.raises(AnsibleFilterError, match="no rook owner"):
        kube.rook_probe_patch({}, {"path": ""}, 5)


def test_the_step_branches_on_the_owner() -> None:
    """recover_probe_timeout.yml patches the Deployment only when nobody owns it, and includes
    the rook file, which patches the CR and waits for the operator's rollout."""
    tasks = yaml.safe_load((REPO / "roles/kube_api/tasks/recover_probe_timeout.yml").read_text())
    by_name = {t["name"]: t for t in tasks}
    patch = by_name["Probe timeout | patch livenessProbe.timeoutSeconds"]
    assert "_kube_api_probe_owner.kind == 'Deployment'" in patch["when"]
    rook = next(t for t in tasks if "include_tasks" in str(t) and "probe_timeout_rook" in str(t))
    assert rook["when"] == "_kube_api_probe_owner.kind != 'Deployment'"
    text = (REPO / "roles/kube_api/tasks/probe_timeout_rook.yml").read_text()
    assert "--type=merge" in text and "kubemedic_rook_probe_patch" in text
