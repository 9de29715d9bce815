"""The strict layer itself: its registry, how it answers in each AWS protocol, --lenient, and
S3's rules (the first family). Each rule family has its own tests beside this file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from werkzeug.serving import make_server

from ngp.aws import Aws
from ngp.errors import NgpError
from ngp.sandbox import strict
from ngp.sandbox.strict import Refusal, Rule, Strict, all_rules, check_lenient

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def test_every_rule_is_named_sourced_and_summarised():
    rules = all_rules()
    assert rules, "the strict sandbox has no rules"
    for name, cls in rules.items():
        assert cls.name == name
        service, _, what = name.partition(".")
        assert service and what and name == name.lower(), name
        assert cls.source.startswith("https://"), f"{name} cites no source"
        assert len(cls.summary) > 20, f"{name} says too little"


def test_a_rule_registered_twice_is_a_bug():
    cls = next(iter(all_rules().values()))
    with pytest.raises(RuntimeError, match="registered twice"):
        strict.rule(type("Again", (Rule,), {"name": cls.name, "summary": "x", "source": "x"}))


def test_an_unknown_lenient_rule_is_one_clear_line():
    with pytest.raises(NgpError, match="no such sandbox rule"):
        check_lenient(["s3.no-such-rule"])
    assert check_lenient(["s3.global-bucket-names"]) == ["s3.global-bucket-names"]


def test_no_test_turns_a_rule_off_to_pass():
    """--lenient is for diagnosis: the suite runs on every rule (this file tests the flag)."""
    mine = Path(__file__).resolve()
    users = [p for p in (REPO / "tests").rglob("*.py")
             if p.resolve() != mine and ("--lenient" in p.read_text()
                                          or "lenient=" in p.read_text())]
    assert users == []


class _Refuses(Rule):
    name, summary, source = "test.refuses", "refuses everything, for this test", "https://x"

    def before(self, call):
        raise Refusal("SomeCode", "said <as> AWS says it", status=400)


@pytest.fixture
def refusing_server(monkeypatch):
    """A strict layer with one rule that refuses every AWS request, in front of nothing."""
    monkeypatch.setattr(strict, "all_rules", lambda: {_Refuses.name: _Refuses})

    def nothing(environ, start_response):  # moto is never reached
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return [b""]

    server = make_server("127.0.0.1", 0, Strict(nothing), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Aws("us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
              credentials=CREDENTIALS, max_attempts=1)
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.parametrize(("service", "call"), [
    ("ec2", lambda c: c.describe_vpcs()),  # EC2's XML
    ("iam", lambda c: c.list_roles()),  # query XML
    ("autoscaling", lambda c: c.describe_auto_scaling_groups()),
    ("s3", lambda c: c.create_bucket(Bucket="some-bucket")),  # S3's XML
    ("secretsmanager", lambda c: c.list_secrets()),  # JSON
    ("lambda", lambda c: c.list_functions()),  # REST-JSON
    ("opensearch", lambda c: c.list_domain_names()),
    ("route53", lambda c: c.list_hosted_zones()),  # REST-XML
])
def test_a_refusal_reaches_botocore_as_the_service_s_own_error(refusing_server, service, call):
    with pytest.raises(ClientError) as caught:
        call(refusing_server.client(service))
    error = caught.value.response["Error"]
    assert error["Code"] == "SomeCode"
    assert error["Message"] == "said <as> AWS says it"


class _Crashes(Rule):
    name, summary, source = "test.crashes", "raises as a buggy rule would, for this test", "x"

    def before(self, call):
        raise RuntimeError("dictionary changed size during iteration")


def _serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_rule_that_fails_answers_aws_s_internal_error_not_an_html_page(monkeypatch, caplog):
    """A rule's bug reached botocore as werkzeug's HTML page, which it cannot parse (CI)."""
    monkeypatch.setattr(strict, "all_rules", lambda: {_Crashes.name: _Crashes})
    server, thread, url = _serve(Strict(lambda environ, start: [b""]))
    try:
        aws = Aws("us-east-1", endpoint_url=url, credentials=CREDENTIALS, max_attempts=1)
        for service, call in (("ec2", lambda c: c.describe_vpcs()),
                              ("secretsmanager", lambda c: c.list_secrets())):
            with pytest.raises(ClientError) as caught:
                call(aws.client(service))
            assert caught.value.response["Error"]["Code"] == "InternalError"
            assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert "strict rule test.crashes failed on ec2.DescribeVpcs" in caplog.text


def test_requests_reach_the_rules_and_moto_one_at_a_time(monkeypatch):
    """Rules read moto's models while other requests change them: never at the same time."""
    monkeypatch.setattr(strict, "all_rules", lambda: {})
    inside, most, served, lock = [0], [0], [0], threading.Lock()

    def slow_moto(environ, start_response):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= 1
            served[0] += 1
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [b"<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>"]

    server, thread, url = _serve(Strict(slow_moto))
    try:
        aws = Aws("us-east-1", endpoint_url=url, credentials=CREDENTIALS, max_attempts=1)
        clients = [aws.client("ec2") for _ in range(4)]
        workers = [threading.Thread(target=c.describe_vpcs) for c in clients]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=30)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert served[0] == 4 and most[0] == 1


