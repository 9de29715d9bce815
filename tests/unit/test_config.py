"""Bad settings give one ConfigError naming the file and the key, before any AWS call."""

import textwrap

import pytest

from ngp.config import Project
from ngp.errors import ConfigError
from ngp.modules import MODULES
from ngp.modules.base import Built, Module, ModuleSettings

GOOD = """
region = "us-east-1"
allowed_account_ids = ["123456789012"]
modules = ["network"]
name_suffix = "dev"

[network]
cidr = "10.0.0.0/16"
admin_cidrs = ["203.0.113.0/24"]
"""


def project_with(tmp_path, text, env="dev"):
    (tmp_path / "envs").mkdir(exist_ok=True)
    (tmp_path / "envs" / f"{env}.toml").write_text(textwrap.dedent(text))
    return Project(tmp_path)


def error_for(tmp_path, text, environ=None):
    with pytest.raises(ConfigError) as exc:
        project_with(tmp_path, text).load("dev", environ or {})
    return exc.value


def test_good_settings_load_with_defaults(tmp_path):
    settings = project_with(tmp_path, GOOD).load("dev", {})
    net = settings.module("network")
    assert settings.core.parallelism == 10
    assert net.availability_zones == 3 and net.nat == "single"
    assert [str(c) for c in net.admin_cidrs] == ["203.0.113.0/24"]
    assert settings.name("vpc") == "ngp-vpc-dev"


def test_shipped_envs_all_load(tmp_path):
    from pathlib import Path

    project = Project(Path(__file__).parents[2])
    for env in ("sandbox", "dev", "stage", "prod"):
        project.load(env, {})


def test_sandbox_env_turns_on_every_module():
    from pathlib import Path

    settings = Project(Path(__file__).parents[2]).load("sandbox", {})
    assert sorted(settings.modules) == sorted(MODULES)


@pytest.mark.parametrize(("change", "key", "words"), [
    (("name_suffix", 'parallelism = "ten"\nname_suffix'), "parallelism", "integer"),
    (('modules = ["network"]', 'modules = ["network", "netwrk"]'), "modules[1]",
     "unknown module 'netwrk'"),
    (('cidr = "10.0.0.0/16"', 'cidr = "10.0.0.0/33"'), "network.cidr", "not a valid IPv4 CIDR"),
    (('cidr = "10.0.0.0/16"', 'cidr = "10.0.0.1/16"'), "network.cidr", "host bits"),
    (('cidr = "10.0.0.0/16"', 'cidr = "10.0.0.0/8"'), "network.cidr", "/16 and /24"),
    (('"203.0.113.0/24"', '"203.0.113.0/99"'), "network.admin_cidrs.0", "not a valid IPv4"),
    (('["123456789012"]', '["12345"]'), "allowed_account_ids", "12-digit"),
    (('name_suffix = "dev"', 'name_suffix = "Dev"'), "name_suffix", "lower-case"),
    (('region = "us-east-1"', 'region = "us-east-1"\nsandbox = true\n'
      'endpoint_url = "http://x:1"'), "(top level)", "either sandbox"),
    (('cidr = "10.0.0.0/16"', 'existing_vpc_id = "vpc-0123abcd"'), "network", "existing"),
    (('modules = ["network"]\n', ''), "modules", "missing"),
    # Bucket names by AWS's rules (ngp/names.py, as the strict sandbox's s3 rules check).
    (('admin_cidrs = ["203.0.113.0/24"]', 'admin_cidrs = ["203.0.113.0/24"]\n[state]\n'
      'backend = "s3"\nbucket = "ngp..state"'), "state.bucket", "not a valid S3 bucket name"),
    (('admin_cidrs = ["203.0.113.0/24"]', 'admin_cidrs = ["203.0.113.0/24"]\n[state]\n'
      'backend = "s3"\nbucket = "xn--ngp-state"'), "state.bucket", "not a valid S3 bucket"),
    (('admin_cidrs = ["203.0.113.0/24"]', 'admin_cidrs = ["203.0.113.0/24"]\n[state]\n'
      'backend = "s3"\nbucket = "192.168.10.20"'), "state.bucket", "not a valid S3 bucket"),
    (('modules = ["network"]\nname_suffix = "dev"', 'modules = ["network", "dcos"]\n'
      'name_prefix = "a-long-company-name1"\nname_suffix = "a-long-env-name-2345"'),
     "name_prefix/name_suffix", "more than S3's 63"),
])
def test_bad_settings_name_file_and_key(tmp_path, change, key, words):
    old, new = change
    assert old in GOOD
    error = error_for(tmp_path, GOOD.replace(old, new, 1))
    assert error.where == f"envs/dev.toml: {key}", error.line()
    assert words in error.line()
    assert "\n" not in error.line()


