"""Xid parsing, policy validation and the healing decision engine (pure Python)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubemedic.heal import xid
from kubemedic.heal.policy import (
    NodeState,
    PolicyError,
    decide,
    load_policy,
    parse_duration,
    parse_policy,
)

SEED_LINE = "NVRM: Xid (0000:03:00): 62, Channel 00000001"  # seed 003, verbatim
DRIVER_LINE = ("[Thu Jul  4 11:09:40 2024] NVRM: Xid (PCI:0000:10:1c): 79, pid=1896, "
               "GPU has fallen off the bus.")


def test_parse_seed_and_driver_formats() -> None:
    text = f"random line\n{SEED_LINE}\nkernel: eth0 up\n{DRIVER_LINE}\n{SEED_LINE}\n"
    events = xid.parse(text)
    assert [(e.code, e.pci) for e in events] == [(62, "0000:03:00"), (79, "0000:10:1c"),
                                                 (62, "0000:03:00")]
    assert events[0].detail == "Channel 00000001"
    assert xid.codes(events) == [62, 79]
    assert xid.parse("NVRM: GPU at PCI:0000:03:00: GPU-abc\nXid is a word") == []


@pytest.mark.parametrize(("text", "seconds"), [("20m", 1200), ("20min", 1200), ("1h30m", 5400),
                                              ("1day3h5min", 97500), (90, 90), ("45s", 45)])
def test_durations(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "20x", "soon", "-5", True, "m20"])
def test_bad_durations(text) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("codes", "rule", "actions"), [
    # NVIDIA's catalog, class app: application faults and informational events never take a node
    # out of service (issue 13: Xid 13/31/43 never reboot a node by default)
    ([13], "xid-app", ["notify"]), ([31], "xid-app", ["notify"]), ([43], "xid-app", ["notify"]),
    ([63], "xid-app", ["notify"]), ([92], "xid-app", ["notify"]), ([94], "xid-app", ["notify"]),
    # RESET_GPU / NVLink workflow: drain + reboot (the reboot resets the GPU, reloads the driver)
    ([62], "xid-reset", ["cordon", "drain", "reboot"]),
    ([74], "xid-reset", ["cordon", "drain", "reboot"]),
    ([95], "xid-reset", ["cordon", "drain", "reboot"]),
    ([119], "xid-reset", ["cordon", "drain", "reboot"]),
    ([120], "xid-reset", ["cordon", "drain", "reboot"]),
    # RESTART_BM (79) and the double-bit ECC workflow (48): node reboot
    ([48], "xid-reboot", ["cordon", "drain", "reboot"]),
    ([79], "xid-reboot", ["cordon", "drain", "reboot"]),
    # row-remapping failure: drain and call hardware support
    ([64], "xid-rma", ["cordon", "drain", "notify"]),
    # a node's worst class wins: an application fault next to an RMA fault
    ([13, 64], "xid-rma", ["cordon", "drain", "notify"]),
    ([31, 79], "xid-reboot", ["cordon", "drain", "reboot"]),
    # not in NVIDIA's table: the global rule only notifies
    ([999], "global", ["notify"]),
    # GPU faults without an Xid (the catalog's events): the class NVIDIA's documentation gives
    (["gpu-init-failed"], "xid-reset", ["cordon", "drain", "reboot"]),
    (["gpu-reset-required"], "xid-reset", ["cordon", "drain", "reboot"]),
    (["row-remap-pending"], "xid-reset", ["cordon", "drain", "reboot"]),
    (["page-retirement-pending"], "xid-reboot", ["cordon", "drain", "reboot"]),
    (["row-remap-failure"], "xid-rma", ["cordon", "drain", "notify"]),
    # an application Xid next to a pending remap: the remap needs the reset
    ([94, "row-remap-pending"], "xid-reset", ["cordon", "drain", "reboot"]),
])
def test_default_policy_follows_the_xid_catalog_classes(codes, rule, actions) -> None:
    policy = load_policy(None)
    found, code = policy.best_rule(codes, {})
    assert (found.name, [a.name for a in found.actions]) == (rule, actions)
    if "reboot" in actions:
        assert found.actions[-1].uncordon
    if found.name == "xid-rma":
        assert "hardware support" in found.actions[-1].message
    assert xid.xid_class(code) == (rule.removeprefix("xid-") if rule != "global" else None)


def test_default_policy_lists_classes_not_codes() -> None:
    """One source: the default policy selects by catalog class; the catalog decides each Xid."""
    raw = yaml.safe_load(Path(xid.__file__).parents[1].joinpath(
        "data", "xid-policy-default.yml").read_text())
    assert all(not r.get("error_codes") for r in raw["rules"])
    assert sorted(c for r in raw["rules"] for c in r.get("xid_classes", [])) == \
        sorted(xid.CLASSES)


def test_xid_classes_in_a_custom_policy_and_their_validation() -> None:
    policy = parse_policy({"rules": [
        {"name": "global", "priority": 0, "actions": ["cordon"]},
        {"name": "apps-too", "priority": 5, "xid_classes": ["app"], "error_codes": [79],
         "actions": [{"name": "notify", "message": "m"}]}]}, "p.yml")
    assert policy.best_rule([31], {})[0].name == "apps-too"      # by class
    assert policy.best_rule([79], {})[0].name == "apps-too"      # by explicit code
    assert policy.best_rule([62], {})[0].name == "global"
    decision = decide(policy, {"h": {"node": "n", "codes": [31]}}, {}, ["n"])[0]
    assert "matches Xid 31 (catalog class app)" in decision.reason
    with pytest.raises(PolicyError) as err:
        parse_policy({"rules": [
            {"name": "g", "priority": 0, "xid_classes": ["app"], "actions": ["cordon"]},
            {"name": "x", "priority": 3, "xid_classes": ["explode"], "actions": ["cordon"]}]},
            "p.yml")
    problems = "\n".join(err.value.problems)
    assert "p.yml: rules[0]: priority 0 is the global rule" in problems
    assert "p.yml: rules[1].xid_classes[0]: 'explode' is not an Xid class" in problems


def test_error_codes_may_name_catalog_events_and_unknown_names_are_refused() -> None:
    policy = parse_policy({"rules": [
        {"name": "global", "priority": 0, "actions": ["cordon"]},
        {"name": "remap-later", "priority": 50, "error_codes": ["row-remap-pending"],
         "actions": [{"name": "notify", "message": "reset in the next window"}]}]}, "p.yml")
    assert policy.best_rule(["row-remap-pending"], {})[0].name == "remap-later"
    assert policy.best_rule(["gpu-init-failed"], {})[0].name == "global"
    decision = decide(policy, {"h": {"node": "n", "codes": ["row-remap-pending"]}}, {}, ["n"])[0]
    assert decision.trigger_code == "row-remap-pending"
    assert "matches row-remap-pending (no Xid)" in decision.reason
    with pytest.raises(PolicyError) as err:
        parse_policy({"rules": [{"name": "x", "priority": 3, "error_codes": ["row-remap"],
                                 "actions": ["cordon"]}]}, "p.yml")
    assert ("p.yml: rules[0].error_codes[0]: 'row-remap' is not an Xid number or a catalog "
            "event (gpu-init-failed, gpu-reset-required, row-remap-pending") in err.value.problems[0]


def _filter_plugin():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "kubemedic_heal.py"
    spec = importlib.util.spec_from_file_location("kubemedic_heal_filter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["kubemedic_heal_plan"]


def test_filter_plugin_heals_gpu_faults_without_an_xid_line() -> None:
    """heal.yml's scan as the filter `kubemedic_heal_plan` gets it: each host's NVRM lines and
    nvidia-smi output. Kernel lines verbatim from the corpus (training split): heal-ogkm-1230
    (a failed RmInitAdapter, GSP boot "may need to be reset"); nvidia-smi lines in its `-q` layout."""
    plan = _filter_plugin()
    scan = {"hosts": {
        "g1": ["[  101.209077] NVRM: GPU 0000:a1:00.0: RmInitAdapter failed! (0x62:0x40:2168)",
               "[  101.210899] NVRM: GPU 0000:a1:00.0: rm_init_adapter failed, device minor "
               "number 7"],
        "g2": [], "g3": [], "g4": []},
        "smi": {"g2": ["GPU 00000000:07:00.0", "    Remapped Rows",
                       "        Pending                           : Yes"],
                "g3": ["GPU 00000000:3B:00.0", "    Remapped Rows",
                       "        Remapping Failure Occurred        : Yes"],
                "g4": ["nvidia-smi: command not found"]},
        "nodes": {}}
    record = plan(scan, "", "", "true")
    findings = record["findings"]
    assert findings["g1"]["codes"] == ["gpu-init-failed"]
    assert findings["g1"]["events"][0]["pci"] == "0000:a1:00.0"
    assert findings["g2"]["codes"] == ["row-remap-pending"]
    assert findings["g2"]["events"][0]["pci"] == "00000000:07:00.0"
    assert findings["g4"]["codes"] == []
    by_host = {d["host"]: d for d in record["decisions"]}
    assert set(by_host) == {"g1", "g2", "g3"}
    # the rma fault takes the only max_unavailable slot; the resets wait for the next run
    assert (by_host["g3"]["rule"], by_host["g3"]["status"]) == ("xid-rma", "planned")
    assert [a["name"] for a in by_host["g3"]["actions"]] == ["cordon", "drain", "notify"]
    for host in ("g1", "g2"):
        assert (by_host[host]["rule"], by_host[host]["status"]) == ("xid-reset", "deferred")
    assert "matches row-remap-failure (no Xid) (catalog class rma)" in by_host["g3"]["reason"]
    assert record["act"] == [] and record["plan"][0]["host"] == "g3"
    # without the smi key (an older scan): the kernel log alone still decides
    alone = plan({"hosts": scan["hosts"], "nodes": {}}, "", "", "true")
    assert [(d["host"], d["rule"], d["status"]) for d in alone["decisions"]] == [
        ("g1", "xid-reset", "planned")]
    assert [a["name"] for a in alone["decisions"][0]["actions"]] == ["cordon", "drain", "reboot"]


POLICY = {
    "max_unavailable": 2,
    "warm_spare_label": "kubemedic.io/warm-spare=true",
    "rules": [
        {"name": "global", "priority": 0, "actions": ["cordon"]},
        {"name": "demo-62", "priority": 10, "error_codes": ["62"],
         "node_selector": {"operator": "any", "labels": {"app": "demo", "env": "test"}},
         "actions": [{"name": "reboot", "wait": "5m", "uncordon": "true"},
                     {"name": "cordon"}, {"name": "drain", "wait": "20min"}]},
        {"name": "all-62", "priority": 20, "error_codes": [62],
         "node_selector": {"operator": "all", "labels": {"app": "demo", "env": "prod"}},
         "actions": ["cordon", {"name": "warm-spare", "match": ["zone"]}]},
        {"name": "any-62-low", "priority": 5, "error_codes": [62, 63], "actions": ["cordon"]},
        {"name": "first-of-equal", "priority": 7, "error_codes": [63], "actions": ["cordon"]},
        {"name": "second-of-equal", "priority": 7, "error_codes": [63],
         "actions": ["cordon", "drain"]},
    ],
}


@pytest.mark.parametrize(("codes", "labels", "rule"), [
    ([62], {"app": "demo"}, "demo-62"),                       # any: one label is enough
    ([62], {"env": "test"}, "demo-62"),
    ([62], {"app": "demo", "env": "prod"}, "all-62"),         # all: both labels -> priority 20
    ([62], {"env": "prod"}, "any-62-low"),                    # all not met, any not met
    ([62], {}, "any-62-low"),
    ([63], {}, "first-of-equal"),                             # equal priority: file order
    ([31], {"app": "demo"}, "global"),                        # no code rule: global
    ([31, 62], {"app": "demo"}, "demo-62"),                   # worst code of the node wins
])
def test_rule_by_priority_and_selector(codes, labels, rule) -> None:
    policy = parse_policy(POLICY, "p.yml")
    assert policy.best_rule(codes, labels)[0].name == rule


def test_actions_run_in_canonical_order_and_accept_seed_spelling() -> None:
    policy = parse_policy(POLICY, "p.yml")
    rule = next(r for r in policy.rules if r.name == "demo-62")
    assert [a.to_json() for a in rule.actions] == [
        {"name": "cordon"}, {"name": "drain", "wait_seconds": 1200},
        {"name": "reboot", "wait_seconds": 300, "uncordon": True}]
    seed_style = parse_policy({"rules": [{"priority": 10, "errorCode": ["63", "64"],
                                          "nodeSelector": {"operator": "all",
                                                           "labels": {"app": "demo"}},
                                          "actions": [{"name": "cordon"}]}]}, "s.yml")
    assert seed_style.rules[0].error_codes == [63, 64]


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda p: p["rules"][1].update(priority=-1), "p.yml: rules[1].priority"),
    (lambda p: p["rules"][1].update(error_codes=["sixty"]), "p.yml: rules[1].error_codes[0]"),
    (lambda p: p["rules"][1].update(error_codes=[]), "p.yml: rules[1].error_codes"),
    (lambda p: p["rules"][1]["node_selector"].update(operator="most"),
     "p.yml: rules[1].node_selector.operator"),
    (lambda p: p["rules"][1]["actions"].append({"name": "explode"}),
     "p.yml: rules[1].actions[3].name: 'explode' is not an action"),
    (lambda p: p["rules"][1]["actions"][0].update(wait="20x"), "p.yml: rules[1].actions[0].wait"),
    (lambda p: p["rules"][1]["actions"][0].update(uncordon="maybe"),
     "p.yml: rules[1].actions[0].uncordon"),
    (lambda p: p["rules"][1]["actions"][1].update(speed=3), "p.yml: rules[1].actions[1].speed"),
    (lambda p: p["rules"][0].update(error_codes=[62]), "p.yml: rules[0]: priority 0 is the global"),
    (lambda p: p["rules"].append({"name": "g2", "priority": 0, "actions": ["cordon"]}),
     "more than one global"),
    (lambda p: p["rules"][2].update(actions=[{"name": "warm-spare"}]),
     "p.yml: rules[2].actions: warm-spare needs cordon"),
    (lambda p: p.update(max_unavailable="two"), "p.yml: max_unavailable"),
    (lambda p: p.update(warm_spare_label="spare"), "p.yml: warm_spare_label"),
    (lambda p: p.update(rulez=[]), "p.yml: rulez: unknown field"),
    (lambda p: p["rules"][3].update(name="global"), "rule name 'global' is used twice"),
])
def test_validation_names_file_and_field(mutate, expected) -> None:
    import copy

    data = copy.deepcopy(POLICY)
    mutate(data)
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "p.yml")
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_load_policy_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "xid-policy.yml"
    bad.write_text("rules: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    bad.write_text(yaml.safe_dump({"rules": [{"priority": 3, "error_codes": [62]}]}))
    with pytest.raises(PolicyError) as info:
        load_policy(bad)
    assert f"{bad}: rules[0].actions: needs a non-empty list" in info.value.problems[0]


def _nodes(**specs) -> dict[str, NodeState]:
    return {name: NodeState(name, **spec) for name, spec in specs.items()}


REBOOT_POLICY = {"max_unavailable": 1, "rules": [
    {"name": "global", "priority": 0, "actions": [{"name": "notify", "message": "look"}]},
    {"name": "reboot", "priority": 10, "error_codes": [48, 62, 64],
     "actions": ["cordon", {"name": "drain", "wait": "1m"},
                 {"name": "reboot", "wait": "2m", "uncordon": True}]},
    {"name": "bus", "priority": 20, "error_codes": [79],
     "actions": ["cordon", {"name": "notify", "message": "call a human"}]},
]}


def test_max_unavailable_defers_extra_nodes_highest_priority_first() -> None:
    policy = parse_policy(REBOOT_POLICY, "p.yml")
    nodes = _nodes(gpu1={}, gpu2={}, gpu3={}, gpu4={})
    findings = {"gpu1": {"node": "gpu1", "codes": [62]}, "gpu2": {"node": "gpu2", "codes": [48]},
                "gpu3": {"node": "gpu3", "codes": [79]}, "gpu4": {"node": "gpu4", "codes": [13]}}
    decisions = {d.node: d for d in decide(policy, findings, nodes, list(nodes))}
    assert decisions["gpu3"].status == "planned"      # priority 20 took the only slot
    assert decisions["gpu1"].status == "deferred" and decisions["gpu1"].actions == []
    assert decisions["gpu2"].status == "deferred"
    assert "max_unavailable=1" in decisions["gpu1"].reason
    assert decisions["gpu4"].status == "planned"      # notify only: takes no node out
    assert decisions["gpu4"].actions == [{"name": "notify", "message": "look"}]
    taken_out = [d for d in decisions.values() if d.status == "planned"
                 and {a["name"] for a in d.actions} & {"cordon", "drain", "reboot"}]
    assert len(taken_out) == 1


def test_nodes_already_out_count_against_the_budget() -> None:
    policy = parse_policy({**REBOOT_POLICY, "max_unavailable": 2}, "p.yml")
    nodes = _nodes(gpu1={"unschedulable": True}, gpu2={}, gpu3={}, gpu4={"ready": False})
    findings = {"gpu1": {"node": "gpu1", "codes": [62]}, "gpu2": {"node": "gpu2", "codes": [62]}}
    decisions = {d.node: d for d in decide(policy, findings, nodes, list(nodes))}
    assert decisions["gpu1"].status == "already-out"  # cordoned earlier: not rebooted again
    assert decisions["gpu2"].status == "deferred"     # gpu1 + gpu4 are out: 2 >= 2
    policy3 = parse_policy({**REBOOT_POLICY, "max_unavailable": 3}, "p.yml")
    planned = decide(policy3, findings, nodes, list(nodes))
    gpu2 = next(d for d in planned if d.node == "gpu2")
    assert gpu2.status == "planned"
    assert [a["name"] for a in gpu2.actions] == ["cordon", "drain", "reboot"]
    assert gpu2.actions[1]["wait_seconds"] == 60 and gpu2.actions[2]["uncordon"] is True


def test_warm_spare_prefers_matching_labels_and_is_not_counted() -> None:
    policy = parse_policy({"max_unavailable": 1, "rules": [
        {"name": "swap", "priority": 10, "error_codes": [62],
         "actions": ["cordon", {"name": "warm-spare", "match": ["zone"]}]}]}, "p.yml")
    spare = {"kubemedic.io/warm-spare": "true"}
    nodes = _nodes(gpu1={"labels": {"zone": "b"}},
                   spare1={"labels": {**spare, "zone": "a"}, "unschedulable": True},
                   spare2={"labels": {**spare, "zone": "b"}, "unschedulable": True})
    decisions = decide(policy, {"gpu1": {"node": "gpu1", "codes": [62]}}, nodes, list(nodes))
    assert decisions[0].status == "planned"           # cordoned spares do not use the budget
    assert decisions[0].actions[1] == {"name": "warm-spare", "match": ["zone"], "spare": "spare2"}
    nodes["spare2"].labels["zone"] = "c"              # none matches: any spare (seed 003)
    decisions = decide(policy, {"gpu1": {"node": "gpu1", "codes": [62]}}, nodes, list(nodes))
    assert decisions[0].actions[1]["spare"] == "spare1"


def test_no_rule_without_global() -> None:
    policy = parse_policy({"rules": [{"priority": 1, "error_codes": [62], "actions": ["cordon"]}]},
                          "p.yml")
    decisions = decide(policy, {"gpu1": {"codes": [31]}, "gpu2": {"codes": []}}, {}, ["gpu1"])
    assert [(d.node, d.status) for d in decisions] == [("gpu1", "no-rule")]
