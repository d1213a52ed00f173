"""Regression tests of issue 18's malformed inputs: every one exits 2 (or is refused with the
loader's own error) naming the file, the line where known and the field; none traces back."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubemedic import inputs
from kubemedic.bundle.manifest import BundleError, load_manifest
from kubemedic.commands import etcd as etcd_cmd
from kubemedic.errors import KubemedicUsageError
from kubemedic.heal.policy import PolicyError, load_policy
from kubemedic.main import cli

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
LATIN1 = "cluster_log_max_size: caf\xe9\n".encode("latin-1")
BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n")


def run(*args: str, inventories: Path | None = None):
    prefix = ["--inventory-dir", str(inventories)] if inventories else []
    return CliRunner().invoke(cli, [*prefix, *args], catch_exceptions=False)


@pytest.fixture()
def inventories(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "inventories" / "example", tmp_path / "acme")
    return tmp_path


def check(inventories: Path, *extra: str):
    return run(*extra, "inventory", "check", "acme", inventories=inventories)


def deep_yaml(levels: int) -> str:
    return "cluster_x: " + "[" * levels + "]" * levels + "\n"


# ------------------------------------------------------------------- encodings, size, depth

@pytest.mark.parametrize("relative", ["hosts.yml", "group_vars/all.yml", "host_vars/gpu1.yml"])
def test_latin1_byte_names_file_and_line(inventories: Path, relative: str) -> None:
    path = inventories / "acme" / relative
    path.parent.mkdir(exist_ok=True)
    original = path.read_bytes() if path.exists() else b""
    path.write_bytes(original + LATIN1)
    result = check(inventories)
    assert result.exit_code == 2
    line = original.count(b"\n") + 1
    assert f"{relative}:{line}: byte 0xe9 is not UTF-8" in result.output


def test_utf16_and_binary_are_named(inventories: Path) -> None:
    all_yml = inventories / "acme" / "group_vars" / "all.yml"
    all_yml.write_bytes(all_yml.read_text().encode("utf-16"))
    result = check(inventories)
    assert result.exit_code == 2 and "all.yml: is UTF-16/UTF-32 encoded" in result.output
    all_yml.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    result = check(inventories)
    assert result.exit_code == 2 and "all.yml:1: is binary" in result.output


def test_oversized_file_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    big.write_bytes(b"#" * (inputs.MAX_BYTES + 1))
    with pytest.raises(inputs.InputError, match="larger than 8 MiB"):
        inputs.read_text(big)


def test_deep_nesting_in_all_yml_policy_and_manifest(inventories: Path, tmp_path: Path) -> None:
    (inventories / "acme" / "group_vars" / "all.yml").write_text(deep_yaml(5000))
    result = check(inventories)
    assert result.exit_code == 2 and "all.yml:1: nested deeper than 64 levels" in result.output
    policy = tmp_path / "policy.yml"
    policy.write_text("rules: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(PolicyError, match=r"policy\.yml:1: nested deeper than 64"):
        load_policy(policy)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "bundle.json").write_text('{"format": 1, "files": ' + "[" * 100000 + "]" * 100000
                                        + "}")
    with pytest.raises(BundleError, match=r"bundle\.json: unreadable or corrupt: nested deeper"):
        load_manifest(bundle)


def test_alias_bomb_as_cluster_name_refused(inventories: Path) -> None:
    all_yml = inventories / "acme" / "group_vars" / "all.yml"
    all_yml.write_text(all_yml.read_text().replace("cluster_name:", "old_name:") + BOMB
                       + "cluster_name: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n")
    result = check(inventories)
    assert result.exit_code == 2
    assert re.search(r"all\.yml:\d+: YAML aliases expand to \d+ nodes", result.output)
    assert "alias bomb" in result.output


def test_alias_bomb_as_rule_priority_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text(BOMB + "rules:\n  - name: r\n    priority: [*f, *f, *f, *f, *f, *f]\n")
    with pytest.raises(PolicyError, match="alias bomb"):
        load_policy(policy)


@pytest.mark.parametrize("text", ["x: &a [*a]\n", "rules: &r\n  - name: *r\n",
                                  "a: &x [1, &y {k: *y}]\n"])
def test_alias_inside_its_own_node_refused_in_bounded_memory(tmp_path: Path, text: str) -> None:
    """A self-containing alias (found by the property test: it once grew memory until the OOM
    killer stopped the run) is refused like a bomb, naming the file."""
    policy = tmp_path / "policy.yml"
    policy.write_text(text)
    with pytest.raises(PolicyError, match=r"policy.yml:1: a YAML alias refers to a node that "
                                          r"contains it"):
        load_policy(policy)


def test_heal_policy_latin1(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_bytes(b"max_unavailable: 1\n# caf\xe9\n")
    with pytest.raises(PolicyError, match=r"policy.yml:2: byte 0xe9 is not UTF-8"):
        load_policy(policy)


def test_policy_with_mixed_key_types_is_a_policy_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("1: x\nzz: y\nrules: []\n")
    with pytest.raises(PolicyError, match="unknown field"):
        load_policy(policy)


# ------------------------------------------------------------------- names

def test_long_customer_name_refused_without_oserror(tmp_path: Path) -> None:
    name = "a" * 300
    for args in (["init", name], ["inventory", "check", name], ["history", "-c", name]):
        result = run(*args, inventories=tmp_path)
        assert result.exit_code == 2, args
        assert "too long (300 characters, at most 63)" in result.output
        assert name not in result.output  # clipped


def test_init_refuses_a_trailing_newline(tmp_path: Path) -> None:
    result = run("init", "acme\n", inventories=tmp_path)
    assert result.exit_code == 2 and "'acme\\n' is invalid" in result.output
    assert list(tmp_path.iterdir()) == []


def test_long_snapshot_name_refused(tmp_path: Path) -> None:
    with pytest.raises(inputs.InputError, match=r"etcd snapshot name.*too long"):
        etcd_cmd.resolve_snapshot(tmp_path, "s" * 300, False)
    with pytest.raises(KubemedicUsageError, match="no such file"):
        etcd_cmd.resolve_snapshot(tmp_path, str(tmp_path / ("s" * 300) / "x.db"), False)


# ------------------------------------------------------------------- extra vars

@pytest.mark.parametrize("value, expected", [
    ("foo=[1,", "-e 'foo=[1,':1: not valid YAML"),
    ("foo=*nothing", "found undefined alias 'nothing'"),
    ("foo=!!python/object/apply:os.system [id]", "could not determine a constructor"),
    ("=1", "'' is not a variable name"),
    ("{1: 2}", "1 is not a variable name"),
])
def test_bad_extra_vars_exit_2(inventories: Path, value: str, expected: str) -> None:
    result = run("recover", "inotify-limits", "-c", "acme", "-e", value, inventories=inventories)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_extra_vars_file_encoding_and_bomb(inventories: Path, tmp_path: Path) -> None:
    latin = tmp_path / "vars.yml"
    latin.write_bytes(b"x: caf\xe9\n")
    result = run("recover", "inotify-limits", "-c", "acme", "-e", f"@{latin}",
                 inventories=inventories)
    assert result.exit_code == 2 and "vars.yml:1: byte 0xe9" in result.output
    latin.write_text(BOMB + "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n")
    result = run("recover", "inotify-limits", "-c", "acme", "-e", f"@{latin}",
                 inventories=inventories)
    assert result.exit_code == 2 and "alias bomb" in result.output


# ------------------------------------------------------------------- vault

VAULT_CORRUPT = "cluster_registry: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  zzzz\n"


def test_corrupt_vault_value(inventories: Path, tmp_path: Path) -> None:
    (inventories / "acme" / "group_vars" / "etcd.yml").write_text(VAULT_CORRUPT)
    result = check(inventories)
    assert result.exit_code == 0, result.output
    assert "etcd.yml: cluster_registry: vaulted, not checked without --vault-password-file" \
        in result.output
    password = tmp_path / "pw"
    password.write_text("secret\n")
    result = run("inventory", "check", "acme", "--vault-password-file", str(password),
                 inventories=inventories)
    assert result.exit_code == 2
    assert "etcd.yml: cluster_registry: vaulted value cannot be decrypted" in result.output


# ------------------------------------------------------------------- where a value comes from

def test_bad_value_under_all_vars_is_reported_from_hosts_yml(inventories: Path) -> None:
    hosts = inventories / "acme" / "hosts.yml"
    data = yaml.safe_load(hosts.read_text())
    data["all"]["vars"] = {"cluster_log_max_file": "many"}
    hosts.write_text(yaml.safe_dump(data))
    all_yml = inventories / "acme" / "group_vars" / "all.yml"
    all_yml.write_text("\n".join(line for line in all_yml.read_text().splitlines()
                                 if not line.startswith("cluster_log_max_file")) + "\n")
    result = check(inventories)
    assert result.exit_code == 2
    assert f"{hosts}: cluster_log_max_file: 'many' is not a whole number" in result.output


def test_five_megabyte_value_is_not_echoed_whole(inventories: Path) -> None:
    all_yml = inventories / "acme" / "group_vars" / "all.yml"
    text = all_yml.read_text().replace("cluster_name:", "old_name:")
    all_yml.write_text(text + "cluster_name: " + "A" * 5_000_000 + "\n")
    result = check(inventories)
    assert result.exit_code == 2
    problem = next(line for line in result.output.splitlines() if "cluster_name:" in line)
    assert len(problem) < 400 and "(5000000 characters)" in problem


# ------------------------------------------------------------------- OpenPAI importer

def layout(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((DATA / "openpai-layout.yaml").read_text())
    change(data)
    path = tmp_path / "layout.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _set_first(key: str, value):
    return lambda data: data["machine-list"][0].__setitem__(key, value)


@pytest.mark.parametrize("change, expected", [
    (_set_first("hostip", "127.0.0.300"), "hostip '127.0.0.300' is not an IP address"),
    (_set_first("machine-type", ["k80x4-machine"]), "machine-type ['k80x4-machine'] is not a sku"),
    (lambda d: d.__setitem__("machine-sku", ["a", "b"]), "machine-sku must be a mapping"),
    (lambda d: d["machine-sku"].__setitem__("k80x4-machine", "big"), "is not a sku of"),
    (lambda d: d["machine-sku"]["k80x4-machine"].__setitem__("computing-device", "gpu"),
     "computing-device type 'gpu' is not supported"),
    (_set_first("hostname", "{{ lookup('pipe', 'id') }}"), "contains Jinja"),
])
def test_openpai_malformed_layouts_exit_2(tmp_path: Path, change, expected: str) -> None:
    path = layout(tmp_path, change)
    result = run("inventory", "import", "--from", "openpai", "-c", "pai", str(path),
                 inventories=tmp_path / "inv")
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert not (tmp_path / "inv" / "pai").exists()


def test_openpai_latin1_layout(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_bytes((DATA / "openpai-layout.yaml").read_bytes() + b"# caf\xe9\n")
    result = run("inventory", "import", "--from", "openpai", "-c", "pai", str(path),
                 inventories=tmp_path / "inv")
    assert result.exit_code == 2 and "byte 0xe9 is not UTF-8" in result.output


def test_kubespray_templated_address_is_not_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "inventory.ini"
    path.write_text("[kube_control_plane]\nm1 ansible_host=\"{{ lookup('pipe', 'id') }}\"\n")
    result = run("inventory", "import", "--from", "kubespray", "-c", "ks", str(path),
                 inventories=tmp_path / "inv")
    assert result.exit_code == 2 and "contains Jinja" in result.output


# ------------------------------------------------------------------- bundle manifests

def manifest(tmp_path: Path, **fields) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    data = {"format": 1, "files": {}, "images": [], "packages": [], **fields}
    data = {k: v for k, v in data.items() if v is not None}
    (bundle / "bundle.json").write_text(json.dumps(data))
    return bundle


@pytest.mark.parametrize("fields, expected", [
    ({"packages": None}, "field 'packages' must be a list"),
    ({"images": [{"name": "pause"}]}, "images[0]: must be a mapping with a 'ref' string"),
    ({"images": ["pause:3.2"]}, "images[0]: must be a mapping with a 'ref' string"),
    ({"files": []}, "field 'files' must be a mapping"),
    ({"files": {"x": {"sha256": "0" * 64, "size": True}}}, "files.x: lacks sha256/size"),
])
def test_bundle_manifest_shape_errors_are_named(tmp_path: Path, fields: dict,
                                                expected: str) -> None:
    bundle = manifest(tmp_path, **fields)
    result = run("bundle", "verify", str(bundle))
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_bundle_verify_on_a_tar_file_says_what_it_is(tmp_path: Path) -> None:
    bundle = manifest(tmp_path)
    archive = tmp_path / "bundle.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(bundle, arcname="bundle")
    result = run("bundle", "verify", str(archive))
    assert result.exit_code == 2
    assert "is a tar archive, not a bundle folder" in result.output


# ------------------------------------------------------------------- warnings and --strict

def test_structure_warnings_and_strict(inventories: Path) -> None:
    acme = inventories / "acme"
    hosts = acme / "hosts.yml"
    data = yaml.safe_load(hosts.read_text())
    data["all"]["hosts"] = {"stray": {"ansible_host": "192.168.100.99"}}
    data["all"]["children"]["mystery"] = {"hosts": {"gpu1": {}}}
    hosts.write_text(yaml.safe_dump(data))
    (acme / "host_vars").mkdir()
    (acme / "host_vars" / "ghost.yml").write_text("accelerator: none\n")
    (acme / "group_vars" / "master.yml").write_text("x: 1\n")
    (acme / "group_vars" / "workers.yml").write_text("x: 1\ny: 2\nx: 3\n")
    result = check(inventories)
    assert result.exit_code == 0, result.output
    expected = ["host 'stray' is in no group", "group 'mystery' is not a kubemedic group",
                "ghost.yml: host_vars for 'ghost', which is not a host",
                "master.yml: group_vars for 'master', which is not a group",
                "workers.yml:3: duplicate key 'x'"]
    for text in expected:
        assert text in result.output, text
    strict = check(inventories, "--strict")
    assert strict.exit_code == 2 and "(--strict)" in strict.output
    assert all(text in strict.output for text in expected)
    local = run("inventory", "check", "acme", "--strict", inventories=inventories)
    assert local.exit_code == 2 and "(--strict)" in local.output
    assert "ghost.yml: host_vars for 'ghost'" in local.output


@pytest.mark.parametrize("template", [
    "{{ lookup('pipe', 'id') }}", '{{ lookup("ansible.builtin.pipe", "id") }}',
    "{{ query('lines', 'id') }}", "{{ q('lines', 'id') }}", "{% set x = lookup('pipe','id') %}",
    "{{ lookup('community.general.shell', 'id') }}", "{{ lookup(name, 'id') }}",
])
def test_command_lookups_refused_unless_opted_in(inventories: Path, template: str) -> None:
    workers = inventories / "acme" / "group_vars" / "workers.yml"
    workers.write_text(yaml.safe_dump({"motd": template}))
    result = check(inventories)
    assert result.exit_code == 2
    assert f"{workers}: motd: templates the lookup" in result.output
    all_yml = inventories / "acme" / "group_vars" / "all.yml"
    all_yml.write_text(all_yml.read_text() + "cluster_allow_command_lookups: true\n")
    assert check(inventories).exit_code == 0


def test_read_only_lookups_are_accepted(inventories: Path) -> None:
    workers = inventories / "acme" / "group_vars" / "workers.yml"
    workers.write_text(yaml.safe_dump({"home": "{{ lookup('env', 'HOME') }}",
                                       "text": "pipe('x') is just text"}))
    assert check(inventories).exit_code == 0


def test_shown_clips_and_names_collections() -> None:
    assert inputs.shown("abc") == "'abc'"
    assert inputs.shown("x" * 1000).endswith("… (1000 characters)")
    assert inputs.shown(list(range(10 ** 6))).startswith("[0, 1, 2, 3, 4, 5, ...")


# ------------------------------------------------------------------- found by the property tests

def test_a_list_as_accelerator_is_a_problem_not_a_crash(inventories: Path) -> None:
    host_vars = inventories / "acme" / "host_vars"
    host_vars.mkdir()
    (host_vars / "gpu1.yml").write_text("accelerator: []\n")
    result = check(inventories)
    assert result.exit_code == 2 and "accelerator: [] is not one of" in result.output


def test_an_impossible_timestamp_is_exit_2(inventories: Path) -> None:
    result = run("recover", "inotify-limits", "-c", "acme", "-e", "key=x: 2001-13-45",
                 inventories=inventories)
    assert result.exit_code == 2 and "a value cannot be read: month must be in 1..12" in result.output


def test_deep_flow_nesting_is_refused_quickly_with_its_line() -> None:
    with pytest.raises(inputs.InputError, match="nested deeper than 64 levels") as caught:
        inputs.load_yaml("a: 1\nb: " + "[" * 100_000 + "\n", "x.yml")
    assert caught.value.line == 2
    assert inputs.load_yaml("a: '[[[['  # {{{{\n", "x.yml") == {"a": "[[[["}
