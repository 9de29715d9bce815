"""Team state on S3 (with its lock in S3 or DynamoDB), through the CLI against the sandbox:
one run at a time, leases that end, writes that never overwrite, versions that come back."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from tests.homes import all_ids, one_error_line, race_at_prompt
from tests.reliability.conftest import REPORT


def s3_env(home, name: str, lock: str = "s3", lease: int = 30) -> str:
    text = (home.root / "envs" / "sandbox.toml").read_text().split("[openvpn]")[0]
    text = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network"]', text)
    text = re.sub(r"(?m)^domain = .*$", "", text)
    text = text.replace('name_suffix = "sandbox"', f'name_suffix = "{name}"')
    table = f'dynamodb_table = "ngp-locks-{name}"\n' if lock == "dynamodb" else ""
    text = text.replace("[network]", f'[state]\nbackend = "s3"\nbucket = "ngp-state-{name}"\n'
                        f'lock = "{lock}"\n{table}lease_seconds = {lease}\n\n[network]')
    home.env(name, text=text)
    home.ngp("state", "bootstrap", "--env", name, check=True)
    return name


def state_object(home, env):
    s3 = home.client("s3")
    return json.loads(s3.get_object(Bucket=f"ngp-state-{env}", Key=f"ngp/{env}.json")[
        "Body"].read())


def test_bootstrap_makes_a_private_versioned_encrypted_tls_only_bucket(home):
    env = s3_env(home, "boot", lock="dynamodb")
    s3 = home.client("s3")
    bucket = f"ngp-state-{env}"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)[
        "PublicAccessBlockConfiguration"].values())
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    table = home.client("dynamodb").describe_table(TableName=f"ngp-locks-{env}")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]
    again = home.ngp("state", "bootstrap", "--env", env, check=True)
    assert "there already" in again.stdout


def test_the_state_lives_in_s3_and_keeps_every_version(home):
    env = s3_env(home, "team")
    home.ngp("up", "--env", env, "--yes", check=True)
    assert not (home.root / "state" / f"{env}.json").exists(), "nothing local"
    remote = state_object(home, env)
    assert remote["env"] == env and len(remote["resources"]) > 10
    history = json.loads(home.ngp("state", "history", "--env", env, "--json",
                                  check=True).stdout)
    assert history[0]["latest"] and history[0]["serial"] == remote["serial"]
    assert [v["serial"] for v in history] == sorted((v["serial"] for v in history),
                                                    reverse=True)

    # A setting changed and applied; then the version from before it back as the current
    # one (a new version: nothing is lost), and the plan applies the setting again.
    before = state_object(home, env)
    path = home.root / "envs" / f"{env}.toml"
    path.write_text(path.read_text().replace('admin_cidrs = ["127.0.0.1/32"]',
                                             'admin_cidrs = ["127.0.0.1/32", "10.9.0.0/16"]'))
    home.ngp("up", "--env", env, "--yes", check=True)
    changed = state_object(home, env)
    assert changed["serial"] > before["serial"]
    history = json.loads(home.ngp("state", "history", "--env", env, "--json",
                                  check=True).stdout)
    older = next(v for v in history if v["serial"] == before["serial"])
    home.ngp("state", "restore", older["version"], "--env", env, check=True)
    restored = state_object(home, env)
    assert restored["serial"] == changed["serial"] + 1
    assert restored["resources"] == before["resources"]
    path.write_text(path.read_text().replace(', "10.9.0.0/16"', ""))
    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    # AWS has the rules the restored state never had: the plan takes them out again.
    assert sorted(c["address"] for c in plan["changes"]) == [
        "network.sg.admin", "network.sg.master_lb", "network.sg.vpn"]
    assert {c["action"] for c in plan["changes"]} == {"update"}
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0

    # pull and push keep lineage and serial.
    home.ngp("state", "pull", "--env", env, check=True)
    local = json.loads((home.root / "state" / f"{env}.json").read_text())
    current = state_object(home, env)
    assert (local["lineage"], local["serial"]) == (current["lineage"], current["serial"])
    home.ngp("state", "push", "--env", env, check=True)
    assert state_object(home, env)["serial"] == current["serial"]

    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


@pytest.mark.parametrize("lock", ["s3", "dynamodb"])
def test_two_runs_at_once_one_proceeds_the_other_names_it(home, lock):
    env = s3_env(home, f"race-{lock}", lock=lock)

    def contended() -> None:
        REPORT["locks contended"] += 1

    race_at_prompt(home, env, contended)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    home.ngp("down", "--env", env, "--yes", check=True)


def test_an_expired_lease_is_taken_over_with_a_warning(home):
    env = s3_env(home, "lease", lease=10)
    stale = {"token": "x", "pid": 4242, "host": "laptop", "user": "ana", "command": "up",
             "since": "2026-01-01T00:00:00Z", "expires": time.time() - 5}
    home.client("s3").put_object(Bucket=f"ngp-state-{env}", Key=f"ngp/{env}.json.lock",
                                 Body=json.dumps(stale).encode())
    up = home.ngp("up", "--env", env, "--yes", check=True)
    assert "took over the expired lock of `ngp up` (pid 4242 on ana@laptop" in up.stderr
    home.ngp("down", "--env", env, "--yes", check=True)


def test_a_live_lease_blocks_and_unlock_says_whose_it_was(home):
    env = s3_env(home, "held")
    live = {"token": "y", "pid": 777, "host": "ci-runner", "user": "jenkins",
            "command": "up", "since": "2026-11-26T10:00:00Z", "expires": time.time() + 600}
    home.client("s3").put_object(Bucket=f"ngp-state-{env}", Key=f"ngp/{env}.json.lock",
                                 Body=json.dumps(live).encode())
    blocked = home.ngp("up", "--env", env, "--yes")
    REPORT["locks contended"] += 1
    assert blocked.returncode == 1
    assert "locked by `ngp up` (pid 777 on jenkins@ci-runner" in one_error_line(blocked.stderr)
    refused = home.ngp("state", "unlock", "--env", env)
    assert refused.returncode == 1 and "--force" in refused.stderr
    broken = home.ngp("state", "unlock", "--env", env, "--force", check=True)
    assert "held by `ngp up` (pid 777 on jenkins@ci-runner" in broken.stdout
    home.ngp("up", "--env", env, "--yes", check=True)
    home.ngp("down", "--env", env, "--yes", check=True)


def test_a_run_never_overwrites_a_state_written_by_another(home, tmp_path):
    """Two stores read one version; the second writer is refused and keeps its copy."""
    from ngp.config import Project
    from ngp.engine import store_for

    env = s3_env(home, "cas")
    home.ngp("up", "--env", env, "--yes", check=True)
    os.environ["NGP_HOME"] = str(home.root)
    try:
        project = Project(home.root)
        settings = project.load(env)
        one, two = store_for(project, settings), store_for(project, settings)
        mine, theirs = one.load(), two.load()
        one.save(mine)
        from ngp.errors import StateError

        with pytest.raises(StateError, match="changed by another run"):
            two.save(theirs)
    finally:
        os.environ.pop("NGP_HOME", None)
    rescued = list((home.root / "state").glob(f"{env}.json.rescue-*"))
    assert len(rescued) == 1 and json.loads(rescued[0].read_text())["env"] == env
    assert state_object(home, env)["serial"] == mine.serial
    home.ngp("down", "--env", env, "--yes", check=True)


def test_a_missing_backend_is_one_line(home):
    env = "nobucket"
    text = (home.root / "envs" / "sandbox.toml").read_text().split("[openvpn]")[0]
    text = re.sub(r"(?ms)^modules = \[.*?\]", 'modules = ["network"]', text)
    text = re.sub(r"(?m)^domain = .*$", "", text)  # no zone to say is missing
    text = text.replace("[network]", '[state]\nbackend = "s3"\nbucket = "ngp-none"\n\n[network]')
    home.env(env, text=text)
    run = home.ngp("plan", "--env", env)
    assert run.returncode == 1
    assert "ngp state bootstrap --env nobucket" in one_error_line(run.stderr)


def test_switching_to_s3_with_a_local_state_refuses_until_it_is_pushed(home):
    env = home.env("moved")
    home.ngp("up", "--env", env, "--yes", check=True)
    held = len(home.state(env)["resources"])
    s3_env(home, env)  # the same env, its backend now S3, the bucket empty

    for command in (["plan"], ["up", "--yes"], ["down", "--yes"]):
        run = home.ngp(*command, "--env", env)
        assert run.returncode == 1, (command, run.stdout)
        line = one_error_line(run.stderr)
        assert f"state/{env}.json holds {held} resources" in line, line
        assert f"ngp state push --env {env}" in line, line
    assert "Contents" not in home.client("s3").list_objects_v2(
        Bucket=f"ngp-state-{env}", Prefix=f"ngp/{env}.json"), "nothing written to S3"

    home.ngp("state", "push", "--env", env, check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    home.ngp("down", "--env", env, "--yes", check=True)
    # The S3 state now empty, the local file its old copy (same lineage): not stranded.
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 2
    assert all_ids(home.tagged(env)) == set()
