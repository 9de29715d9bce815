"""A whole `up` and `down` of the sandbox env (every module) with ngp's own policy enforced:
`ngp sandbox start --iam-policy-of ENV` has ngp sign as an IAM user holding `ngp permissions
--env ENV`, and the sandbox's iam.identity-policies rule refuses what it does not allow."""

from __future__ import annotations

import pytest

from tests.homes import Home, all_ids


@pytest.fixture(scope="module")
def enforced(tmp_path_factory):
    project = Home(tmp_path_factory.mktemp("ngp-enforced"))
    env = project.env("iam", full=True,
                      **{'domain = "sandbox.ngp.test"': 'domain = "iam.ngp.test"'})
    started = project.ngp("sandbox", "start", "--iam-policy-of", env, check=True, timeout=90)
    assert "signs as IAM user ngp-iam" in started.stderr
    yield project, env
    project.stop()


def test_up_change_and_down_of_every_module_under_ngps_policy(enforced):
    home, env = enforced
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    assert home.ngp("plan", "--env", env, "--detailed-exitcode").returncode == 0
    iam = home.client("iam")
    boundary = f"arn:aws:iam::123456789012:policy/ngp/{env}/ngp-boundary-{env}"
    for name in ("manager", "openvpn", "dcos-agent", "dcos-master", "snapshot-lambda"):
        role = iam.get_role(RoleName=f"ngp-{name}-{env}")["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary, name
    # A rename (a repository replaced, the pull policy given a new version), then an engine
    # version change: moto has no UpgradeDomain (404), but the policy lets ngp ask.
    env_file = home.root / "envs" / f"{env}.toml"
    env_file.write_text(env_file.read_text().replace(
        'repositories = ["app", "web"]', 'repositories = ["app", "www"]'))
    home.ngp("up", "--env", env, "--yes", check=True, timeout=600)
    env_file.write_text(env_file.read_text().replace(
        "[elk]\n", '[elk]\nengine_version = "OpenSearch_2.13"\n'))
    upgrade = home.ngp("up", "--env", env, "--yes", timeout=600)
    assert upgrade.returncode != 0
    assert "404" in upgrade.stdout + upgrade.stderr
    assert "not authorized" not in upgrade.stdout + upgrade.stderr
    home.ngp("down", "--env", env, "--yes", check=True, timeout=600)
    assert all_ids(home.tagged(env)) == set()
    assert [u["UserName"] for u in iam.list_users()["Users"]] == [f"ngp-{env}"]


def test_what_the_policy_leaves_out_is_refused(enforced):
    """The enforcement can fail a run: another env's roles are not this policy's."""
    home, env = enforced
    other = home.env("other", modules='["network", "openvpn"]')
    refused = home.ngp("up", "--env", other, "--yes", timeout=300)
    assert refused.returncode != 0
    assert (f"AccessDenied: User: arn:aws:iam::123456789012:user/ngp-{env} is not authorized "
            "to perform: iam:CreatePolicy on resource: arn:aws:iam::123456789012:policy/ngp/"
            "other/ngp-boundary-other") in refused.stdout + refused.stderr
