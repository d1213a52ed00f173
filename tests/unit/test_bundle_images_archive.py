"""`bundle create --images-archive`: a docker-archive made without docker (scripts/pack-kubernetes)
becomes the bundle's images.tar as it is; no docker CLI is called."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kubemedic.bundle.create import CreateError, CreateRequest, create
from kubemedic.bundle.manifest import verify


def _archive(path: Path, tags: list[str]) -> None:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    manifest = []
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add(f"{diff_id}/layer.tar", layer_bytes)
        for tag in tags:
            config = json.dumps({"os": "linux", "architecture": "amd64", "config": {"Cmd": [tag]},
                                 "rootfs": {"type": "layers",
                                            "diff_ids": [f"sha256:{diff_id}"]}}).encode()
            name = f"{hashlib.sha256(config).hexdigest()}.json"
            add(name, config)
            manifest.append({"Config": name, "RepoTags": [tag],
                             "Layers": [f"{diff_id}/layer.tar"]})
        add("manifest.json", json.dumps(manifest).encode())


def test_archive_images_are_bundled_without_docker(tmp_path) -> None:
    archive = tmp_path / "images.tar"
    _archive(archive, ["k8s.gcr.io/pause:3.2", "k8s.gcr.io/kube-apiserver:v1.20.2"])
    request = CreateRequest(output=tmp_path / "bundle", images=["k8s.gcr.io/pause:3.2"],
                            docker="/nonexistent/docker", images_archive=archive)
    manifest = create(request)
    assert [i["ref"] for i in manifest["images"]] == ["k8s.gcr.io/pause:3.2",
                                                      "k8s.gcr.io/kube-apiserver:v1.20.2"]
    assert manifest["stats"]["unique_layers"] == 1
    assert (tmp_path / "bundle" / "images.tar").read_bytes() == archive.read_bytes()
    assert verify(tmp_path / "bundle").ok


def test_an_image_missing_from_the_archive_is_named(tmp_path) -> None:
    archive = tmp_path / "images.tar"
    _archive(archive, ["k8s.gcr.io/pause:3.2"])
    request = CreateRequest(output=tmp_path / "bundle", images=["k8s.gcr.io/coredns:1.7.0"],
                            images_archive=archive)
    with pytest.raises(CreateError, match=r"not in .*k8s\.gcr\.io/coredns:1\.7\.0"):
        create(request)
