"""docs/tags.md is generated (scripts/tags-table) and current, and every tag of every playbook
and role task file is in one style: lower-case words joined by hyphens."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import yaml

from kubemedic import playbook_tags

REPO = Path(__file__).resolve().parents[2]
TABLE = runpy.run_path(str(REPO / "scripts" / "tags-table"))
PLAYBOOKS = sorted(p.name for p in (REPO / "playbooks").glob("*.yml"))


def test_docs_tags_md_is_current() -> None:
    assert (REPO / "docs" / "tags.md").read_text() == TABLE["render"](), \
        "docs/tags.md is stale: run scripts/tags-table"


def test_table_lists_the_renamed_bootstrap_steps() -> None:
    text = TABLE["render"]()
    assert "| `container-runtime` | site.yml | container_runtime | " \
           "`kubemedic bootstrap --tags container-runtime` |" in text
    assert "| `npu-collector` | recover.yml | ascend_driver (recover_npu_collector.yml) | " \
           "`kubemedic recover npu-collector` |" in text


def _role_file_tags() -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / "roles").glob("*/*/*.yml")):
        if path.parent.name not in ("tasks", "handlers"):
            continue
        for tag, _role in playbook_tags._task_tags(yaml.safe_load(path.read_text())):
            if tag is not None:
                found.append((str(path.relative_to(REPO)), tag))
    return found


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_tags_are_lower_case_hyphen_style(playbook: str) -> None:
    bad = [tag for tag in playbook_tags.playbook_tags(playbook, REPO)
           if not playbook_tags.STYLE.match(tag)]
    assert not bad, f"{playbook}: tags not in lower-case-hyphen style: {bad}"


def test_role_task_tags_are_lower_case_hyphen_style() -> None:
    bad = [(where, tag) for where, tag in _role_file_tags()
           if tag not in playbook_tags.SPECIAL and not playbook_tags.STYLE.match(tag)]
    assert not bad


@pytest.mark.parametrize("tag", ["container_runtime", "Common", "kube reset"])
def test_style_check_refuses_other_spellings(tag: str) -> None:
    assert not playbook_tags.STYLE.match(tag)


def test_bootstrap_npu_collector_step_is_not_the_recover_step() -> None:
    site = playbook_tags.playbook_tags("site.yml", REPO)
    recover = playbook_tags.playbook_tags("recover.yml", REPO)
    assert "npu-collector" not in site and "npu-info-collector" in site
    assert recover["npu-collector"].roles == ["ascend_driver (recover_npu_collector.yml)"]


FIX_SOURCES = ["cli/kubemedic/doctor/checks.py", "cli/kubemedic/data/kb/signatures.yml",
               "docs/doctor.md", "README.md", "roles/kubernetes_control_plane/tasks/images.yml"]


@pytest.mark.parametrize("source", FIX_SOURCES)
def test_printed_bootstrap_commands_name_real_tags(source: str) -> None:
    """Doctor findings and KB signatures print `kubemedic bootstrap --tags X`: X must exist."""
    site = playbook_tags.playbook_tags("site.yml", REPO)
    named = re.findall(r"bootstrap [^`\"\n]*?--tags ([\w,-]+)", (REPO / source).read_text())
    unknown = {tag for tags in named for tag in tags.split(",")} - set(site)
    assert not unknown, f"{source}: bootstrap --tags {sorted(unknown)} are not site.yml tags"
