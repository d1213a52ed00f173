"""`bundle create --images-file` reads its list like every other input (kubemedic.inputs): one
image per line with # comments; a missing, folder, binary or non-UTF-8 file is exit 2 naming the
file (and the line), before anything is bundled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemedic.bundle import create as create_module
from kubemedic.main import cli


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list:
    """What `bundle create` would build (the real create needs docker): its requests."""
    seen: list = []

    def fake_create(request, log=print):
        seen.append(request)
        raise create_module.CreateError("stopped by the test after reading the request")

    monkeypatch.setattr(create_module, "create", fake_create)
    return seen


def run(tmp_path: Path, images_file: Path | str):
    return CliRunner().invoke(cli, ["bundle", "create", "-o", str(tmp_path / "out"),
                                    "--no-kubeadm-images", "--images-file", str(images_file)])


def test_images_and_comments_are_read(tmp_path: Path, requests: list) -> None:
    listed = tmp_path / "images.txt"
    listed.write_text("# control plane\nregistry.local/pause:3.2  # infra\n\n  nginx:1.25\n")
    result = run(tmp_path, listed)
    assert result.exit_code == 2 and "stopped by the test" in result.output
    assert requests[0].images == ["registry.local/pause:3.2", "nginx:1.25"]


@pytest.mark.parametrize(("content", "expected"), [
    (b"nginx:1.25\ncaf\xe9:latest\n", r"images\.txt:2: byte 0xe9 is not UTF-8"),
    (b"\xff\xfen\x00g\x00", r"images\.txt: is UTF-16/UTF-32 encoded"),
    (b"nginx\x00\x01\x02", r"images\.txt:1: is binary"),
])
def test_unreadable_list_is_exit_2_naming_the_file(tmp_path: Path, requests: list,
                                                   content: bytes, expected: str) -> None:
    listed = tmp_path / "images.txt"
    listed.write_bytes(content)
    result = run(tmp_path, listed)
    assert result.exit_code == 2, result.output
    assert re.search(expected, result.output), result.output
    assert "Traceback" not in result.output and requests == []


@pytest.mark.parametrize("make", ["missing", "folder"])
def test_missing_or_folder_is_exit_2(tmp_path: Path, requests: list, make: str) -> None:
    target = tmp_path / "images.txt"
    if make == "folder":
        target.mkdir()
    result = run(tmp_path, target)
    assert result.exit_code == 2, result.output
    assert str(target) in result.output
    assert ("is a folder, not a file" if make == "folder" else "cannot read") in result.output
    assert requests == []
