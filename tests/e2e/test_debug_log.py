"""`--debug` and NGP_LOG=debug through the CLI: every AWS request and Marathon call in a file,
and no secret in it (the VPN's generated password, a key taken from the environment, every
value Secrets Manager holds for the env)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

SAID = re.compile(r"^note: writing the debug log to (\S+) \(secrets redacted\)$", re.M)


def test_up_debug_logs_every_request_and_no_secret(home, monkeypatch):
    env = home.env("dbg", modules='["network", "openvpn", "monitoring"]')
    sysdig = "sysdig-" + secrets.token_hex(12)  # a key the monitoring module takes from here
    monkeypatch.setenv("SYSDIG_ACCESS_KEY", sysdig)
    up = home.ngp("up", "--env", env, "--yes", "--debug", check=True)
    said = SAID.findall(up.stderr)
    assert len(said) == 1, up.stderr  # the path, said once, on stderr
    assert "debug log" not in up.stdout
    log = Path(said[0])
    assert log.parent == home.root / "state" / "logs" and log.name.startswith("dbg-")
    assert log.stat().st_mode & 0o077 == 0  # owner-only, as the state
    text = log.read_text()

    for call in ("ec2.CreateVpc", "ec2.RunInstances", "ec2.CreateSubnet",
                 "secretsmanager.CreateSecret", "sts.GetCallerIdentity"):
        assert re.search(rf"^\S+ aws {re.escape(call)} 200 \d+\.\d+s retries=\d+ \{{", text,
                         re.M), call
    assert re.search(r"^\S+ marathon PUT http://127\.0\.0\.1:\d+/v2/apps/\S+"
                     r"\?partialUpdate=false 20[01] \d+\.\d+s attempt=1", text, re.M)
    assert re.search(r"^\S+ marathon GET \S+/v2/deployments 200 ", text, re.M)
    assert '"SecretString": "(redacted)"' in text and '"UserData": "(redacted)"' in text

    password = home.ngp("outputs", "vpn_admin_password", "--env", env, "--reveal",
                        check=True).stdout.strip()
    values = _secret_values(home, env)
    assert password in values and sysdig in values and len(values) >= 3
    for value in values:
        assert value not in text, "a secret value reached the debug log"
        for line in value.splitlines():  # an SSH key's lines, one by one
            assert line.startswith("-----") or line not in text

    # NGP_LOG=debug, to NGP_LOG_PATH; --json output stays clean JSON on stdout.
    path = home.root / "plan.log"
    monkeypatch.setenv("NGP_LOG", "debug")
    monkeypatch.setenv("NGP_LOG_PATH", str(path))
    plan = home.ngp("plan", "--env", env, "--json", check=True)
    assert json.loads(plan.stdout)["env"] == env
    assert SAID.findall(plan.stderr) == [str(path)]
    planned = path.read_text()
    assert "aws ec2.DescribeVpcs 200" in planned and "aws secretsmanager.ListSecrets" in planned
    assert not any(value in planned for value in values)

    monkeypatch.setenv("NGP_LOG", "verbose")
    bad = home.ngp("plan", "--env", env)
    assert bad.returncode == 1 and "NGP_LOG='verbose' is not a log level" in bad.stderr
    monkeypatch.delenv("NGP_LOG")
    home.ngp("down", "--env", env, "--yes", check=True)


def _secret_values(home, env: str) -> set[str]:
    """Every value the sandbox's Secrets Manager holds for the env."""
    sm = home.client("secretsmanager")
    listed = sm.list_secrets(Filters=[{"Key": "tag-value", "Values": [env]}])["SecretList"]
    return {sm.get_secret_value(SecretId=s["ARN"])["SecretString"] for s in listed}
