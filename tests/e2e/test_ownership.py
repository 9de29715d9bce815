"""An object must be what the state says it is (issue 18, item 2), as a user meets it: a
state damaged by hand points an address at another address's object, at an object that is
gone, or is another env's state copied in. Each is refused by plan, up and down alike in one
line, and nothing in the sandbox changes."""

from __future__ import annotations

import json

from tests.homes import Home, one_error_line

COMMANDS = (("plan",), ("up", "--yes"), ("down", "--yes"))


def write_state(home: Home, env: str, doc: dict) -> None:
    (home.root / "state" / f"{env}.json").write_text(json.dumps(doc, indent=1))


def refusals(home: Home, env: str) -> list[str]:
    """The error line of plan, up and down (each must fail)."""
    lines = []
    for command in COMMANDS:
        proc = home.ngp(*command, "--env", env, timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines.append(one_error_line(proc.stderr))
    return lines


def no_changes(home: Home, env: str) -> None:
    plan = home.ngp("plan", "--env", env, "--detailed-exitcode", timeout=120)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes" in plan.stdout


def running(home: Home, id: str) -> str:
    reservations = home.ec2().describe_instances(InstanceIds=[id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


def test_another_addresss_id_and_a_gone_id_are_refused_never_duplicated(home):
    env = home.env("wrongid", modules='["network", "openvpn", "manager"]')
    home.ngp("up", "--env", env, "--yes", check=True, timeout=300)
    good = home.state(env)
    vpn = good["resources"]["openvpn.instance"]["id"]
    manager = good["resources"]["manager.instance"]["id"]
    before = home.tagged(env)
    lineage = good["lineage"]

    # The OpenVPN server's id written into manager.instance: a plan would have changed (or a
    # down deleted) the OpenVPN server as if it were the manager.
    damaged = json.loads(json.dumps(good))
    damaged["resources"]["manager.instance"]["id"] = vpn
    write_state(home, env, damaged)
    for line in refusals(home, env):
        assert line.startswith(
            f"error: manager.instance: the state's id {vpn} is another object: its tags "
            f"ngp:address=openvpn.instance, ngp:env={env}, ngp:lineage={lineage} name address "
            "openvpn.instance. Nothing was changed."), line
    assert home.tagged(env) == before
    assert running(home, vpn) == running(home, manager) == "running"
    assert home.state(env)["resources"]["manager.instance"]["id"] == vpn  # left as it was

    # A nonexistent id: the manager is still there, tagged for the address, so it is not
    # made a second time.
    gone = "i-0123456789abcdef0"
    damaged["resources"]["manager.instance"]["id"] = gone
    write_state(home, env, damaged)
    for line in refusals(home, env):
        assert line.startswith(
            f"error: manager.instance: the state's id {gone} is gone, but {manager} is this "
            "address's object"), line
    assert home.tagged(env) == before, "no second manager"

    write_state(home, env, good)
    no_changes(home, env)
    home.ngp("down", "--env", env, "--yes", check=True, timeout=300)
    assert not any(home.tagged(env).values())


def test_another_envs_state_copied_in_is_refused_as_a_whole(home):
    other, mine = home.env("theirs"), home.env("mine")
    home.ngp("up", "--env", other, "--yes", check=True, timeout=300)
    theirs = home.tagged(other)
    copied = home.state(other)
    copied["env"] = mine  # edited to pass for this env's, no backup beside it
    write_state(home, mine, copied)
    assert not (home.root / "state" / f"{mine}.json.backup").exists()

    for line in refusals(home, mine):
        assert line.startswith(
            f"error: state/{mine}.json: its objects are tagged for env '{other}', not env "
            f"'{mine}' ("), line
        assert "It is another env's state: nothing was changed." in line
    assert home.tagged(other) == theirs
    assert not any(home.tagged(mine).values())
    no_changes(home, other)

    (home.root / "state" / f"{mine}.json").unlink()
    home.ngp("down", "--env", other, "--yes", check=True, timeout=300)


def test_an_interrupted_create_whose_name_another_env_holds_does_not_hold_up_down(home):
    """A run killed inside a create leaves its intent; if the name is another env's (the
    create was refused, or never sent), settling finds nothing of this env's and drops the
    intent: `down` goes on, the next `up` refuses in one line, the other env's is untouched.
    Before, find's refusal failed every run, `down` included."""
    import time

    env = home.env("setl")
    home.ngp("up", "--env", env, "--yes", check=True)
    path = home.root / "state" / f"{env}.json"
    doc = json.loads(path.read_text())
    address = next(a for a, r in doc["resources"].items() if r["kind"] == "secretsmanager.secret")
    res = doc["resources"].pop(address)
    doc["pending"][address] = {"op": "create", "kind": res["kind"], "spec": res["spec"],
                               "since": "2026-01-01T00:00:00Z", "deps": res["deps"],
                               "module": res["module"]}
    write_state(home, env, doc)
    secrets = home.client("secretsmanager")
    secrets.delete_secret(SecretId=res["id"], ForceDeleteWithoutRecovery=True)
    deadline = time.monotonic() + 30  # the name is held a moment after a delete
    while True:
        try:
            theirs = secrets.create_secret(Name=res["spec"]["name"], SecretString="x", Tags=[
                {"Key": "ngp:env", "Value": "other"}])["ARN"]
            break
        except secrets.exceptions.InvalidRequestException:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    try:
        up = home.ngp("up", "--env", env, "--yes")
        assert up.returncode == 1
        assert "error: network.ssh_key: secret 'ngp-ssh-key-setl' exists and belongs to " \
            "env 'other'" in up.stderr
        assert address not in home.state(env)["pending"], "the intent is settled"
        home.ngp("down", "--env", env, "--yes", check=True)
        assert home.state(env)["resources"] == {}
        assert secrets.describe_secret(SecretId=theirs)["Tags"] == [
            {"Key": "ngp:env", "Value": "other"}]
    finally:
        secrets.delete_secret(SecretId=theirs, ForceDeleteWithoutRecovery=True)
