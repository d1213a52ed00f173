"""roles/kube_api/tasks/drain.yml with a kubectl stand-in on localhost (the real drain against
a real API is in tests/integration/test_kubernetes_real.py): a drain that a PodDisruptionBudget
blocks until the timeout fails with a message naming the budget and what was (not) done, not
with kubectl's retry log, and a node the play cordoned is uncordoned again (heal skips a cordoned
node: the same command must be able to run again); a drain that finishes is one changed task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EVICTION_REFUSED = ('error when evicting pods/"sleeper-7d4b9-abcde" -n "default" (will retry '
                    "after 5s): Cannot evict pod as it would violate the pod's disruption budget.")
BLOCKED = "\n".join([
    "evicting pod default/sleeper-7d4b9-abcde", EVICTION_REFUSED, EVICTION_REFUSED,
    'There are pending pods in node "node2" when an error occurred: error when waiting for pod '
    '"sleeper-7d4b9-abcde" terminating: global timeout reached: 2s',
    'error: unable to drain node "node2", aborting command...']) + "\n"
BUDGETS = {"items": [
    {"metadata": {"namespace": "default", "name": "sleeper"}, "status": {"disruptionsAllowed": 0}},
    {"metadata": {"namespace": "shop", "name": "web"}, "status": {"disruptionsAllowed": 1}}]}
PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: kube_api
        tasks_from: cordon.yml
      when: cordon | bool
    - ansible.builtin.include_role:
        name: kube_api
        tasks_from: drain.yml
"""


def drain(tmp_path: Path, drain_rc: int, budgets: str = json.dumps(BUDGETS),
          cordon: bool = False, cordoned_before: bool = False) -> dict:
    kubectl = tmp_path / "kubectl"
    (tmp_path / "blocked.txt").write_text(BLOCKED)
    (tmp_path / "budgets.json").write_text(budgets)
    kubectl.write_text(f"""#!/bin/sh
echo "$*" >> {tmp_path}/calls.log
case "$*" in
  *" drain "*) [ {drain_rc} -eq 0 ] && {{ echo 'node/node2 drained'; exit 0; }}
               cat {tmp_path}/blocked.txt >&2; exit {drain_rc} ;;
  *"get poddisruptionbudgets"*) cat {tmp_path}/budgets.json ;;
  *" cordon "*) {"echo 'node/node2 already cordoned'" if cordoned_before else "echo 'node/node2 cordoned'"} ;;
  *" uncordon "*) echo 'node/node2 uncordoned' ;;
esac
""")
    kubectl.chmod(0o755)
    (tmp_path / "play.yml").write_text(PLAY)
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "ANSIBLE_COLLECTIONS_PATH": f"{REPO / '.collection'}:{REPO / 'collections'}",
           "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_STRATEGY": "linear", "ANSIBLE_STRATEGY_PLUGINS": ""}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(tmp_path / "play.yml"), "-e", "kubemedic_first_master=localhost",
         "-e", "kube_api_name=node2", "-e", "kube_api_drain_timeout=2",
         "-e", f"kube_api_kubectl={kubectl}", "-e", f"cordon={cordon}"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    results = [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]
               if "localhost" in t["hosts"]]
    return {"rc": result.returncode, "results": results,
            "calls": (tmp_path / "calls.log").read_text().splitlines()}


def test_a_drain_blocked_by_a_budget_names_it(tmp_path) -> None:
    run = drain(tmp_path, drain_rc=1)
    assert run["rc"] == 2, run
    message = run["results"][-1]["msg"]
    assert message.startswith("The drain of node2 did not finish within 2 s: pods could not be "
                              "evicted without violating their PodDisruptionBudget "
                              "(default/sleeper allow no disruption now)."), message
    assert "shop/web" not in message  # a budget that still allows a disruption is not blamed
    assert "Nothing after the drain was done; node2 stays cordoned." in message
    assert not any(" uncordon " in f" {c} " for c in run["calls"])
    assert message.count("Cannot evict pod") == 1, "kubectl's retries repeated in the message"
    assert run["calls"][0].endswith("drain node2 --ignore-daemonsets --delete-emptydir-data "
                                    "--force --timeout=2s")


def test_a_drain_that_finishes_is_one_changed_task(tmp_path) -> None:
    run = drain(tmp_path, drain_rc=0)
    assert run["rc"] == 0, run
    assert [r.get("changed") for r in run["results"] if "cmd" in r] == [True]
    assert not any("poddisruptionbudgets" in c for c in run["calls"])


@pytest.mark.parametrize("budgets", ["", '"not a list"', '{"items": []}'])
def test_without_a_readable_budget_list_the_message_still_says_why(tmp_path, budgets) -> None:
    run = drain(tmp_path, drain_rc=1, budgets=budgets)
    assert run["rc"] == 2
    assert "without violating their PodDisruptionBudget. Nothing after the drain was done" in \
        run["results"][-1]["msg"], run["results"][-1]["msg"]


def test_a_node_this_play_cordoned_is_uncordoned_after_a_failed_drain(tmp_path) -> None:
    run = drain(tmp_path, drain_rc=1, cordon=True)
    assert run["rc"] == 2, run
    assert [c.split()[-2:] for c in run["calls"] if "cordon" in c] == [
        ["cordon", "node2"], ["uncordon", "node2"]]
    assert "node2 was uncordoned again (as before this run)" in run["results"][-1]["msg"]


def test_a_node_cordoned_before_the_play_stays_cordoned(tmp_path) -> None:
    run = drain(tmp_path, drain_rc=1, cordon=True, cordoned_before=True)
    assert run["rc"] == 2, run
    assert not any(c.split()[-2] == "uncordon" for c in run["calls"])
    assert "node2 stays cordoned" in run["results"][-1]["msg"]
