"""Roles read facts only as ansible_facts[...], and only facts the run gathers.

ansible.cfg sets `inject_facts_as_vars = False` (speed: no per-task copy of all facts into
top-level variables), so `{{ ansible_kernel }}` would be undefined at run time; and site.yml's
Facts play gathers the `min` subset, so a role reading a hardware or network fact (swaptotal_mb,
default_ipv4, ...) would find nothing. Both mistakes only show on a real run: caught here.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("roles", "playbooks", "molecule", "inventories/example")

# What `gather_subset: [min]` returns (ansible-core 2.19, Debian 12 lab node, without the
# `ansible_` prefix), plus the facts kubemedic's own tasks add with package_facts/service_facts.
MIN_SUBSET_FACTS = {
    "apparmor", "architecture", "cmdline", "date_time", "discovered_interpreter_python",
    "distribution", "distribution_file_parsed", "distribution_file_path",
    "distribution_file_variety", "distribution_major_version", "distribution_minor_version",
    "distribution_release", "distribution_version", "dns", "domain", "effective_group_id",
    "effective_user_id", "env", "fips", "fqdn", "hostname", "kernel", "kernel_version", "local",
    "lsb", "machine", "machine_id", "nodename", "os_family", "pkg_mgr", "proc_cmdline", "python",
    "python_version", "real_group_id", "real_user_id", "selinux", "service_mgr", "system",
    "user_dir", "user_id", "user_uid", "userspace_architecture", "userspace_bits",
}
FACTS_FROM_TASKS = {"packages", "services"}

# Top-level names setup would inject (a fact's name with `ansible_`), minus magic variables that
# are not facts (ansible_check_mode, ansible_host, ansible_play_hosts, ...).
_TOP_LEVEL_FACT = re.compile(
    r"\bansible_(?:" + "|".join(sorted(MIN_SUBSET_FACTS | {
        "default_ipv4", "default_ipv6", "all_ipv4_addresses", "interfaces", "memtotal_mb",
        "swaptotal_mb", "memfree_mb", "processor_count", "processor_vcpus", "processor_cores",
        "mounts", "devices", "virtualization_type", "virtualization_role", "product_name",
        "bios_version", "uptime_seconds", "eth0", "lo"}, key=len, reverse=True)) + r")\b")
_FACT_READ = re.compile(r"ansible_facts(?:\[\s*['\"](\w+)['\"]\s*\]|\.(\w+))")


def _sources() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        for pattern in ("*.yml", "*.yaml", "*.j2"):
            files += (REPO / top).rglob(pattern)
    return sorted(files)


def test_facts_are_not_injected_as_variables() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "ansible.cfg")
    assert cfg.getboolean("defaults", "inject_facts_as_vars") is False


def test_no_role_or_playbook_reads_a_top_level_fact_variable() -> None:
    offenders = [f"{path.relative_to(REPO)}:{number}: {match.group(0)}"
                 for path in _sources()
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 for match in _TOP_LEVEL_FACT.finditer(line)]
    assert offenders == [], "use ansible_facts['...'] instead:\n" + "\n".join(offenders)


def _site_roles() -> list[str]:
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    return [task["ansible.builtin.include_role"]["name"]
            for play in plays for task in play.get("tasks", [])
            if "ansible.builtin.include_role" in task]


def test_every_fact_site_roles_read_is_in_the_gathered_subset() -> None:
    """Plays of other playbooks (recover.yml's nic-autoneg reads default_ipv4) gather every
    fact themselves; site.yml's plays only have what its Facts play gathered."""
    roles = _site_roles()
    assert "common" in roles and "kubernetes_join" in roles
    files = [REPO / "playbooks" / "site.yml"] + [
        path for role in roles for pattern in ("*.yml", "*.j2")
        for path in (REPO / "roles" / role).rglob(pattern)]
    read = {(name, str(path.relative_to(REPO))) for path in files
            for match in _FACT_READ.finditer(path.read_text())
            for name in match.groups() if name}
    assert read, "the scan found no ansible_facts reads at all: pattern broken?"
    assert {pair for pair in read if pair[0] not in MIN_SUBSET_FACTS | FACTS_FROM_TASKS} == set()


def test_site_facts_play_gathers_the_min_subset() -> None:
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    facts_play = next(play for play in plays if play.get("name") == "Facts")
    gather = facts_play["tasks"][0]
    assert gather["ansible.builtin.gather_facts"]["gather_subset"] == ["min"]
    assert "always" in gather["tags"]
