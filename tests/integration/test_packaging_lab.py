"""The packaged forms of kubemedic work on their own, outside this checkout (issue 19):

1. the collection tarball (`ansible-galaxy collection build`) holds the roles, plugins, playbooks
   and the cli/ code its plugins import, and none of the checkout's tests, venv or caches;
2. `ansible-test sanity` passes on the tarball's plugins (tests/sanity/ignore-2.19.txt justifies
   each ignore);
3. installed offline into an empty collections path, plain `ansible-playbook` runs
   kubemedic.cluster.drill, .doctor and .recover by FQCN from a folder outside the checkout, with
   no ansible.cfg: the drill breaks hosts.allow, doctor names `recover hosts-allow`, the step
   repairs it, doctor no longer finds it;
4. the wheel (`python -m build --wheel`) installed into a fresh venv under a tmp dir: its drill,
   `kubemedic doctor` and `kubemedic recover` run against the lab from the wheel's own content
   (doctor clean after the step), their --json validating against the schemas (docs/json.md);
5. `ansible-builder create` on execution-environment.yml gives the expected build context.

One lab (km-col: 1 cluster node on 10.77.62.0/24 + 1 outside node on 10.77.63.0/24) for the module.
Real: the build tools, ansible-test, ansible-playbook, pip, the lab node's tcpd (libwrap).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from kubemedic import __version__, output
from tests.conftest import REPO

NAME = "km-col"
SUBNET = "10.77.62.0/24"
NODE = "km-col-node1"
STEP = "hosts-allow"
COLLECTION = ("kubemedic", "cluster")
DEPENDENCIES = ("ansible/posix", "community/general")  # requirements.yml, from ./collections
ANSIBLE_BIN = Path(sys.executable).parent


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 1200):
    return subprocess.run(args, cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=timeout, check=False)


def _outside_env(home: Path, **extra: str) -> dict[str, str]:
    """An operator's shell away from the checkout: no ansible.cfg, no PYTHONPATH, own HOME."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "KUBEMEDIC_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{ANSIBLE_BIN}:/usr/bin:/bin", **extra)
    # ssh's ControlPath socket must fit a unix socket path (108 bytes): pytest's tmp HOME does not
    # always (an operator's ~/.ansible/cp does), so the sockets go to a short folder of their own.
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = _short_control_dir()
    return env


@functools.cache
def _short_control_dir() -> str:
    return tempfile.mkdtemp(prefix="km-cp-")


def _copy_dependencies(collections_root: Path) -> None:
    """The pinned collections (installed offline by scripts/install-collections) next to ours."""
    for dep in DEPENDENCIES:
        target = collections_root / "ansible_collections" / dep
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / "collections" / "ansible_collections" / dep, target, symlinks=True)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("collection-build")
    result = _run([str(ANSIBLE_BIN / "ansible-galaxy"), "collection", "build", "--output-path",
                   str(out), str(REPO)], cwd=out, env=_outside_env(out))
    assert result.returncode == 0, result.stdout + result.stderr
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    built = out / f"kubemedic-cluster-{galaxy['version']}.tar.gz"
    assert built.is_file(), sorted(out.iterdir())
    return built


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory) -> Path:
    """A clean collections path: the dependencies, then ours from the tarball (offline)."""
    root = tmp_path_factory.mktemp("collections")
    _copy_dependencies(root)
    result = _run([str(ANSIBLE_BIN / "ansible-galaxy"), "collection", "install", "--offline",
                   "-p", str(root), str(tarball)], cwd=root, env=_outside_env(root))
    assert result.returncode == 0, result.stdout + result.stderr
    return root


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(NAME, nodes=1, subnet=SUBNET, outside=1)


def test_tarball_holds_the_content_and_nothing_of_the_checkout(tarball) -> None:
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    tops = {name.split("/", 1)[0] for name in names}
    for wanted in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "playbooks/recover.yml",
                   "playbooks/doctor.yml", "roles/container_runtime/tasks/main.yml",
                   "plugins/action/kubemedic_inventory_check.py",
                   "plugins/filter/kubemedic_doctor.py", "cli/kubemedic/doctor/checks.py",
                   "tests/sanity/ignore-2.19.txt"):
        assert wanted in names, wanted
    assert not tops & {".venv", ".git", ".collection", "collections", "molecule", "benchmarks",
                       "scripts", ".cache"}, tops
    assert not [n for n in names if n.startswith(("tests/unit", "tests/integration"))
                or "__pycache__" in n or n.endswith(".log")]


