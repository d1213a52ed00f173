"""Property: whatever a file or value kubemedic reads holds, the loader the CLI calls answers with
success or exit 2 (its own usage/policy/bundle error), never another exit code, never a
traceback, each example within a few seconds.

Mutations start from real inputs (the example inventory, the default Xid policy, a bundle
manifest, OpenPAI's layout.yaml, `-e` values and @files) and apply what issue 18 found by hand
plus random ones: byte flips and insertions (Latin-1, UTF-16, NUL), truncation, nasty YAML
snippets (deep nesting, alias bombs, python tags, duplicate keys, lookups, huge scalars) and
random values at random keys. Fixed seed (derandomize): the same examples on every run and in CI.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubemedic import inputs
from kubemedic.errors import KubemedicUsageError
from kubemedic.heal.policy import Policy, PolicyError, default_policy_text, load_policy
from kubemedic.main import cli
from kubemedic.options import parse_extravars

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventories" / "example"
LAYOUT = (REPO / "tests" / "data" / "openpai-layout.yaml").read_bytes()
POLICY = default_policy_text().encode()
MANIFEST = json.dumps({
    "format": 1, "kubernetes_version": "1.20.2",
    "images": [{"ref": "k8s.gcr.io/pause:3.2", "name": "pause:3.2", "id": "sha256:" + "a" * 64,
                "layers": ["l1"], "size": 10}],
    "packages": [{"name": "kubeadm", "version": "1.20.2", "file": "debs/kubeadm.deb"}],
    "files": {"images.tar": {"sha256": "0" * 64, "size": 3}}}, indent=1).encode()


def _profile(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, database=None,
                    deadline=timedelta(seconds=20), print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


BOMB = ("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: [*f, *f, *f, *f, *f, *f, *f, *f]\n")
SNIPPETS = [
    BOMB, "x: " + "[" * 3000 + "\n", "x: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
    "x: !!python/object/apply:os.system [id]\n", "x: *undefined\n", "x: 1\nx: 2\n",
    "cluster_name: \"{{ lookup('pipe', 'id') }}\"\n", "x: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  zz\n",
    "cluster_name: " + "a" * 20_000 + "\n", "- list\n- at top\n", "? [a, b]\n: c\n", "\t x: 1\n",
    "x: !unsafe '{{ q(\"lines\", \"id\") }}'\n", "%YAML 9.9\n---\n", "--- a\n--- b\n",
    "x: &a [*a]\n", "x: 1e400\n", "x: 0x\n", "x: 2001-13-45\n", "{", "]", "x: [",
    "accelerator: {nested: [1, 2]}\n", "first_master: [true]\n", "ansible_host: 300.1.1.1\n",
    "cluster_subnet: 10.0.0.0/33\n", "cluster_log_max_file: -1\n", "children: 5\n",
    "all: null\n", "hosts: [a, b]\n", "vars: {cluster_x: 1}\n",
]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=40), st.sampled_from(["{{ x }}", "<vault>", "", "-", "~"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10) | st.integers(), inner,
                                                 max_size=4)), max_leaves=12)


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """`original` with one to three mutations."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "truncate", "snippet", "value", "encode"]))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            del data[at:]
        elif kind == "snippet":
            line_start = data.rfind(b"\n", 0, at) + 1
            data[line_start:line_start] = draw(st.sampled_from(SNIPPETS)).encode()
        elif kind == "value":
            try:
                document = yaml.safe_load(bytes(data).decode())
            except (UnicodeDecodeError, yaml.YAMLError, RecursionError,
                    ValueError, TypeError, OverflowError):  # 2001-13-45, 1e400, ...: not a dict
                continue
            if isinstance(document, dict) and document:
                key = draw(st.sampled_from(sorted(document, key=str)))
                document[key] = draw(values)
                data = bytearray(yaml.safe_dump(document, allow_unicode=True).encode())
        elif kind == "encode":
            text = bytes(data).decode("utf-8", "replace")
            data = bytearray(text.encode(draw(st.sampled_from(["utf-16", "latin-1", "utf-32"])),
                                         "replace"))
    return bytes(data)


def assert_clean(result) -> None:
    """Exit 0 or 2 through click, with no exception of any other kind."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code in (0, 2), result.output[-2000:]
    assert "Traceback" not in result.output


INVENTORY_FILES = ["hosts.yml", "group_vars/all.yml", "group_vars/workers.yml",
                   "host_vars/gpu1.yml"]
_SEED_FILES = {"group_vars/workers.yml": b"workers_note: plain\n",
               "host_vars/gpu1.yml": b"accelerator: nvidia\n"}


@st.composite
def inventories(draw) -> dict[str, bytes]:
    relative = draw(st.sampled_from(INVENTORY_FILES))
    path = EXAMPLE / relative
    original = path.read_bytes() if path.is_file() else _SEED_FILES[relative]
    return {relative: draw(mutated(original))}


@_profile(700)
@given(inventories())
def test_inventory_check_answers_0_or_2(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "acme"
        shutil.copytree(EXAMPLE, root)
        for relative, data in files.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
        assert_clean(CliRunner().invoke(cli, ["--inventory-dir", scratch, "inventory", "check",
                                              "acme"]))


@_profile(1200)
@given(mutated(POLICY))
def test_heal_policy_loads_or_is_refused(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "xid-policy.yml"
        path.write_bytes(data)
        try:
            assert isinstance(load_policy(path), Policy)
        except PolicyError as exc:
            assert str(path) in str(exc) and len(str(exc)) < 20_000


@_profile(800)
@given(mutated(MANIFEST))
def test_bundle_verify_answers_0_or_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "bundle.json").write_bytes(data)
        (Path(scratch) / "images.tar").write_bytes(b"abc")
        assert_clean(CliRunner().invoke(cli, ["bundle", "verify", scratch]))


@_profile(400)
@given(mutated(LAYOUT))
def test_openpai_import_answers_0_or_2(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        layout = Path(scratch) / "layout.yaml"
        layout.write_bytes(data)
        assert_clean(CliRunner().invoke(cli, [
            "--inventory-dir", str(Path(scratch) / "inv"), "inventory", "import", "--from",
            "openpai", "-c", "pai", str(layout)]))


extra_var_values = st.one_of(
    st.text(max_size=60).map(lambda text: f"key={text}"),
    st.sampled_from(SNIPPETS).map(lambda snippet: f"key={snippet}"),
    st.text(max_size=30), st.sampled_from(SNIPPETS).map(lambda snippet: "{" + snippet),
    values.map(lambda value: json.dumps(value, default=str)),
)


@_profile(800)
@given(st.lists(extra_var_values, min_size=1, max_size=3), st.binary(max_size=200))
def test_extra_vars_parse_or_are_refused(values_given: list[str], file_bytes: bytes) -> None:
    """-e key=value / JSON / @file: a mapping of variable names, or the CLI's usage error (exit 2)."""
    with tempfile.TemporaryDirectory() as scratch:
        var_file = Path(scratch) / "vars.yml"
        var_file.write_bytes(file_bytes)
        for given_values in (values_given, [f"@{var_file}"]):
            try:
                parsed = parse_extravars(tuple(given_values))
            except (KubemedicUsageError, inputs.InputError) as exc:
                assert len(str(exc)) < 2_000
            else:
                assert isinstance(parsed, dict) and all(isinstance(k, str) for k in parsed)
