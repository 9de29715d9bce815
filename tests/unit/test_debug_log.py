"""The debug log's redaction (table), its hooks on a real boto3 client and on the Marathon
client, and the progress lines' timer (engine.phase)."""

from __future__ import annotations

import threading
import time

import pytest

from ngp import debug_log
from ngp.aws import Aws
from ngp.engine import phase
from ngp.errors import NgpError
from tests.conftest import TEST_CREDENTIALS, reset_aws

R = debug_log.REDACTED


@pytest.fixture
def log(tmp_path, monkeypatch):
    """The debug log open at a file of its own, closed after."""
    path = tmp_path / "debug.log"
    monkeypatch.setenv("NGP_LOG", "debug")
    monkeypatch.setenv("NGP_LOG_PATH", str(path))
    assert debug_log.start(tmp_path, "test") == path
    assert debug_log.start(tmp_path, "test") is None  # opened once, said once
    yield path
    debug_log.stop()


@pytest.mark.parametrize(("value", "expected"), [
    ({"SecretString": "x", "Name": "n"}, {"SecretString": R, "Name": "n"}),
    ({"UserData": "IyEvYmluL2Jhc2g="}, {"UserData": R}),
    ({"Environment": {"Variables": {"DCOS_ACS_TOKEN": "t", "BUCKET": "b"}}},
     {"Environment": {"Variables": {"DCOS_ACS_TOKEN": R, "BUCKET": "b"}}}),
    ({"admin_password": "p", "Authorization": "token=x", "api-key": "k"},
     {"admin_password": R, "Authorization": R, "api-key": R}),
    ({"NextToken": "page2", "ClientToken": "c", "SecretId": "arn:x"},
     {"NextToken": "page2", "ClientToken": "c", "SecretId": "arn:x"}),
    ({"Body": b"12345", "When": object()}, {"Body": "(5 bytes)", "When": "(object)"}),
    ({"Tags": [{"Key": "a", "Value": 1}], "Empty": None},
     {"Tags": [{"Key": "a", "Value": 1}], "Empty": None}),
    ({"Password": ""}, {"Password": ""}),  # nothing to hide
])
def test_redact(value, expected):
    assert debug_log.redact(value) == expected


def test_known_secret_values_are_replaced_anywhere():
    debug_log.secret("hunter2-but-longer")
    debug_log.secret("short")  # too short to blank: common words would go too
    assert debug_log.redact({"Description": "pw hunter2-but-longer here", "Name": "short"}) \
        == {"Description": f"pw {R} here", "Name": "short"}
    assert debug_log.scrub("a hunter2-but-longer b") == f"a {R} b"


def test_ngp_log_values(monkeypatch):
    for value in ("", "off", "DEBUG", "trace"):
        monkeypatch.setenv("NGP_LOG", value)
        assert debug_log.wanted() == (value.lower() in ("debug", "trace"))
    monkeypatch.setenv("NGP_LOG", "verbose")
    with pytest.raises(NgpError, match="NGP_LOG='verbose' is not a log level"):
        debug_log.wanted()


def test_off_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv("NGP_LOG", raising=False)
    assert debug_log.start(tmp_path, "test") is None and not debug_log.on()
    assert not (tmp_path / "logs").exists()


def test_default_path_is_owner_only_under_the_state(tmp_path, monkeypatch):
    monkeypatch.delenv("NGP_LOG_PATH", raising=False)
    debug_log.request()  # --debug
    try:
        path = debug_log.start(tmp_path / "state", "dev")
        assert path is not None and path.parent == tmp_path / "state" / "logs"
        assert path.name.startswith("dev-") and path.suffix == ".log"
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
    finally:
        debug_log.stop()


def test_aws_calls_logged_without_secrets(log, strict_endpoint):
    reset_aws(strict_endpoint)
    aws = Aws("us-east-1", endpoint_url=strict_endpoint, credentials=TEST_CREDENTIALS)
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="db", SecretString="the-value-of-the-secret")
    ec2 = aws.client("ec2")
    ec2.describe_vpcs()
    with pytest.raises(ec2.exceptions.ClientError):
        ec2.describe_vpcs(VpcIds=["vpc-0000000"])
    text = log.read_text()
    assert "the-value-of-the-secret" not in text
    assert "aws secretsmanager.CreateSecret 200" in text
    assert f'"Name": "db", "SecretString": "{R}"' in text
    assert "aws ec2.DescribeVpcs 200" in text
    assert 'aws ec2.DescribeVpcs 400 InvalidVpcID.NotFound' in text
    assert '{"VpcIds": ["vpc-0000000"]}' in text


def test_marathon_calls_logged_without_the_token(log, local_marathon):
    from ngp.marathon.client import Marathon

    client = Marathon(local_marathon.url, login=lambda: "acs-token-0123456789")
    try:
        assert client.get_app("/nothing") is None
    finally:
        client.close()
    text = log.read_text()
    assert f"marathon GET {local_marathon.url}/v2/apps/nothing 404 " in text
    assert f"attempt=1 Authorization={R}" in text
    assert "acs-token-0123456789" not in text


class Lines:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.event = threading.Event()

    def progress(self, message: str) -> None:
        self.said.append(message)
        self.event.set()


def test_phase_says_only_what_takes_longer_than_half_a_second():
    lines = Lines()
    with phase(lines, "Quick"):
        pass
    started = time.monotonic()
    with phase(lines, "Slow"):
        assert lines.event.wait(5)  # said while it still runs, after half a second
    assert time.monotonic() - started >= 0.45
    assert lines.said == ["Slow"]  # the quick one's timer, older, never fired
