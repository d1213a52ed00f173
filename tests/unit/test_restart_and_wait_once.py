"""One restart-and-wait task file per service (issue 17): the "wait until docker answers" loop and
the rpcinfo statd poll each stand in one file, which handlers and recovery steps include."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
POLLS = {
    "docker info": "roles/container_runtime/tasks/restart_docker.yml",
    "rpcinfo -p": "roles/nfs_server/tasks/restart_nfs.yml",
}


def _tasks(tasks: object):
    for task in tasks if isinstance(tasks, list) else []:
        if isinstance(task, dict):
            yield task
            for key in ("block", "rescue", "always"):
                yield from _tasks(task.get(key))


def _command(task: dict) -> str:
    args = task.get("ansible.builtin.command") or task.get("ansible.builtin.shell") or ""
    return args.get("cmd", "") if isinstance(args, dict) else str(args)


def _polls(needle: str) -> list[str]:
    """Files holding a task that runs `needle` until it succeeds (a wait loop)."""
    found = []
    for path in sorted((REPO / "roles").glob("*/*/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            if "until" in task and needle in _command(task):
                found.append(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize(("needle", "home"), POLLS.items())
def test_the_wait_loop_stands_in_one_file(needle: str, home: str) -> None:
    assert _polls(needle) == [home]


@pytest.mark.parametrize(("handlers", "topic", "tasks_file"), [
    ("roles/container_runtime/handlers/main.yml", "container_runtime restart docker",
     "restart_docker.yml"),
    ("roles/nfs_server/handlers/main.yml", "nfs_server restart", "restart_nfs.yml"),
])
def test_handler_topic_ends_in_the_shared_restart_and_wait(handlers: str, topic: str,
                                                           tasks_file: str) -> None:
    listening = [h for h in yaml.safe_load((REPO / handlers).read_text())
                 if topic in ([h["listen"]] if isinstance(h.get("listen"), str) else h["listen"])]
    assert listening[-1].get("ansible.builtin.include_tasks") == tasks_file


def test_other_roles_include_container_runtimes_file() -> None:
    tasks = yaml.safe_load((REPO / "roles/nvidia_runtime/tasks/configure.yml").read_text())
    includes = [t["ansible.builtin.include_role"] for t in tasks
                if "ansible.builtin.include_role" in t]
    # nvidia_runtime registers its runtime through container_runtime's oci_runtime.yml, which
    # restarts docker through container_runtime's handlers (they include restart_docker.yml).
    assert {"name": "container_runtime", "tasks_from": "oci_runtime.yml"} in includes
    oci = (REPO / "roles/container_runtime/tasks/oci_runtime.yml").read_text()
    assert "notify:" in oci and "until:" not in oci  # no second wait loop
