"""A replacement that deletes before it can create (issue 19, item 3), through the CLI: the
key pair's state line lost and nothing left to say it is this env's (its tags gone too), so
it is to be made again. Its name is its spec's, so the VPN server that names it is not
replaced; the import then fails (the name is taken) and the server is still running."""

from __future__ import annotations

import json


def test_a_key_pair_to_be_made_again_replaces_no_machine_and_a_failed_import_deletes_none(home):
    env = home.env("keys", modules='["network", "openvpn"]')
    home.ngp("up", "--env", env, "--yes", check=True)
    machines = home.tagged(env)["instance"]
    assert len(machines) == 1

    path = home.root / "state" / f"{env}.json"
    state = json.loads(path.read_text())
    name = state["resources"].pop("network.key_pair")["id"]
    path.write_text(json.dumps(state))
    ec2 = home.ec2()
    [pair] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    ec2.delete_tags(Resources=[pair["KeyPairId"]], Tags=[{"Key": t["Key"]} for t in pair["Tags"]])

    plan = json.loads(home.ngp("plan", "--env", env, "--json", check=True).stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("network.key_pair", "create")]
    run = home.ngp("up", "--env", env, "--yes")
    assert run.returncode == 1
    # The step says it failed as it fails, then the run's one error line says why.
    [error] = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert f"key pair {name!r} exists and was not made by ngp" in error
    assert home.tagged(env)["instance"] == machines  # nothing deleted, nothing replaced

    # Given its tags back, it is adopted; then the env converges and goes.
    ec2.create_tags(Resources=[pair["KeyPairId"]], Tags=pair["Tags"])
    home.ngp("up", "--env", env, "--yes", check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    assert home.tagged(env)["instance"] == machines
    home.ngp("down", "--env", env, "--yes", check=True)
    assert not any(home.tagged(env).values())
