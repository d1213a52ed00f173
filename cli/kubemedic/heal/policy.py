"""Xid healing policy: load + validate (errors name file and field), and the decision engine.

The policy file format is documented in kubemedic/data/xid-policy-default.yml (the defaults).
Plain Python + PyYAML only (no click): the filter plugin plugins/filter/kubemedic_heal.py runs
this same code inside ansible-playbook / AWX, where the CLI's dependencies may be missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kubemedic import inputs
from kubemedic.heal import xid
from kubemedic.inputs import clip, shown

POLICY_FILE = "xid-policy.yml"  # inventories/<customer>/xid-policy.yml overrides the defaults
DEFAULT_SOURCE = "<default xid policy>"


class PolicyError(ValueError):
    """An unreadable or invalid policy. The CLI turns it into exit 2; the filter plugin into a
    task failure. `problems` holds one `<file>: <field>: <message>` line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.message = message
        self.problems = problems or []
        super().__init__("\n".join([message, *(f"  - {p}" for p in self.problems)]))

ACTION_ORDER = ("cordon", "drain", "warm-spare", "reboot", "notify")
TAKES_NODE_OUT = {"cordon", "drain", "reboot"}
DEFAULT_WAIT = 1200  # seconds (20 min, the seed's example)
_DURATION = re.compile(r"(\d+)\s*(days?|d|h|hours?|min|m|s|sec)")
_DURATION_UNITS = {"d": 86400, "day": 86400, "days": 86400, "h": 3600, "hour": 3600,
                   "hours": 3600, "m": 60, "min": 60, "s": 1, "sec": 1}
_LABEL = re.compile(r"^([a-z0-9A-Z._/-]+)=([a-zA-Z0-9._-]*)$")


