"""Bad input never gets past one clear line: damaged state files are refused and left as
they are (the backup stays usable), and fuzzed settings never reach AWS or a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngp.config import Project
from ngp.engine import build_desired
from ngp.errors import NgpError
from ngp.state import Recorded, State
from tests.homes import REPO, one_error_line
from tests.reliability.conftest import REPORT


def _damage(path: Path, how: str) -> bytes:
    raw = path.read_bytes()
    doc = json.loads(raw)
    damaged = {
        "garbage": b"\x00\xffnot json at all",
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "other env": json.dumps({**doc, "env": "prod"}).encode(),
        "future format": json.dumps({**doc, "format": 99}).encode(),
        "not a state": json.dumps({"hello": "world"}).encode(),
        "wrong types": json.dumps({**doc, "resources": {"x": {"kind": 1}}}).encode(),
    }[how]
    path.write_bytes(damaged)
    return damaged


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty", "other env",
                                 "future format", "not a state", "wrong types"])
def test_a_damaged_state_is_refused_untouched_and_its_backup_works(home, how):
    env = home.env(f"bad-{how.replace(' ', '-')}")
    home.ngp("up", "--env", env, "--yes", check=True)
    path = home.root / "state" / f"{env}.json"
    good = path.read_bytes()
    damaged = _damage(path, how)
    REPORT["bad inputs tried"] += 1
    for command in (["plan"], ["up", "--yes"], ["down", "--yes"], ["status"]):
        run = home.ngp(*command, "--env", env)
        assert run.returncode == 1, (command, run.stdout)
        line = one_error_line(run.stderr)
        assert str(path.name) in line, line
        assert path.read_bytes() == damaged, f"{command} changed the damaged file"
    # The backup is the version before the last save: put it back and carry on.
    shutil.copy(path.with_name(f"{env}.json.backup"), path)
    assert json.loads(path.read_bytes())["lineage"] == json.loads(good)["lineage"]
    if how == "garbage":  # once, the whole way: the backup runs the env again
        home.ngp("up", "--env", env, "--yes", check=True)
        assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    home.ngp("down", "--env", env, "--yes", check=True)


def test_a_state_with_an_unknown_kind_is_one_line_through_the_cli(home):
    env = home.env("unknown-kind")
    state = State(env=env)
    state.resources["network.vpc"] = Recorded("ec2.nonsense", "vpc-1", {}, {"id": "vpc-1"})
    path = home.root / "state" / f"{env}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(state.to_json())
    REPORT["bad inputs tried"] += 1
    for command in (["status", "--no-probe"], ["plan"]):
        run = home.ngp(*command, "--env", env, timeout=120)
        assert run.returncode == 1, (command, run.stdout)
        line = one_error_line(run.stderr)
        assert f"{path.name}: network.vpc: unknown resource kind 'ec2.nonsense'" in line, line
        assert "newer ngp, or edited by hand" in line, line
    assert path.read_bytes() == state.to_json()


# -- fuzzed settings ------------------------------------------------------------------------

BASE = tomlkit.parse((REPO / "envs" / "sandbox.toml").read_text()).unwrap()
KEYS = [(None, k) for k in BASE if not isinstance(BASE[k], dict)] + [
    (table, k) for table, values in BASE.items() if isinstance(values, dict) for k in values]
JUNK = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12), st.floats(allow_nan=False),
    st.booleans(), st.text(max_size=40), st.just(""), st.just("0.0.0.0/0"),
    st.lists(st.one_of(st.integers(), st.text(max_size=10)), max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=3))


@pytest.fixture
def no_aws(monkeypatch):
    """Settings are checked before any AWS call: any attempt fails the test."""
    import boto3

    def refuse(*args, **kwargs):
        raise AssertionError("an AWS call was attempted while loading settings")

    import botocore.session

    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    monkeypatch.setattr(boto3, "client", refuse)
    monkeypatch.setattr(botocore.session.Session, "create_client", refuse)  # ngp's own clients


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS + [(None, "bogus"), ("network", "x")]),
                                  JUNK), min_size=1, max_size=3))
def test_fuzzed_settings_are_one_clear_error_or_valid(tmp_path, no_aws, changes):
    doc = json.loads(json.dumps(BASE))
    for (table, key), value in changes:
        (doc.setdefault(table, {}) if table else doc)[key] = value
    (tmp_path / "envs").mkdir(exist_ok=True)
    (tmp_path / "envs" / "fuzz.toml").write_text(tomlkit.dumps(doc))
    REPORT["bad inputs tried"] += 1
    try:
        build_desired(Project(tmp_path).load("fuzz", {}))
    except NgpError as exc:
        line = exc.line()
        assert "\n" not in line and "Traceback" not in line
        assert exc.where or "envs/fuzz.toml" in line or "fuzz" in line, line


@pytest.mark.parametrize("bad", [
    {"region": "mars-1"}, {"modules": ["network", "nope"]}, {"parallelism": 0},
    {"network": {"cidr": "10.0.0.0/33"}}, {"dcos": {"masters": 2}},
    {"elk": {"allowed_cidrs": ["everyone"]}}, {"state": {"backend": "s3"}},
])
def test_bad_settings_through_the_cli_are_one_line_and_exit_1(home, bad):
    doc = json.loads(json.dumps(BASE))
    for key, value in bad.items():
        if isinstance(value, dict):
            doc.setdefault(key, {}).update(value)
        else:
            doc[key] = value
    name = "cli-bad"
    (home.root / "envs" / f"{name}.toml").write_text(tomlkit.dumps(doc))
    REPORT["bad inputs tried"] += 1
    run = home.ngp("plan", "--env", name)
    assert run.returncode == 1
    assert one_error_line(run.stderr).startswith(f"error: envs/{name}.toml: ")


def test_a_misspelt_required_key_is_named_as_a_typo_not_as_missing(home):
    doc = json.loads(json.dumps(BASE))
    doc["regoin"] = doc.pop("region")
    doc["network"]["nat_gateway"] = "single"
    name = "cli-typo"
    (home.root / "envs" / f"{name}.toml").write_text(tomlkit.dumps(doc))
    for command in (["plan"], ["validate"], ["up", "--yes"]):
        run = home.ngp(*command, "--env", name)
        assert run.returncode == 1 and run.stdout == ""
        line = one_error_line(run.stderr)
        assert line == (f"error: envs/{name}.toml: unknown key 'regoin' at the top level; "
                        "did you mean 'region'? (also unknown: 'nat_gateway' in [network])"), line
