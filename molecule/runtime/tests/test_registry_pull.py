"""km-molrt-node2 never had the pause image: it pulls it from the private registry on node1.

side_effect.yml (test fixture) built the image on node1 from a one-file rootfs and pushed it;
the registry is plain http, so this pull also proves insecure-registries reached docker.
"""

import json

import pytest

testinfra_hosts = ["km-molrt-node2"]
REGISTRY = "172.30.4.11:5000"
IMAGE = f"{REGISTRY}/pause:3.2"


def test_pull_from_the_private_registry(host):
    host.run(f"docker rmi -f {IMAGE}")
    assert host.run(f"docker image inspect {IMAGE}").rc != 0, "image still present before pull"
    pulled = host.run(f"docker pull {IMAGE}")
    assert pulled.rc == 0, pulled.stderr
    marker = host.check_output(f"cid=$(docker create {IMAGE} /marker) && "
                               "docker cp $cid:/marker - | tar -xO; docker rm $cid >/dev/null")
    assert marker == "kubemedic molecule pause"


def test_catalog_lists_the_pushed_image(host):
    out = host.check_output("python3 -c \"import urllib.request as u; print(u.urlopen("
                            f"'http://{REGISTRY}/v2/_catalog', timeout=10).read().decode())\"")
    assert "pause" in json.loads(out)["repositories"]


@pytest.mark.parametrize("ref", [f"{REGISTRY}/pause:9.9", f"{REGISTRY}/absent:1"])
def test_unknown_images_are_refused(host, ref):
    result = host.run(f"docker pull {ref}")
    assert result.rc != 0
    assert "not found" in result.stderr or "manifest unknown" in result.stderr, result.stderr