def parse_duration(value: Any) -> int:
    """'20m', '20min', '1h30m', '1day3h5min', 90 (seconds) -> seconds. ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    text = str(value).replace(" ", "")
    if not text or _DURATION.sub("", text):
        raise ValueError(value)
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION.findall(text))


@dataclass
class Action:
    name: str
    wait_seconds: int | None = None
    uncordon: bool = False
    match: list[str] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.name in ("drain", "reboot"):
            data["wait_seconds"] = self.wait_seconds
        if self.name == "reboot":
            data["uncordon"] = self.uncordon
        if self.name == "warm-spare":
            data["match"] = self.match
        if self.name == "notify":
            data["message"] = self.message
        return data


@dataclass
class Rule:
    name: str
    priority: int
    error_codes: list[int | str]  # Xid numbers and names of the catalog's events without one
    operator: str  # any | all
    labels: dict[str, str]
    actions: list[Action]
    index: int  # position in the file: tie-break between equal priorities
    # Catalog action classes (kubemedic/data/xid-catalog.yml): the rule covers every Xid of
    # these classes as well as its error_codes.
    xid_classes: list[str] = field(default_factory=list)

    @property
    def is_global(self) -> bool:
        return self.priority == 0

    def covers(self, code: int | str) -> bool:
        return code in self.error_codes or xid.xid_class(code) in self.xid_classes

    def matches(self, code: int | str, node_labels: dict[str, str]) -> bool:
        if (self.error_codes or self.xid_classes) and not self.covers(code):
            return False
        if not self.labels:
            return True
        hits = [node_labels.get(k) == v for k, v in self.labels.items()]
        return all(hits) if self.operator == "all" else any(hits)



@dataclass
class Policy:
    source: str
    max_unavailable: int
    warm_spare_label: tuple[str, str]
    rules: list[Rule]

    def best_rule(self, codes: list[int | str],
                  labels: dict[str, str]) -> tuple[Rule, int | str] | None:
        """(rule, code) of the highest-priority rule matching the node for any of its codes."""
        best: tuple[Rule, int | str] | None = None
        for code in codes:
            for rule in self.rules:
                if not rule.matches(code, labels):
                    continue
                if best is None or (rule.priority, -rule.index) > (best[0].priority, -best[0].index):
                    best = (rule, code)
        return best


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.source}: {where}: {message}")


def _action(raw: Any, where: str, problems: _Problems) -> Action | None:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping with a name (or an action name)")
        return None
    name = raw.get("name")
    allowed = {"name", "attribute"}
    attrs = dict(raw.get("attribute") or {}) if isinstance(raw.get("attribute"), dict) else {}
    attrs.update({k: v for k, v in raw.items() if k not in allowed})
    if name not in ACTION_ORDER:
        problems.add(f"{where}.name", f"{shown(name)} is not an action; use one of "
                                      f"{', '.join(ACTION_ORDER)}")
        return None
    known = {"cordon": set(), "drain": {"wait"}, "reboot": {"wait", "uncordon"},
             "warm-spare": {"match"}, "notify": {"message"}}[name]
    for key in sorted(set(attrs) - known):
        problems.add(f"{where}.{key}", f"unknown setting for {name} (allowed: "
                                       f"{', '.join(sorted(known)) or 'none'})")
    action = Action(name=name)
    if name in ("drain", "reboot"):
        try:
            action.wait_seconds = parse_duration(attrs.get("wait", DEFAULT_WAIT))
        except ValueError:
            problems.add(f"{where}.wait", f"{shown(attrs.get('wait'))} is not a duration "
                                          "(e.g. 20m, 1h30m, 1day3h5min, or seconds)")
    if name == "reboot":
        uncordon = attrs.get("uncordon", False)
        if isinstance(uncordon, str) and uncordon.lower() in ("true", "false"):
            uncordon = uncordon.lower() == "true"  # the seed writes unCordon: "true"
        if not isinstance(uncordon, bool):
            problems.add(f"{where}.uncordon", f"{shown(uncordon)} must be true or false")
        else:
            action.uncordon = uncordon
    if name == "warm-spare":
        match = attrs.get("match", [])
        if not isinstance(match, list) or not all(isinstance(m, str) and m for m in match):
            problems.add(f"{where}.match", "must be a list of label keys")
        else:
            action.match = match
    if name == "notify":
        message = attrs.get("message", "")
        if not isinstance(message, str) or not message.strip():
            problems.add(f"{where}.message", "notify needs a non-empty message")
        else:
            action.message = message
    return action


def _rule(raw: Any, index: int, problems: _Problems) -> Rule | None:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping")
        return None
    unknown = set(raw) - {"name", "priority", "error_codes", "errorCode", "xid_classes",
                          "node_selector", "nodeSelector", "actions"}
    for key in sorted(unknown, key=str):
        problems.add(f"{where}.{clip(str(key), 40)}", "unknown field (allowed: name, priority, error_codes, "
                                       "xid_classes, node_selector, actions)")
    name = raw.get("name", f"rule-{index}")
    priority = raw.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        problems.add(f"{where}.priority", f"{shown(priority)} must be an integer >= 0 "
                                          "(0 = the global rule)")
        priority = -1
    raw_codes = raw.get("error_codes", raw.get("errorCode", [])) or []
    codes: list[int | str] = []
    if not isinstance(raw_codes, list):
        problems.add(f"{where}.error_codes", "must be a list of Xid numbers (or catalog events)")
    else:
        for pos, code in enumerate(raw_codes):
            if isinstance(code, str) and code in xid.events():
                codes.append(code)  # a GPU fault without an Xid number, e.g. row-remap-pending
                continue
            try:
                number = int(str(code))
                if number <= 0:
                    raise ValueError
                codes.append(number)
            except ValueError:
                problems.add(f"{where}.error_codes[{pos}]", f"{shown(code)} is not an Xid number "
                                                            "or a catalog event ("
                                                            f"{', '.join(xid.events())})")
    raw_classes = raw.get("xid_classes") or []
    classes: list[str] = []
    if not isinstance(raw_classes, list):
        problems.add(f"{where}.xid_classes", f"must be a list of classes ({', '.join(xid.CLASSES)})")
    else:
        for pos, cls in enumerate(raw_classes):
            if cls not in xid.CLASSES:
                problems.add(f"{where}.xid_classes[{pos}]", f"{shown(cls)} is not an Xid class; use "
                                                            f"one of {', '.join(xid.CLASSES)}")
            else:
                classes.append(cls)
    selector = raw.get("node_selector", raw.get("nodeSelector")) or {}
    operator, labels = "any", {}
    if not isinstance(selector, dict):
        problems.add(f"{where}.node_selector", "must be a mapping {operator, labels}")
    else:
        for key in sorted(set(selector) - {"operator", "labels"}):
            problems.add(f"{where}.node_selector.{key}", "unknown field (operator, labels)")
        operator = selector.get("operator", "any")
        if operator not in ("any", "all"):
            problems.add(f"{where}.node_selector.operator", f"{shown(operator)} must be any or all")
        labels = selector.get("labels") or {}
        if not isinstance(labels, dict):
            problems.add(f"{where}.node_selector.labels", "must be a mapping label: value")
            labels = {}
        labels = {str(k): str(v) for k, v in labels.items()}
    if priority == 0 and (codes or classes or labels):
        problems.add(where, "priority 0 is the global rule: it takes no error_codes, no "
                            "xid_classes and no node_selector")
    if priority > 0 and not codes and not classes and not (raw_classes and not classes):
        problems.add(f"{where}.error_codes", "a rule with priority > 0 needs error codes or "
                                             "xid_classes (only the priority-0 global rule has "
                                             "none)")
    raw_actions = raw.get("actions")
    actions: list[Action] = []
    if not isinstance(raw_actions, list) or not raw_actions:
        problems.add(f"{where}.actions", "needs a non-empty list of actions")
    else:
        for pos, item in enumerate(raw_actions):
            action = _action(item, f"{where}.actions[{pos}]", problems)
            if action is not None:
                actions.append(action)
        names = [a.name for a in actions]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.add(f"{where}.actions", f"{dup} is listed twice")
        if "warm-spare" in names and not TAKES_NODE_OUT & set(names):
            # seed 003: the warm standby needs cordon, drain or reboot
            problems.add(f"{where}.actions", "warm-spare needs cordon, drain or reboot too "
                                             "(the failed node must leave service)")
        actions.sort(key=lambda a: ACTION_ORDER.index(a.name))
    return Rule(name=str(name), priority=priority, error_codes=codes, operator=operator,
                labels=labels, actions=actions, index=index, xid_classes=classes)


def parse_policy(data: Any, source: str) -> Policy:
    """Validate a loaded policy document; raises PolicyError listing every problem as
    `<file>: <field>: <message>`."""
    problems = _Problems(source)
    if not isinstance(data, dict):
        raise PolicyError(f"Xid policy {source} is invalid",
                                  [f"{source}: must be a mapping with rules"])
    for key in sorted(set(data) - {"max_unavailable", "warm_spare_label", "rules"}, key=str):
        problems.add(clip(str(key)), "unknown field (allowed: max_unavailable, warm_spare_label, rules)")
    max_unavailable = data.get("max_unavailable", 1)
    if not isinstance(max_unavailable, int) or isinstance(max_unavailable, bool) \
            or max_unavailable < 0:
        problems.add("max_unavailable", f"{shown(max_unavailable)} must be an integer >= 0")
        max_unavailable = 0
    spare = str(data.get("warm_spare_label", "kubemedic.io/warm-spare=true"))
    spare_match = _LABEL.match(spare)
    if not spare_match:
        problems.add("warm_spare_label", f"{shown(spare)} must look like key=value")
    rules_raw = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(rules_raw, list) or not rules_raw:
        problems.add("rules", "needs a non-empty list of rules")
    else:
        for index, raw in enumerate(rules_raw):
            rule = _rule(raw, index, problems)
            if rule is not None:
                rules.append(rule)
        globals_ = [r.index for r in rules if r.priority == 0]
        if len(globals_) > 1:
            problems.add("rules", f"more than one global (priority 0) rule: rules{globals_}")
        names = [r.name for r in rules]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.add("rules", f"rule name {shown(dup)} is used twice")
    if problems.items:
        raise PolicyError(f"Xid policy {source} is invalid", problems.items)
    return Policy(source=source, max_unavailable=max_unavailable,
                  warm_spare_label=(spare_match[1], spare_match[2]) if spare_match else ("", ""),
                  rules=rules)


def default_policy_text() -> str:
    return resources.files("kubemedic.data").joinpath("xid-policy-default.yml").read_text()


def policy_path(explicit: str | Path | None, inventory_dir: str | Path | None) -> Path | None:
    """Which policy applies: `explicit` (must exist), else <inventory_dir>/xid-policy.yml when it
    exists, else None (the packaged defaults)."""
    if explicit:
        return Path(explicit)
    own = Path(inventory_dir) / POLICY_FILE if inventory_dir else None
    return own if own is not None and own.is_file() else None


def load_policy(path: Path | None) -> Policy:
    """The policy at `path`, or the packaged defaults when path is None."""
    if path is None:
        return parse_policy(yaml.safe_load(default_policy_text()), DEFAULT_SOURCE)
    try:
        data = inputs.load_yaml_file(path)
    except inputs.InputError as exc:
        raise PolicyError(f"Xid policy {exc}") from None
    return parse_policy(data, str(path))


# --------------------------------------------------------------------------- decision engine

@dataclass
class NodeState:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    unschedulable: bool = False
    ready: bool = True

    @property
    def out_of_service(self) -> bool:
        return self.unschedulable or not self.ready


@dataclass
class Decision:
    host: str
    node: str
    codes: list[int | str]
    status: str  # planned | deferred | already-out | no-rule
    reason: str
    rule: str | None = None
    priority: int | None = None
    trigger_code: int | str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "node": self.node, "codes": self.codes,
                "status": self.status, "reason": self.reason, "rule": self.rule,
                "priority": self.priority, "trigger_code": self.trigger_code,
                "actions": self.actions}


def decide(policy: Policy, findings: dict[str, dict[str, Any]],
           nodes: dict[str, NodeState], gpu_nodes: list[str]) -> list[Decision]:
    """Plan the healing of every node with Xid codes (or catalog events without an Xid).

    findings: inventory host -> {"node": kubernetes node name, "codes": [xid or event, ...]}
    nodes: Kubernetes node name -> state (labels, unschedulable, ready)
    gpu_nodes: Kubernetes names of every GPU node (the max_unavailable budget is over these)
    """
    spare_key, spare_value = policy.warm_spare_label

    def is_spare(name: str) -> bool:
        state = nodes.get(name)
        return bool(state and spare_key and state.labels.get(spare_key) == spare_value)

    out = {n for n in gpu_nodes if n in nodes and nodes[n].out_of_service and not is_spare(n)}
    spares_used: set[str] = set()
    candidates = []
    for host, finding in findings.items():
        codes = list(finding.get("codes") or [])
        if not codes:
            continue
        node = finding.get("node") or host
        labels = nodes[node].labels if node in nodes else {}
        candidates.append((host, node, codes, policy.best_rule(codes, labels)))
    # Highest-priority problems take the max_unavailable slots first; then by node name.
    candidates.sort(key=lambda c: (-(c[3][0].priority if c[3] else -1), c[1]))
    decisions = []
    for host, node, codes, best in candidates:
        if best is None:
            decisions.append(Decision(host, node, codes, "no-rule",
                                      "no rule matches these codes and the policy has no "
                                      "global (priority 0) rule"))
            continue
        rule, code = best
        via = "" if code in rule.error_codes or not rule.xid_classes else \
            f" (catalog class {xid.xid_class(code)})"
        decision = Decision(host, node, codes, "planned", f"rule {shown(rule.name)} "
                            f"(priority {rule.priority}) matches {xid.describe(code)}{via}",
                            rule=rule.name, priority=rule.priority, trigger_code=code)
        names = {a.name for a in rule.actions}
        if names & TAKES_NODE_OUT:
            if node in out:
                decision.status = "already-out"
                decision.reason += "; node is already cordoned or NotReady: nothing done"
                decisions.append(decision)
                continue
            if len(out) >= policy.max_unavailable:
                decision.status = "deferred"
                decision.reason += (f"; max_unavailable={policy.max_unavailable} reached "
                                    f"({', '.join(sorted(out)) or 'none'} out): deferred to the "
                                    "next heal run")
                decisions.append(decision)
                continue
            out.add(node)
        for action in rule.actions:
            data = action.to_json()
            if action.name == "warm-spare":
                spare = _pick_spare(node, action.match, nodes, is_spare, spares_used)
                if spare is None:
                    decision.reason += "; no warm spare available"
                    continue
                spares_used.add(spare)
                data["spare"] = spare
            decision.actions.append(data)
        decisions.append(decision)
    return decisions


def _pick_spare(node: str, match: list[str], nodes: dict[str, NodeState], is_spare,
                used: set[str]) -> str | None:
    """Seed 003: a spare matching the rule if any, else any spare (sorted: deterministic)."""
    spares = sorted(n for n in nodes if is_spare(n) and n != node and n not in used)
    own = nodes[node].labels if node in nodes else {}
    matching = [s for s in spares if match and all(nodes[s].labels.get(k) == own.get(k)
                                                   for k in match)]
    return (matching or spares or [None])[0]
