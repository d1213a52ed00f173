"""Container runtime, offline bundle, private registry and NVIDIA runtime on real lab nodes.

One lab (km-rt, 3 nodes) is shared by the whole module; the tests run in file order and build on
each other like an operator's session: converge docker → refuse a bad daemon.json → bundle
create/verify (and refuse corrupt bundles) → load on every node → push → pull from the registry
(first plain http, then with TLS + htpasswd) → NVIDIA runtime → pause-image recovery.

Real here: systemd, apt, docker.io 20.10 (vfs), Debian's docker-registry, openssl CA, docker
save/load/push/pull. Test double: tests/integration/fake-nvidia-container-toolkit (a .deb whose
nvidia-container-runtime is a runc wrapper) because the lab has no GPU and no NVIDIA repository.
Test images are built locally (docker import + COPY-only builds sharing one base layer): no
internet registry is reachable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
NAME = "km-rt"
SUBNET = "192.168.234.0/24"
REGISTRY = "192.168.234.11:5000"
IMAGES = ["k8s.gcr.io/pause:3.2", "example.org/app/web:1.0", "example.org/app/worker:1.0"]
NODES = ["km-rt-node1", "km-rt-node2", "km-rt-node3"]


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(NAME, nodes=3, subnet=SUBNET)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runtime")


def run(lab, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return lab.kubemedic(*args, env=env)


def recap(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout)["hosts"]


def total_changed(result: subprocess.CompletedProcess) -> int:
    return sum(h["changed"] for h in recap(result).values())


def docker_env(lab, work: Path) -> dict[str, str]:
    """The docker CLI on this machine drives node1's engine over ssh (a connected dev-box).

    The CLI runs plain `ssh`; a wrapper adds the lab's ssh_config (key, no host-key prompts).
    """
    wrapper = work / "bin" / "ssh"
    if not wrapper.exists():
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {lab.ssh_config} \"$@\"\n")
        wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}",
            "DOCKER_HOST": f"ssh://root@{lab.nodes['km-rt-node1']}", "DOCKER_BUILDKIT": "0"}


def edit_group_vars(lab, **values) -> None:
    path = lab.inventory / "group_vars" / "all.yml"
    data = yaml.safe_load(path.read_text()) or {}
    data.update(values)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_converge_merges_daemon_json_and_is_idempotent(lab) -> None:
    lab.ssh("km-rt-node1", "mkdir -p /etc/docker && "
            "echo '{\"max-concurrent-downloads\": 7}' > /etc/docker/daemon.json", check=True)
    first = run(lab, "bootstrap", "-c", NAME, "--tags", "container-runtime,registry", "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    daemon = json.loads(lab.ssh("km-rt-node1", "cat /etc/docker/daemon.json", check=True).stdout)
    assert daemon["max-concurrent-downloads"] == 7, "a key kubemedic does not own was lost"
    assert daemon["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert daemon["insecure-registries"] == [REGISTRY]
    info = lab.ssh("km-rt-node2", "docker info --format '{{.LoggingDriver}} {{.CgroupDriver}}'",
                   check=True).stdout.split()
    assert info == ["json-file", "systemd"]
    assert "docker.io" in lab.ssh("km-rt-node3", "apt-mark showhold", check=True).stdout
    catalog = lab.ssh("km-rt-node2", "python3 -c \"import urllib.request as u; print(u.urlopen("
                      f"'http://{REGISTRY}/v2/_catalog').read().decode())\"", check=True)
    assert json.loads(catalog.stdout) == {"repositories": []}

    second = run(lab, "bootstrap", "-c", NAME, "--tags", "container-runtime,registry", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    assert total_changed(second) == 0, recap(second)
    # --check on a converged node (registry included) reports nothing to change.
    dry = run(lab, "bootstrap", "-c", NAME, "--tags", "container-runtime,registry", "--check",
              "--limit", "km-rt-node1", "--json")
    assert dry.returncode == 0 and total_changed(dry) == 0, dry.stdout + dry.stderr


def test_bad_daemon_json_input_fails_before_restart(lab) -> None:
    node = "km-rt-node2"
    before = lab.ssh(node, "md5sum /etc/docker/daemon.json; systemctl show -p MainPID docker",
                     check=True).stdout
    bad = run(lab, "bootstrap", "-c", NAME, "--tags", "container-runtime", "--limit", node,
              "-e", "container_runtime_log_max_size=banana")
    assert bad.returncode == 3, bad.stdout + bad.stderr
    assert "max-size" in bad.stdout + bad.stderr and "old file kept" in bad.stdout + bad.stderr
    after = lab.ssh(node, "md5sum /etc/docker/daemon.json; systemctl show -p MainPID docker",
                    check=True).stdout
    assert after == before, "daemon.json changed or docker restarted after a refused input"
    assert lab.ssh(node, "systemctl is-active docker").stdout.strip() == "active"


def _build_images(lab, work: Path) -> None:
    env = docker_env(lab, work)
    ctx = work / "images"
    (ctx / "rootfs" / "etc").mkdir(parents=True, exist_ok=True)
    (ctx / "rootfs" / "etc" / "shared.bin").write_bytes(os.urandom(600_000))
    subprocess.run(["tar", "-C", str(ctx / "rootfs"), "-cf", str(ctx / "base.tar"), "."],
                   check=True)
    subprocess.run(["docker", "import", str(ctx / "base.tar"), "kubemedic-test/base:1"],
                   env=env, check=True, capture_output=True)
    for ref, payload in zip(IMAGES, ("pause", "web", "worker"), strict=True):
        build = ctx / payload
        build.mkdir(exist_ok=True)
        (build / payload).write_bytes(os.urandom(60_000))
        (build / "Dockerfile").write_text(f"FROM kubemedic-test/base:1\nCOPY {payload} /"
                                          f"{payload}\n")
        subprocess.run(["docker", "build", "-q", "-t", ref, str(build)], env=env, check=True,
                       capture_output=True)


def test_bundle_create_verify_and_refuse_corruption(lab, work) -> None:
    _build_images(lab, work)
    deb = work / "fake-nvidia-container-toolkit.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build",
                    str(HERE / "fake-nvidia-container-toolkit"), str(deb)], check=True,
                   capture_output=True)
    bundle = work / "bundle"
    args = ["bundle", "create", "-o", str(bundle), "--no-kubeadm-images", "--deb", str(deb),
            "--json"]
    for ref in IMAGES:
        args += ["--image", ref]
    created = run(lab, *args, env=docker_env(lab, work))
    assert created.returncode == 0, created.stderr
    stats = json.loads(created.stdout)["stats"]
    # One archive: the shared base layer is stored once, not three times.
    assert stats["unique_layers"] == 4
    assert stats["archive_bytes"] < 0.6 * stats["sum_of_image_sizes"], stats
    assert (bundle / "debs" / "Packages").read_text().count("Package: nvidia-container-toolkit")
    assert run(lab, "bundle", "verify", str(bundle)).returncode == 0

    corrupt = work / "corrupt"
    shutil.copytree(bundle, corrupt)
    with (corrupt / "images.tar").open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    refused = run(lab, "bundle", "verify", str(corrupt))
    assert refused.returncode == 2 and "images.tar: corrupt" in refused.stderr, refused.stderr

    truncated = work / "truncated"
    shutil.copytree(bundle, truncated)
    os.truncate(truncated / "images.tar", 10_000)
    refused = run(lab, "bundle", "verify", str(truncated))
    assert refused.returncode == 2 and "images.tar: truncated" in refused.stderr, refused.stderr

    # Refused before anything is copied: no node gets an archive folder.
    load = run(lab, "images", "load", "-c", NAME, "--bundle", str(corrupt))
    assert load.returncode == 2 and "images.tar" in load.stderr, load.stderr
    for node in NODES[1:]:
        assert lab.ssh(node, "test -e /var/cache/kubemedic/images").returncode != 0


def bundle_ids(work: Path) -> dict[str, str]:
    manifest = json.loads((work / "bundle" / "bundle.json").read_text())
    return {image["ref"]: image["id"] for image in manifest["images"]}


def test_images_load_everywhere_then_push(lab, work) -> None:
    bundle = str(work / "bundle")
    load = run(lab, "images", "load", "-c", NAME, "--bundle", bundle, "--json")
    assert load.returncode == 0, load.stdout + load.stderr
    ids = bundle_ids(work)
    for node in NODES:
        for ref, image_id in ids.items():
            name = ref.split("/", 1)[1]
            out = lab.ssh(node, f"docker image inspect --format '{{{{.Id}}}}' {ref} "
                                f"{REGISTRY}/{name}", check=True).stdout.split()
            assert out == [image_id, image_id], (node, ref, out)
    push = run(lab, "images", "push", "-c", NAME, "--bundle", bundle, "--json")
    assert push.returncode == 0, push.stdout + push.stderr
    catalog = lab.ssh("km-rt-node3", "python3 -c \"import urllib.request as u; print(u.urlopen("
                      f"'http://{REGISTRY}/v2/_catalog').read().decode())\"", check=True)
    assert sorted(json.loads(catalog.stdout)["repositories"]) == ["app/web", "app/worker",
                                                                  "pause"]
    # Re-runs skip what is present by digest: nothing copied, loaded or pushed.
    for verb in ("load", "push"):
        again = run(lab, "images", verb, "-c", NAME, "--bundle", bundle, "--json")
        assert again.returncode == 0 and total_changed(again) == 0, recap(again)
    # A node without the image pulls it from the registry (plain http, insecure-registries).
    pulled = lab.ssh("km-rt-node3", f"docker rmi -f example.org/app/web:1.0 {REGISTRY}/app/web:1.0"
                     f" && docker pull {REGISTRY}/app/web:1.0 && docker image inspect "
                     f"--format '{{{{.Id}}}}' {REGISTRY}/app/web:1.0")
    assert pulled.returncode == 0 and ids["example.org/app/web:1.0"] in pulled.stdout, pulled


def test_registry_with_tls_and_auth_serves_pulls(lab, work) -> None:
    edit_group_vars(lab, cluster_registry_tls=True, registry_auth=True,
                    registry_auth_password="s3cret-pw")
    # An empty registry, so the push below really goes over TLS with a password.
    lab.ssh("km-rt-node1", "rm -rf /var/lib/registry/docker", check=True)
    converge = run(lab, "bootstrap", "-c", NAME, "--tags", "container-runtime,registry",
                   "--json")
    assert converge.returncode == 0, converge.stdout + converge.stderr
    daemon = json.loads(lab.ssh("km-rt-node2", "cat /etc/docker/daemon.json", check=True).stdout)
    assert daemon["insecure-registries"] == []
    assert lab.ssh("km-rt-node2", f"test -s /etc/docker/certs.d/{REGISTRY}/ca.crt").returncode == 0
    anonymous = lab.ssh("km-rt-node2", "python3 - <<'EOF'\nimport ssl, urllib.request as u, "
                        "urllib.error as e\nctx = ssl.create_default_context(cafile="
                        f"'/etc/docker/certs.d/{REGISTRY}/ca.crt')\ntry:\n    u.urlopen("
                        f"'https://{REGISTRY}/v2/_catalog', context=ctx)\n    print('open')\n"
                        "except e.HTTPError as err:\n    print(err.code)\nEOF")
    assert anonymous.stdout.strip() == "401", anonymous

    push = run(lab, "images", "push", "-c", NAME, "--bundle", str(work / "bundle"), "--json")
    assert push.returncode == 0 and total_changed(push) > 0, push.stdout + push.stderr
    ids = bundle_ids(work)
    pulled = lab.ssh("km-rt-node3", f"docker rmi -f example.org/app/worker:1.0 "
                     f"{REGISTRY}/app/worker:1.0 && docker pull {REGISTRY}/app/worker:1.0 && "
                     f"docker image inspect --format '{{{{.Id}}}}' {REGISTRY}/app/worker:1.0")
    assert pulled.returncode == 0 and ids["example.org/app/worker:1.0"] in pulled.stdout, pulled


def test_nvidia_runtime_with_stand_in_package(lab, work) -> None:
    hosts_file = lab.inventory / "hosts.yml"
    inventory = yaml.safe_load(hosts_file.read_text())
    cluster = inventory["all"]["children"]["cluster"]["children"]
    cluster["workers"]["hosts"]["km-rt-node3"]["accelerator"] = "nvidia"
    cluster["gpu"] = {"hosts": {"km-rt-node3": {}}}
    hosts_file.write_text(yaml.safe_dump(inventory, sort_keys=False))
    result = run(lab, "bootstrap", "-c", NAME, "--tags", "nvidia-runtime", "-v",
                 "-e", "nvidia_runtime_source=offline",
                 "-e", f"container_runtime_offline_repo_src={work / 'bundle' / 'debs'}")
    assert result.returncode == 0, result.stdout + result.stderr
    info = lab.ssh("km-rt-node3", "docker info --format '{{.DefaultRuntime}}'", check=True)
    assert info.stdout.strip() == "nvidia"
    daemon = json.loads(lab.ssh("km-rt-node3", "cat /etc/docker/daemon.json", check=True).stdout)
    assert daemon["runtimes"]["nvidia"]["path"] == "/usr/bin/nvidia-container-runtime"
    assert daemon["log-opts"]["max-size"] == "10m", "nvidia_runtime dropped runtime keys"
    record = Path(os.environ["KUBEMEDIC_STATE_DIR"]) / "runs" / NAME
    latest = sorted(record.glob("*-bootstrap"))[-1]
    stdout = "\n".join(p.read_text(errors="replace") for p in latest.rglob("stdout"))
    assert "SKIPPED the GPU smoke test" in stdout + result.stdout + result.stderr


def test_pause_image_recovery_reloads_without_internet(lab) -> None:
    node = "km-rt-node2"
    # Reproduce seed 000 #1: the pause image's layer directory vanished under docker.
    # (every layer folder holding /pause: a reused lab may keep older builds' layers too)
    lab.ssh(node, "for f in /var/lib/docker/vfs/dir/*/pause; do rm -rf \"$(dirname \"$f\")\"; done",
            check=True)
    broken = lab.ssh(node, "docker save k8s.gcr.io/pause:3.2 >/dev/null")
    assert broken.returncode != 0 and "no such file or directory" in broken.stderr
    result = run(lab, "recover", "pause-image", "-c", NAME, "--limit", node,
                 "-e", "container_runtime_pause_tag=3.2")
    assert result.returncode == 0, result.stdout + result.stderr
    for ref in ("k8s.gcr.io/pause:3.2", f"{REGISTRY}/pause:3.2", "registry.k8s.io/pause:3.2"):
        assert lab.ssh(node, f"docker save {ref} >/dev/null").returncode == 0, ref
