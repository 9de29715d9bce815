"""`ngp outputs` as a script uses it: a secret asked for by name is refused, never a
placeholder on standard output."""

from __future__ import annotations

import json

from ngp.state import LocalStore, State

SECRET = {"secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:vpn-admin-AbCdEf"}


def test_a_secret_output_by_name_needs_reveal(home):
    env = home.env("outs")
    state = State(env=env, outputs={"vpn_admin_password": SECRET, "vpn_admin_user": "openvpn"})
    LocalStore(home.root / "state", env).write_exact(state)

    for extra in ([], ["--json"]):
        asked = home.ngp("outputs", "--env", env, "vpn_admin_password", *extra)
        assert asked.returncode == 1, asked.stdout
        assert asked.stdout == ""
        assert asked.stderr.strip() == ("error: vpn_admin_password is a secret: pass --reveal "
                                        "to print it")

    # Not a secret: printed as it is; all of them: the secret shown as a reference.
    user = home.ngp("outputs", "--env", env, "vpn_admin_user", check=True)
    assert user.stdout == "openvpn\n"
    every = json.loads(home.ngp("outputs", "--env", env, "--json", check=True).stdout)
    assert every["vpn_admin_password"] == SECRET
    assert "(hidden: ngp outputs --reveal)" in home.ngp("outputs", "--env", env,
                                                         check=True).stdout