# -- S3 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ngp-registry-dev", "ngp-exhibitor-dev", "ngp-snapshots-dev",
                                  "ngp-snapshots-prod", "ngp-registry-sandbox"])
def test_bucket_names_other_accounts_hold_are_refused(aws, name):
    with pytest.raises(ClientError) as caught:
        aws.client("s3").create_bucket(Bucket=name)
    assert caught.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_a_bucket_name_with_the_account_in_it_is_free(aws):
    aws.client("s3").create_bucket(Bucket="ngp-registry-dev-123456789012")
    names = [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    assert names == ["ngp-registry-dev-123456789012"]


@pytest.mark.parametrize("name", ["Probe_Bucket", "ab", "x" * 64, "-starts-with-hyphen",
                                  "two..dots", "192.168.0.1", "xn--punycode",
                                  "ends-with--ol-s3"])
def test_invalid_bucket_names_are_refused_as_aws_refuses_them(aws, name):
    with pytest.raises(ClientError) as caught:
        aws.client("s3").create_bucket(Bucket=name)
    assert caught.value.response["Error"]["Code"] == "InvalidBucketName"


def test_objects_and_heads_pass_the_layer_untouched(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="ngp-data-dev-123456789012")
    s3.put_object(Bucket="ngp-data-dev-123456789012", Key="k", Body=b"x" * 1000)
    head = s3.head_object(Bucket="ngp-data-dev-123456789012", Key="k")
    assert head["ContentLength"] == 1000
    body = s3.get_object(Bucket="ngp-data-dev-123456789012", Key="k")["Body"].read()
    assert body == b"x" * 1000


def test_sandbox_rules_lists_every_rule_with_its_source(tmp_path):
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ngp", "sandbox", "rules", "--json"],
                          cwd=tmp_path, env={**os.environ, "NGP_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = {r["name"]: r["source"] for r in json.loads(proc.stdout)}
    assert listed == {name: cls.source for name, cls in all_rules().items()}


def test_a_lenient_sandbox_accepts_what_the_strict_one_refuses(tmp_path):
    """--lenient turns exactly one rule off, and the sandbox says so."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NGP_HOME": str(tmp_path)}

    def ngp(*args):
        return subprocess.run([sys.executable, "-m", "ngp", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=90)

    started = ngp("sandbox", "start", "--lenient", "s3.global-bucket-names")
    try:
        assert started.returncode == 0, started.stderr
        assert "lenient about s3.global-bucket-names" in started.stderr
        info = json.loads(ngp("sandbox", "status", "--json").stdout)
        assert info["lenient"] == ["s3.global-bucket-names"]
        s3 = Aws("us-east-1", endpoint_url=info["endpoint"], credentials=CREDENTIALS).client("s3")
        s3.create_bucket(Bucket="ngp-registry-dev")  # lenient: accepted
        with pytest.raises(ClientError) as caught:  # the other rules still hold
            s3.create_bucket(Bucket="Probe_Bucket")
        assert caught.value.response["Error"]["Code"] == "InvalidBucketName"
    finally:
        assert ngp("sandbox", "stop").returncode == 0


def test_the_readme_names_every_rule():
    readme = (REPO / "README.md").read_text()
    missing = [name for name in all_rules() if f"`{name}`" not in readme]
    assert missing == [], "README's strict sandbox section lacks these rules"