@pytest.mark.parametrize(("change", "line"), [
    # The case: the typo replaces a required key, reported as the typo, not missing.
    (('region = "us-east-1"', 'regoin = "us-east-1"'),
     "unknown key 'regoin' at the top level; did you mean 'region'?"),
    (("region", 'regon = "x"\nregion'), "unknown key 'regon' at the top level; did you mean "
     "'region'?"),
    (("cidr =", 'cidrr = "10.0.0.0/16"\ncidr ='),
     "unknown key 'cidrr' in [network]; did you mean 'cidr'?"),
    # A module's table misspelt is a top-level key near the module's name.
    (("[network]", "[netwrok]"), "unknown key 'netwrok' at the top level; did you mean "
     "'network'?"),
    (('admin_cidrs = ["203.0.113.0/24"]', 'admin_cidrs = ["203.0.113.0/24"]\n[state]\n'
      'backend = "s3"\nbuckett = "ngp-state"'),
     "unknown key 'buckett' in [state]; did you mean 'bucket'?"),
    (('cidr = "10.0.0.0/16"', 'zzz = 1'),
     "unknown key 'zzz' in [network]; remove it or check its spelling"),
    # Several: the first, and the others named; before any other error (region missing).
    (('region = "us-east-1"\nallowed_account_ids', 'regoin = "us-east-1"\nallowed_acount_ids'),
     "unknown key 'regoin' at the top level; did you mean 'region'? (also unknown: "
     "'allowed_acount_ids' at the top level)"),
    (("[network]", "[dcos]\nmastres = 3\n[network]"),
     "unknown key 'mastres' in [dcos]; did you mean 'masters'?"),
])
def test_unknown_keys_are_named_with_their_section_and_the_nearest_key(tmp_path, change, line):
    old, new = change
    assert old in GOOD
    error = error_for(tmp_path, GOOD.replace(old, new, 1))
    assert error.where == "envs/dev.toml"
    assert error.line().startswith(f"envs/dev.toml: {line}"), error.line()
    assert "\n" not in error.line()


def test_bad_toml_syntax(tmp_path):
    error = error_for(tmp_path, GOOD + "\n[network\n")
    assert error.where == "envs/dev.toml" and "not valid TOML" in error.summary


def test_missing_env_file_lists_the_known_ones(tmp_path):
    project = project_with(tmp_path, GOOD)
    with pytest.raises(ConfigError) as exc:
        project.load("prdo", {})
    assert "envs/prdo.toml not found" in exc.value.summary
    assert "dev" in exc.value.hint


def test_missing_secret_variable_names_it(tmp_path, monkeypatch):
    class NoSettings(ModuleSettings):
        pass

    monkeypatch.setitem(MODULES, "gateway", Module(
        "gateway", "test", NoSettings, lambda s: Built([]), required_env=("NGP_TYK_SECRET",)))
    text = GOOD.replace('modules = ["network"]', 'modules = ["network", "gateway"]')
    error = error_for(tmp_path, text, environ={})
    assert "NGP_TYK_SECRET" in error.summary and error.where == "envs/dev.toml: modules"
    project_with(tmp_path, text).load("dev", {"NGP_TYK_SECRET": "x"})


def test_module_needing_another_module(tmp_path, monkeypatch):
    class NoSettings(ModuleSettings):
        pass

    monkeypatch.setitem(MODULES, "dcos", Module("dcos", "test", NoSettings,
                                                lambda s: Built([]), needs=("openvpn",)))
    error = error_for(tmp_path, GOOD.replace('["network"]', '["network", "dcos"]'))
    assert "needs module 'openvpn'" in error.summary


def test_app_modules_need_to_know_where_marathon_is(tmp_path):
    error = error_for(tmp_path, GOOD.replace('["network"]', '["network", "jenkins"]'))
    assert error.where == "envs/dev.toml: marathon_url" and "'jenkins'" in error.summary
    text = GOOD.replace('["network"]', '["network", "jenkins"]').replace(
        'name_suffix = "dev"', 'name_suffix = "dev"\nmarathon_url = "https://dcos.example.com'
        '/service/marathon"')
    assert project_with(tmp_path, text).load("dev", {}).core.marathon_url
