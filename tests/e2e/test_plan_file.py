"""`ngp plan --out FILE` and `ngp up FILE`: the reviewed plan is the one applied, a stale one
is refused, and the file holds no secret."""

from __future__ import annotations

import json

import pytest

from ngp.graph import UNKNOWN, Derived, Format, Ref
from ngp.modules.network import _host
from ngp.plan_file import decode, encode
from tests.e2e.test_cli import all_ids, one_error_line


def test_up_applies_exactly_the_saved_plan_not_a_new_one(home, tmp_path):
    env = home.env("saved")
    plan_path = tmp_path / "p.json"
    # The plan reviewed: the VPC alone. The env wants the whole network; `up FILE` must not
    # plan again.
    home.ngp("plan", "--env", env, "--target", "network.vpc", "--out", str(plan_path),
             check=True)
    planned = [c["address"] for c in json.loads(plan_path.read_text())["changes"]]
    assert planned == ["network.vpc"]

    proc = home.ngp("up", str(plan_path), check=True)
    assert "Apply complete: 1 created" in proc.stdout
    assert set(home.state(env)["resources"]) == {"network.vpc"}
    assert "Plan: 26 to add" in home.ngp("plan", "--env", env).stdout  # the rest of it

    # Applied once, the plan is stale: the state moved on.
    again = home.ngp("up", str(plan_path))
    assert again.returncode == 1
    line = one_error_line(again.stderr)
    assert "the plan is stale: the state moved on" in line and "ngp plan" in line
    assert set(home.state(env)["resources"]) == {"network.vpc"}
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_a_plan_is_refused_once_the_state_or_the_env_file_moved_on(home, tmp_path):
    env = home.env("stale")
    home.ngp("up", "--env", env, "--yes", "--target", "network.vpc", check=True)
    plan_path = tmp_path / "p.json"
    home.ngp("plan", "--env", env, "--out", str(plan_path), check=True)

    # Another run changes the state: the plan no longer describes what it would do.
    home.ngp("up", "--env", env, "--yes", "--target", "network.igw", check=True)
    serial = home.state(env)["serial"]
    proc = home.ngp("up", str(plan_path))
    assert proc.returncode == 1
    assert "the plan is stale: the state moved on" in one_error_line(proc.stderr)
    assert home.state(env)["serial"] == serial  # nothing done, nothing saved

    # A fresh plan, then the env file changes under it.
    home.ngp("plan", "--env", env, "--out", str(plan_path), check=True)
    env_file = home.root / "envs" / f"{env}.toml"
    env_file.write_text(env_file.read_text() + "\n# edited after the plan\n")
    proc = home.ngp("up", str(plan_path))
    assert proc.returncode == 1
    assert f"envs/{env}.toml changed since it was made" in one_error_line(proc.stderr)
    assert home.state(env)["serial"] == serial

    # A plan names its env; another --env, or a --target, is refused.
    home.ngp("plan", "--env", env, "--out", str(plan_path), check=True)
    proc = home.ngp("up", str(plan_path), "--env", "other")
    assert proc.returncode == 1 and "the plan is for env" in one_error_line(proc.stderr)
    proc = home.ngp("up", str(plan_path), "--target", "network.vpc")
    assert proc.returncode == 1 and "--target cannot narrow" in one_error_line(proc.stderr)

    home.ngp("up", str(plan_path), check=True)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_a_saved_destroy_plan_holds_no_secret_and_takes_the_env_down(home, tmp_path):
    env = home.env("secretplan")
    home.ngp("up", "--env", env, "--yes", check=True)
    revealed = json.loads(home.ngp("outputs", "--env", env, "--reveal", "--json",
                                   check=True).stdout)
    private_key = revealed["ssh_private_key"]
    assert "PRIVATE KEY" in private_key

    plan_path = tmp_path / "down.json"
    home.ngp("plan", "--env", env, "--destroy", "--out", str(plan_path), check=True)
    text = plan_path.read_text()
    assert private_key not in text
    assert private_key.splitlines()[1] not in text  # not even one line of it
    proc = home.ngp("up", str(plan_path), check=True)
    assert "Destroy complete" in proc.stdout
    assert home.state(env)["resources"] == {} and home.state(env)["outputs"] == {}
    assert all_ids(home.tagged(env)) == set()


@pytest.mark.parametrize("content, says", [
    (None, "no plan file"),
    ("{not json", "is not a saved plan"),
    ('{"format": "ngp-plan/0"}', "is not a saved plan of this ngp"),
    ('{"format": "ngp-plan/1", "env": "x"}', "is damaged"),
])
def test_what_is_not_a_saved_plan_is_one_line(home, tmp_path, content, says):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    proc = home.ngp("up", str(path))
    assert proc.returncode == 1
    assert says in one_error_line(proc.stderr)
    assert "Traceback" not in proc.stderr


def test_symbolic_values_survive_the_file():
    value = {"cidr": Derived(_host, Ref("openvpn.eip", "public_ip")),
             "url": Format("https://{h}/", h=Ref("dcos.lb", "dns_name")),
             "later": UNKNOWN, "ports": (80, 443)}
    back = decode(json.loads(json.dumps(encode(value))))
    assert back["url"] == value["url"] and back["later"] is UNKNOWN
    assert back["ports"] == [80, 443]
    assert back["cidr"].function is _host and back["cidr"].data == Ref("openvpn.eip",
                                                                        "public_ip")
    with pytest.raises(RuntimeError, match="module-level function of ngp"):
        encode(Derived(lambda ip: ip, "10.0.0.1"))