def test_ansible_test_sanity_on_the_plugins(tarball, tmp_path) -> None:
    """ansible-test needs the collection at ansible_collections/<ns>/<name>, and pip in the venvs
    it makes: its get-pip download is unreachable offline, so the cached bootstrap script it
    looks for installs pip from the PyPI wheel instead."""
    tree = tmp_path.joinpath("ansible_collections", *COLLECTION)
    tree.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(tree, filter="data")
    home = tmp_path / "home"
    wheels = tmp_path / "pip"
    pip = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "pip==24.2",
                "-d", str(wheels)], cwd=tmp_path, env=os.environ.copy())
    assert pip.returncode == 0, pip.stderr
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True)
    wheel = next(wheels.glob("pip-*.whl"))
    (cache / "get_pip_24_2.py").write_text(
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(wheel)!r})\n"
        f"sys.argv = ['pip', 'install', '--no-index', '--quiet', {str(wheel)!r}]\n"
        "runpy.run_module('pip', run_name='__main__', alter_sys=True)\n")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    result = _run([str(ANSIBLE_BIN / "ansible-test"), "sanity", "--python", python, "--color",
                   "no", "plugins/"], cwd=tree, env=_outside_env(home), timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert "validate-modules" in result.stdout


def test_ansible_builder_context(tarball, tmp_path) -> None:
    """`ansible-builder create` (no image build here) turns execution-environment.yml into a
    context holding the pinned collections, the Python and system needs, and our tarball."""
    for name in ("execution-environment.yml", "requirements.yml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "dist").mkdir()
    shutil.copy(tarball, tmp_path / "dist" / tarball.name)
    result = _run([str(ANSIBLE_BIN / "ansible-builder"), "create", "-f",
                   "execution-environment.yml", "-c", "context"], cwd=tmp_path,
                  env=_outside_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    spec = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert f'EE_BASE_IMAGE="{spec["images"]["base_image"]["name"]}"' in containerfile
    assert "ansible-core>=2.17,<2.20" in containerfile
    assert "ansible-galaxy collection install --offline" in containerfile
    assert (context / "_build" / "requirements.yml").read_text() == (
        REPO / "requirements.yml").read_text()
    assert (context / "_build" / "collection" / tarball.name).is_file()
    python = (context / "_build" / "requirements.txt").read_text()
    assert "PyYAML" in python and "click" in python
    assert "openssh-clients" in (context / "_build" / "bindep.txt").read_text()


def _findings(record: Path) -> list[dict]:
    return [finding for path in sorted((record / "findings").glob("*.json"))
            for finding in json.loads(path.read_text())["findings"]]


@pytest.mark.lab
def test_fqcn_playbooks_from_the_installed_collection(lab, installed, tmp_path) -> None:
    env = _outside_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(installed),
                       ANSIBLE_HOST_KEY_CHECKING="False")
    inventory = str(lab.inventory / "hosts.yml")

    def playbook(name: str, *args: str, record: Path | None = None):
        extra = ["-e", f"kubemedic_record_dir={record}"] if record else []
        result = _run([str(ANSIBLE_BIN / "ansible-playbook"), "-i", inventory,
                       f"kubemedic.cluster.{name}", "--limit", NODE, *args, *extra],
                      cwd=tmp_path, env=env)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return result

    listed = _run([str(ANSIBLE_BIN / "ansible-galaxy"), "collection", "list", "kubemedic.cluster"],
                  cwd=tmp_path, env=env)
    assert str(installed) in listed.stdout, listed.stdout + listed.stderr
    playbook("drill", "--tags", "hosts-allow-broken")
    before, after = tmp_path / "doctor-before", tmp_path / "doctor-after"
    for record in (before, after, tmp_path / "recover"):
        record.mkdir()
    playbook("doctor", record=before)
    broken = [f for f in _findings(before) if f["step"] == STEP]
    assert any(f["severity"] == "critical" for f in broken), _findings(before)
    assert f"kubemedic recover {STEP} -c {NAME} --limit {NODE}" in broken[0]["command"]
    playbook("recover", "--tags", STEP, record=tmp_path / "recover")
    playbook("doctor", record=after)
    assert not [f for f in _findings(after) if f["step"] == STEP], _findings(after)


@pytest.mark.lab
def test_wheel_in_a_fresh_venv_runs_doctor_and_recover(lab, tmp_path) -> None:
    dist, venv, home = tmp_path / "dist", tmp_path / "venv", tmp_path / "home"
    build = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
                 cwd=tmp_path, env=os.environ.copy())
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheel = next(dist.glob("kubemedic-*.whl"))
    made = _run(["/usr/bin/python3", "-m", "venv", str(venv)], cwd=tmp_path, env=os.environ.copy())
    assert made.returncode == 0, made.stderr
    pip = _run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], cwd=tmp_path,
               env=_outside_env(home))
    assert pip.returncode == 0, pip.stderr[-3000:]
    _copy_dependencies(home / ".ansible" / "collections")  # where an operator installs them
    env = _outside_env(home, KUBEMEDIC_STATE_DIR=str(tmp_path / "state"))
    kubemedic = [str(venv / "bin" / "kubemedic"), "--inventory-dir", str(lab.inventory.parent)]
    where = _run([str(venv / "bin" / "python"), "-c",
                  "from kubemedic import paths; print(paths.project_root())"], cwd=tmp_path, env=env)
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    version = _run([*kubemedic, "--version"], cwd=tmp_path, env=env).stdout
    assert f"collection kubemedic.cluster {__version__} ({venv}" in version, version
    assert "collection ansible.posix" in version, version
    drill = _run([*kubemedic, "lab", "drill", "-c", NAME, "hosts-allow-broken", "--limit", NODE,
                  "--json"], cwd=tmp_path, env=env)
    assert drill.returncode == 0, drill.stdout[-2000:] + drill.stderr[-2000:]

    def doctor() -> tuple[int, list[dict]]:
        result = _run([*kubemedic, "doctor", "-c", NAME, "--limit", NODE, "--json"],
                      cwd=tmp_path, env=env)
        answer = json.loads(result.stdout)
        jsonschema.validate(answer, output.load_schema("doctor"))
        return result.returncode, [f for f in answer["findings"] if f["step"] == STEP]

    rc, broken = doctor()
    assert rc == 5 and [f for f in broken if f["severity"] == "critical"], broken
    recover = _run([*kubemedic, "recover", STEP, "-c", NAME, "--limit", NODE, "--json"],
                   cwd=tmp_path, env=env)
    summary = json.loads(recover.stdout)
    jsonschema.validate(summary, output.load_schema(output.RUN_SCHEMA))
    assert recover.returncode == 0, (summary["failures"], recover.stderr[-2000:])
    assert summary["record"].startswith(str(tmp_path / "state"))
    assert doctor()[1] == []
