"""plugins/filter/kubemedic_kube.py: the JSON patch `recover probe-timeout` sends with
`kubectl patch --type=json`. A wrong index patches another container; a patch for a container
already at the wanted timeout makes the step restart pods (a rollout) on every rerun."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "kubemedic_kube", REPO / "plugins" / "filter" / "kubemedic_kube.py")
kube = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(kube)


def deployment(*containers: dict) -> dict:
    return {"kind": "Deployment", "spec": {"template": {"spec": {"containers": list(containers)}}}}


def op(index: int, value: int = 5) -> dict:
    return {"op": "add", "path": f"/spec/template/spec/containers/{index}/livenessProbe/timeoutSeconds",
            "value": value}


RGW = deployment(
    {"name": "log-collector"},                                          # no livenessProbe
    {"name": "rgw", "livenessProbe": {"httpGet": {"path": "/"}, "timeoutSeconds": 1}},
    {"name": "sidecar", "livenessProbe": {"exec": {"command": ["true"]}}},  # default 1 s
    {"name": "done", "livenessProbe": {"timeoutSeconds": 5}},
)


@pytest.mark.parametrize(("obj", "timeout", "container", "patch"), [
    (RGW, 5, "", [op(1), op(2)]),
    (RGW, "5", "", [op(1), op(2)]),                          # -e on the command line is a string
    (RGW, 5, "rgw", [op(1)]),
    (RGW, 5, "done", []),                                    # already right: no rollout
    (RGW, 5, "log-collector", []),                           # no probe to change
    (RGW, 1, "", [op(3, 1)]),                                # lowering works the same way
    (deployment({"name": "a", "livenessProbe": {"timeoutSeconds": "5"}}), 5, "", []),
    (deployment({"name": "a", "livenessProbe": None}), 5, "", [op(0)]),
    (deployment(), 5, "", []),
])
def test_probe_timeout_patch(obj, timeout, container, patch) -> None:
    assert kube.probe_timeout_patch(obj, timeout, container) == patch


def test_kubectl_json_text_is_accepted() -> None:
    assert kube.probe_timeout_patch(json.dumps(RGW), 5, "rgw") == [op(1)]


@pytest.mark.parametrize("obj", ["{not json", "[]", json.dumps({"kind": "Service", "spec": {}})])
def test_not_a_deployment_fails_clearly(obj) -> None:
    with pytest.raises(AnsibleFilterError, match="kubemedic_probe_timeout_patch"):
        kube.probe_timeout_patch(obj, 5)


def _role_expression() -> tuple[str, str, str, str]:
    """The set_fact that calls the filter, wherever the probe-timeout tasks live, and the names of
    the variables it passes (kubectl's registered output, the timeout, the container)."""
    for path in sorted(REPO.glob("roles/*/tasks/*probe_timeout.yml")):
        for task in yaml.safe_load(path.read_text()):
            for expression in (task.get("ansible.builtin.set_fact") or {}).values():
                call = re.search(r"(\w+)\.stdout \| kubemedic\.cluster\.kubemedic_probe_timeout_patch"
                                 r"\((\w+), (\w+)\)", str(expression))
                if call:
                    return (str(expression), *call.groups())
    raise AssertionError("no probe_timeout.yml task calls kubemedic_probe_timeout_patch")


def test_the_role_task_calls_the_filter() -> None:
    """The expression in the role's probe_timeout.yml, rendered by ansible-core."""
    init_plugin_loader()  # ansible.cfg's collections_path: the role calls the kubemedic.cluster filter
    expression, registered, timeout, container = _role_expression()
    templar = Templar(loader=DataLoader(), variables={
        registered: {"stdout": json.dumps(RGW)}, timeout: "5", container: ""})
    assert templar.template(trust_as_template(expression)) == [op(1), op(2)]


def test_blocked_budgets_names_those_allowing_no_disruption() -> None:
    listing = {"items": [
        {"metadata": {"namespace": "default", "name": "sleeper"}, "status": {"disruptionsAllowed": 0}},
        {"metadata": {"namespace": "shop", "name": "web"}, "status": {"disruptionsAllowed": 1}},
        {"metadata": {"namespace": "new", "name": "fresh"}, "status": {}},  # not yet computed
        "junk"]}
    assert kube.blocked_budgets(listing) == ["default/sleeper"]
    assert kube.blocked_budgets(json.dumps(listing)) == ["default/sleeper"]
    for nothing in ("", "not json", '"a string"', '{"items": {}}', None, 7):
        assert kube.blocked_budgets(nothing) == []
