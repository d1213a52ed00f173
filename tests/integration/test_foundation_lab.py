"""Issue 2 "done when" and issue 14 item 4, for real, on one lab (km-found: 2 cluster nodes on
192.168.248.0/24 + 1 outside node). Tests run in file order:
1. lab up: real systemd + sshd nodes over ssh, the inventory checks clean;
2. FRESH nodes: `bootstrap --check --diff` exits 0 and changes nothing on the nodes (the same
   installed packages, enabled and active units, and no file under /etc, /usr, /opt, /srv or
   /var/lib newer than a marker written just before the run), while the diffs it shows (and the
   run record's events) name the files a converge would write;
3. plain `kubemedic bootstrap -c <lab>` twice: the second changes nothing, history has both;
4. `bootstrap --check --diff` on the converged nodes: node2 changes nothing; node1 carries a hand
   edit of one managed file per role (common's journald and chrony drop-ins,
   container_runtime's daemon.json, registry's config.yml, nfs_server's nfs.conf drop-in and
   exports, a line inside tcp_wrappers' hosts.deny block, firewall's rules file), and the run
   reports a change for each, the diff names that file and shows the hand-edited line going
   away, and the hand edits are still on the node afterwards;
5. facts are never reused across runs.

Plain bootstrap converges every role the lab can run (common, container_runtime, registry, NFS
server/client, tcp_wrappers, firewall); the lab inventory's cluster_bootstrap_skip_tags leaves
out what it cannot (kubeadm/kubelet, GPU/NPU drivers, the offline bundle). Each role has its own
deeper test; this one proves the whole default converge is idempotent and check-safe. The module
runs with the linear strategy (plain ansible-playbook's and AWX's; marker linear_strategy).

Real: systemd, sshd, apt (Debian's mirror), docker.io, Debian's docker-registry, chrony, nftables,
nfs-kernel-server's packages (the shared kernel has no nfsd: the server is configured, not
started), tcp-wrappers. Nothing here is a double.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import strategy_env

pytestmark = [pytest.mark.lab, pytest.mark.linear_strategy]

NAME = "km-found"
N1, N2 = "km-found-node1", "km-found-node2"
MARKER = "/run/km-check-marker"
# What --check must leave as it was: installed packages, enabled and active units (systemd's own
# state under /var/lib/systemd and /var/lib/private changes by itself and is not compared).
SNAPSHOT = (
    "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' | sha256sum; "
    "systemctl list-unit-files --state=enabled --no-legend | sort | sha256sum; "
    "systemctl list-units --state=active --no-legend --plain | awk '{print $1}' | sort | sha256sum"
)
CHANGED_FILES = (
    f"find /etc /usr /opt /srv /var/lib -xdev -newer {MARKER} "
    "-not -path '/var/lib/systemd/*' -not -path '/var/lib/private/*' -print"
)
# One managed file per role and the line a hand edit adds there (the diff must take it out).
# hosts.deny: tcp_wrappers owns only its marked block, so the edit is inside the block.
HAND_EDITS = {
    "/etc/systemd/journald.conf.d/kubemedic.conf": "SystemMaxUse=7G",
    "/etc/chrony/conf.d/kubemedic.conf": "server 10.77.31.99 iburst",
    "/etc/docker/registry/config.yml": "# edited by hand",
    "/etc/nfs.conf.d/kubemedic.conf": "# edited by hand",
    "/etc/exports": "/srv/handmade 10.77.31.0/24(rw)",
}
DENY_EDIT = "sed -i 's/^\\(.*\\): ALL$/\\1: 10.77.31.99/' /etc/hosts.deny"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(NAME, nodes=2, subnet="192.168.248.0/24")


def summary(result: subprocess.CompletedProcess) -> dict:
    assert result.stdout.strip(), result.stderr[-3000:]
    return json.loads(result.stdout)


def totals(info: dict, key: str) -> int:
    return sum(host[key] for host in info["hosts"].values())


def diffs_by_file(info: dict) -> dict[str, list[dict]]:
    """What `--diff` shows (the summary's diffs: every file a changed task changes), by file."""
    found: dict[str, list[dict]] = {}
    for item in info["extra"]["diffs"]:
        found.setdefault(item["file"], []).append(item)
    return found


def firewall_rules_file() -> str:
    text = (Path(__file__).resolve().parents[2] / "roles/firewall/defaults/main.yml").read_text()
    return re.search(r"^firewall_rules_file:\s*(\S+)", text, re.M).group(1).strip("\"'")


def test_lab_nodes_are_real_systemd_hosts_over_ssh(lab) -> None:
    status = json.loads(lab.kubemedic("lab", "status", "--name", lab.customer, "--json").stdout)
    assert len(status["nodes"]) == 3
    assert all(n["state"] == "running" for n in status["nodes"])
    for node in lab.nodes:
        result = lab.ssh(node, "systemctl is-system-running --wait; hostname", check=True)
        assert result.stdout.split() == ["running", node]
    outside_ip = next(iter(lab.outside.values()))
    assert ipaddress.ip_address(outside_ip) not in ipaddress.ip_network(lab.subnet)
    assert lab.kubemedic("inventory", "check", lab.customer).returncode == 0


def test_check_on_fresh_nodes_changes_nothing(lab) -> None:
    before = {}
    for node in (N1, N2):
        # Units still starting after boot (a loaded machine) would change the snapshot by
        # themselves: wait until systemd has settled.
        lab.ssh(node, "systemctl is-system-running --wait", timeout=600)
        before[node] = lab.ssh(node, SNAPSHOT, check=True).stdout
        lab.ssh(node, f"touch {MARKER}", check=True)
    result = lab.kubemedic("bootstrap", "-c", NAME, "--check", "--diff", "--json", timeout=1500)
    info = summary(result)
    assert result.returncode == 0, (info["failures"], result.stderr[-3000:])
    assert info["check"] is True
    assert totals(info, "changed") > 0, "a fresh node needs changes: --check reported none"
    for node in (N1, N2):
        assert lab.ssh(node, SNAPSHOT, check=True).stdout == before[node], (
            f"{node}: packages or units changed by --check")
        touched = lab.ssh(node, CHANGED_FILES, check=True).stdout.split()
        assert touched == [], f"{node}: --check wrote {touched}"
    # The would-be files are shown (chrony is not installed yet: its drop-in waits for the
    # package, /etc/default/chrony is shown).
    shown = diffs_by_file(info)
    for path in ("/etc/docker/daemon.json", "/etc/systemd/journald.conf.d/kubemedic.conf",
                 "/etc/sysctl.d/90-kubemedic-kubernetes.conf", "/etc/default/chrony",
                 "/etc/hosts.allow"):
        assert path in shown, (path, sorted(shown))
    # ...and the run record keeps them (the job events' before/after headers).
    events = "\n".join(p.read_text(errors="replace")
                       for p in sorted(Path(info["record"]).glob("artifacts/*/job_events/*.json")))
    headers = set(re.findall(r'"(?:before|after)_header": "([^"]+)"', events))
    assert "/etc/docker/daemon.json" in headers, sorted(headers)


def test_bootstrap_converges_then_changes_nothing_and_history_has_both(lab) -> None:
    first = lab.kubemedic("bootstrap", "-c", lab.customer, "--json")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    first_summary = json.loads(first.stdout)
    assert set(first_summary["hosts"]) >= set(lab.nodes)
    assert totals(first_summary, "changed") > 0

    second = lab.kubemedic("bootstrap", "-c", lab.customer)  # live progress, plain mode
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Recap" in second.stderr
    assert "skipping offline-images, nvidia-driver" in second.stderr
    for node in lab.nodes:
        assert f"{node}: Common |" in second.stderr  # per-host task progress lines

    history = json.loads(lab.kubemedic("history", "-c", lab.customer, "--json").stdout)
    bootstraps = [run for run in history if run["verb"] == "bootstrap" and not run["check"]]
    assert len(bootstraps) == 2
    assert totals(bootstraps[-1], "changed") == 0, bootstraps[-1]["hosts"]
    assert all(run["rc"] == 0 for run in bootstraps)
    assert {run["strategy"] for run in bootstraps} == {strategy_env().get("ANSIBLE_STRATEGY", "linear")}


def test_check_on_converged_nodes_changes_nothing_and_shows_every_hand_edit(lab) -> None:
    """One `--check --diff` over both converged nodes: node2, as converged, changes nothing;
    node1 carries one hand edit per role, each shown as a diff undoing it, and kept."""
    edits = {**HAND_EDITS, firewall_rules_file(): "# edited by hand"}
    for path, line in edits.items():
        lab.ssh(N1, f"test -f {path} && printf '%s\\n' '{line}' >> {path}", check=True)
    lab.ssh(N1, DENY_EDIT, check=True)
    denied = lab.ssh(N1, "grep ': 10.77.31.99$' /etc/hosts.deny", check=True).stdout.strip()
    edits["/etc/hosts.deny"] = denied
    # daemon.json: a managed key changed by hand (kept valid JSON)
    lab.ssh(N1, "python3 - <<'EOF'\nimport json\np='/etc/docker/daemon.json'\n"
                "d=json.load(open(p))\nd['log-opts']['max-size']='999m'\n"
                "json.dump(d, open(p,'w'), indent=2)\nEOF", check=True)
    result = lab.kubemedic("bootstrap", "-c", NAME, "--check", "--diff", "--json", timeout=1200)
    info = summary(result)
    assert result.returncode == 0, (info["failures"], result.stderr[-3000:])
    assert info["check"] is True
    assert info["hosts"][N2]["changed"] == 0, info["hosts"][N2]
    assert info["hosts"][N1]["changed"] > 0, info["hosts"][N1]
    shown = diffs_by_file(info)
    for path, line in edits.items():
        assert path in shown, f"{path}: no diff shown; diffs for {sorted(shown)}"
        text = "\n".join(d["diff"] for d in shown[path])
        assert f"\n-{line}\n" in text, f"{path}: the diff does not undo {line!r}:\n{text}"
        assert lab.ssh(N1, f"grep -qxF '{line}' {path}").returncode == 0, (
            f"{path}: --check removed the hand edit")
    assert "/etc/docker/daemon.json" in shown, sorted(shown)
    assert "999m" in "\n".join(d["diff"] for d in shown["/etc/docker/daemon.json"])
    assert "999m" in lab.ssh(N1, "cat /etc/docker/daemon.json", check=True).stdout


def test_each_run_sees_the_node_as_it_is_now_not_as_a_previous_run_saw_it(lab) -> None:
    """Facts are gathered once per run and never reused by a later run (ansible.cfg): a node
    renamed behind kubemedic's back since the last converge is renamed back, which a fact cache
    kept across runs would have hidden (it would still report the old, correct hostname)."""
    node = next(iter(lab.nodes))
    lab.ssh(node, "hostname renamed-by-hand", check=True)
    result = lab.kubemedic("bootstrap", "-c", lab.customer, "--tags", "hostname", "--limit", node,
                           "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert totals(json.loads(result.stdout), "changed") >= 1
    assert lab.ssh(node, "hostname", check=True).stdout.strip() == node
