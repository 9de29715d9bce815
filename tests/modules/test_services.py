"""The services around the cluster: the snapshot logic against moto's S3 and the local
Marathon, its Lambda package, ECR's refresher and policies, ELK's access and Filebeat."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
import time
import zipfile
from io import BytesIO

import pytest
import yaml
from rich.console import Console

from ngp import render, snapshots
from ngp.config import Project
from ngp.engine import build_desired
from ngp.errors import ConfigError
from ngp.graph import resolve
from ngp.lambdas import marathon_snapshot as logic
from ngp.resources import awslambda

ENV = """
region = "us-east-1"
allowed_account_ids = ["123456789012"]
name_suffix = "t"
modules = {modules}
marathon_url = "http://master.example:8080"

[network]
availability_zones = 2
nat = "{nat}"
admin_cidrs = ["203.0.113.0/24"]
{extra}
"""


def load(tmp_path, modules, nat="single", extra=""):
    (tmp_path / "envs").mkdir(exist_ok=True)
    (tmp_path / "envs" / "t.toml").write_text(ENV.format(
        modules=json.dumps(list(modules)), nat=nat, extra=textwrap.dedent(extra)))
    return Project(tmp_path).load("t", {})


def fake(ref):
    return {"endpoint": "search-x.es.example", "public_ip": "198.51.100.9",
            "dns_name": "int.elb.example", "arn": f"arn:{ref.address}", "name": ref.address,
            "registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}.get(
        ref.output, f"<{ref.address}.{ref.output}>")


# -- the Lambda package ----------------------------------------------------------------------


def test_the_package_is_the_same_bytes_every_build():
    first = awslambda.package("marathon_snapshot")
    awslambda.package.cache_clear()
    second = awslambda.package("marathon_snapshot")
    assert first == second
    with zipfile.ZipFile(BytesIO(first)) as archive:
        assert archive.namelist() == ["marathon_snapshot.py"]
        assert archive.getinfo("marathon_snapshot.py").date_time == (1980, 1, 1, 0, 0, 0)


def test_the_handler_imports_only_what_the_lambda_runtime_has():
    source = awslambda.package("marathon_snapshot")
    with zipfile.ZipFile(BytesIO(source)) as archive:
        tree = ast.parse(archive.read("marathon_snapshot.py"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - sys.stdlib_module_names - {"__future__"} == {"boto3"}


# -- snapshot and restore against moto's S3 and the local Marathon ---------------------------


APPS = [
    {"id": "/platform/web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1, "mem": 64,
     "labels": {"team": "a", "NGP_SECRET_TOKEN": "arn:aws:secretsmanager:us-east-1:"
                "123456789012:secret:ngp-web-t-AbCdEf"},
     "env": {"TOKEN": "the-secret-value", "MODE": "prod"},
     "constraints": [["hostname", "UNIQUE"]]},
    {"id": "/platform/jobs/worker", "cmd": "sleep 1000", "instances": 1, "cpus": 0.2,
     "mem": 128, "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]},
]


SNAPSHOTS = "ngp-snapshots-t-123456789012"  # the module's name in env t: with its account


@pytest.fixture
def bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=SNAPSHOTS)
    return s3


def request_through(marathon):
    def request(method, path, body=None):
        response = marathon.request(method, path, body=body)
        return response.status_code, response.json()
    return request


def comparable(apps):
    keep = ("id", "cmd", "instances", "cpus", "mem", "labels", "env", "constraints",
            "healthChecks")
    return sorted(({k: a.get(k) for k in keep} for a in apps), key=lambda a: a["id"])


def test_snapshot_delete_restore_gives_the_same_apps(marathon, bucket):
    for app in APPS:
        marathon.apply(app)
    before = comparable(marathon.list_apps())
    key = logic.take(request_through(marathon), bucket, SNAPSHOTS)
    assert key.startswith("snapshots/") and key.endswith("Z.json")

    stored = bucket.get_object(Bucket=SNAPSHOTS, Key=key)["Body"].read().decode()
    assert "the-secret-value" not in stored, "a secret value was written to S3"
    document = json.loads(stored)
    assert document["format"] == 1 and {a["id"] for a in document["apps"]} == {
        "/platform/web", "/platform/jobs/worker"}
    assert not {"version", "tasksRunning", "deployments"} & set(document["apps"][0])

    for app in APPS:
        marathon.delete(app["id"])
    assert marathon.list_apps() == []

    asked = []
    result = logic.restore(request_through(marathon), bucket, SNAPSHOTS,
                           secret=lambda arn: asked.append(arn) or "the-secret-value")
    assert result == {"snapshot": key, "apps": ["/platform/jobs/worker", "/platform/web"],
                      "unchanged": [], "restore": result["restore"]}
    assert asked == [APPS[0]["labels"]["NGP_SECRET_TOKEN"]]
    assert comparable(marathon.list_apps()) == before


def counting_puts(request):
    puts = []

    def request_(method, path, body=None):
        if method == "PUT":
            puts.append(path)
        return request(method, path, body)
    return request_, puts


def test_restore_plans_and_puts_back_only_the_apps_that_differ(marathon, bucket):
    for app in APPS:
        marathon.apply(app)
    key = logic.take(request_through(marathon), bucket, SNAPSHOTS)
    request, puts = counting_puts(request_through(marathon))
    secret = lambda arn: "the-secret-value"  # noqa: E731
    # Nothing changed since: nothing to do, no PUT, no new version.
    versions = {a["id"]: a["version"] for a in marathon.list_apps()}
    result = logic.restore(request, bucket, SNAPSHOTS, secret=secret)
    assert result["apps"] == [] and result["unchanged"] == [
        "/platform/jobs/worker", "/platform/web"]
    assert puts == [] and {a["id"]: a["version"] for a in marathon.list_apps()} == versions

    # One app deleted, one changed, one added by hand: planned as such, as ngp compares them.
    marathon.delete("/platform/web")
    marathon.apply({**APPS[1], "mem": 256})
    marathon.apply({**APPS[1], "id": "/platform/extra"})
    key_, document = logic.read(bucket, SNAPSHOTS, None)
    planned = logic.plan(key_, document, logic.apps_now(request), canonical=snapshots.comparable)
    assert key_ == key and planned.taken_at == document["taken_at"]
    assert planned.to_dict() | {"taken_at": None} == {
        "snapshot": key, "taken_at": None, "create": ["/platform/web"],
        "change": [{"id": "/platform/jobs/worker", "fields": ["mem"],
                    "values": {"mem": {"now": 256, "snapshot": 128}}}], "same": [],
        "other_envs_apps": [], "not_in_snapshot": ["/platform/extra"]}
    shown = Console(record=True, width=200)
    render.print_restore_plan(shown, planned, "sandbox")
    assert "/platform/jobs/worker  # differs in: mem 256 -> 128" in shown.export_text()
    result = logic.restore(request, bucket, SNAPSHOTS, secret=secret, planned=planned)
    assert result["apps"] == ["/platform/jobs/worker", "/platform/web"]
    assert sorted(puts) == ["/v2/apps/platform/jobs/worker?partialUpdate=false",
                            "/v2/apps/platform/web?partialUpdate=false"]
    assert marathon.get_app("/platform/jobs/worker")["mem"] == 128
    assert marathon.get_app("/platform/extra") is not None  # a restore deletes nothing


def test_restore_takes_a_named_snapshot_and_lists_them(marathon, bucket):
    from datetime import UTC, datetime

    marathon.apply(APPS[1])
    request = request_through(marathon)
    old = logic.take(request, bucket, SNAPSHOTS, now=datetime(2026, 1, 1, tzinfo=UTC))
    marathon.apply({**APPS[1], "instances": 3})
    new = logic.take(request, bucket, SNAPSHOTS, now=datetime(2026, 1, 2, tzinfo=UTC))
    assert [s["key"] for s in logic.listing(bucket, SNAPSHOTS)] == [old, new]
    logic.restore(request, bucket, SNAPSHOTS, old)
    assert marathon.get_app("/platform/jobs/worker")["instances"] == 1


def test_restore_waits_out_a_locked_app_with_growing_pauses(marathon, bucket, monkeypatch):
    marathon.apply(APPS[1])
    logic.take(request_through(marathon), bucket, SNAPSHOTS)
    marathon.apply({**APPS[1], "instances": 2})  # moved on since the snapshot
    through = request_through(marathon)
    answers = iter([409] * 6)

    def locked_six_times(method, path, body=None):
        status = next(answers, None) if method == "PUT" else None
        return (status, {"message": "locked"}) if status else through(method, path, body)

    pauses = []
    monkeypatch.setattr(logic.time, "sleep", pauses.append)
    result = logic.restore(locked_six_times, bucket, SNAPSHOTS, pause=1.0,
                           max_pause=4.0)
    assert result["apps"] == ["/platform/jobs/worker"]
    assert pauses == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0]


def test_restore_leaves_the_apps_of_other_envs_on_the_cluster_alone(marathon, bucket):
    worker = {k: v for k, v in APPS[1].items() if k != "id"}
    apps = {"/a/platform/worker": {"NGP_ENV": "t"}, "/b/platform/worker": {"NGP_ENV": "other"},
            "/c/platform/worker": {"NGP_ENV": "t"}, "/team/worker": {}}
    for app_id, labels in apps.items():
        marathon.apply({**worker, "id": app_id, "labels": labels, "env": {"MODE": "prod"}})
    logic.take(request_through(marathon), bucket, SNAPSHOTS)
    for app_id in ("/a/platform/worker", "/b/platform/worker", "/team/worker"):
        marathon.apply({**worker, "id": app_id, "labels": apps[app_id],
                        "instances": 2})  # moved on since the snapshot
    result = logic.restore(request_through(marathon), bucket, SNAPSHOTS, env="t")
    assert result["apps"] == ["/a/platform/worker", "/team/worker"]
    assert result["unchanged"] == ["/c/platform/worker"]
    assert result["other_envs_apps"] == ["/b/platform/worker"]
    assert marathon.get_app("/b/platform/worker")["instances"] == 2


def test_restore_without_snapshots_or_with_a_wrong_key_says_so(marathon, bucket):
    request = request_through(marathon)
    with pytest.raises(logic.SnapshotError, match="has no snapshot yet"):
        logic.restore(request, bucket, SNAPSHOTS)
    with pytest.raises(logic.SnapshotError, match="no snapshot snapshots/nope.json"):
        logic.restore(request, bucket, SNAPSHOTS, "snapshots/nope.json")


class Invocations:
    """Lambda as the start handler sees it: moto's Lambda does not run functions, so the
    asynchronous invoke is recorded (and run in-process by the test, as Lambda would)."""

    def __init__(self):
        self.calls = []

    def invoke(self, **call):
        self.calls.append(call)
        return {"StatusCode": 202}


def handlers_env(monkeypatch, local_marathon, bucket):
    invocations = Invocations()
    monkeypatch.setenv("MARATHON_URL", local_marathon.url)
    monkeypatch.setenv("BUCKET", SNAPSHOTS)
    monkeypatch.setenv("RESTORE_FUNCTION", "ngp-restore-t")
    monkeypatch.setattr(logic, "_boto3", lambda service: {
        "lambda": invocations}.get(service, bucket))
    return invocations


def record(bucket, id):
    return json.loads(bucket.get_object(Bucket=SNAPSHOTS, Key=f"restores/{id}.json")[
        "Body"].read())


def test_the_route_answers_202_at_once_and_the_restore_records_its_progress(
        local_marathon, bucket, monkeypatch):
    """POST /restore as API Gateway calls it: 202 and an id, well inside API Gateway's 29 s,
    while Marathon would keep the restore waiting; then the asynchronous restore itself."""
    request = logic.urllib_request(local_marathon.url)
    assert request("PUT", "/v2/apps/platform/web?partialUpdate=false",
                   {k: v for k, v in APPS[1].items() if k != "id"} | {"id": "/platform/web"}
                   )[0] in (200, 201)
    invocations = handlers_env(monkeypatch, local_marathon, bucket)
    key = logic.snapshot_handler({}, None)["snapshot"]
    puts = []
    monkeypatch.setattr(logic, "_put_back", lambda *a: puts.append(a))  # it never runs here

    started = time.monotonic()
    answer = logic.start_handler({"body": json.dumps({"snapshot": key})}, None)
    assert time.monotonic() - started < 5
    assert answer["statusCode"] == 202 and puts == [], "the route restored, not started"
    body = json.loads(answer["body"])
    assert body["status"] == "started" and body["snapshot"] == key
    id = body["restore"]
    assert body["record"] == f"s3://{SNAPSHOTS}/restores/{id}.json"
    assert invocations.calls == [{
        "FunctionName": "ngp-restore-t", "InvocationType": "Event",
        "Payload": json.dumps({"restore": id, "snapshot": key})}]
    assert record(bucket, id) | {"started": None} == {
        "id": id, "status": "started", "snapshot": key, "done": [], "failed": [],
        "unchanged": [], "started": None, "finished": None, "error": None}
    assert request("DELETE", "/v2/apps/platform/web", None)[0] == 200  # gone since

    monkeypatch.undo()
    handlers_env(monkeypatch, local_marathon, bucket)
    logic.restore_handler(json.loads(invocations.calls[0]["Payload"]), None)
    done = record(bucket, id)
    assert done["status"] == "done" and done["done"] == ["/platform/web"]
    assert done["failed"] == [] and done["error"] is None and done["finished"]
    # Lambda runs a failed asynchronous invocation again: a record past "started" is not rerun.
    assert logic.restore_handler(json.loads(invocations.calls[0]["Payload"]), None) == done


def test_a_restore_records_the_apps_marathon_refused_and_fails(local_marathon, bucket,
                                                                monkeypatch):
    invocations = handlers_env(monkeypatch, local_marathon, bucket)
    bucket.put_object(Bucket=SNAPSHOTS, Key="snapshots/20260101T000000Z.json",
                      Body=json.dumps({"format": 1, "apps": [
                          {"id": "/platform/bad", "cmd": "x", "instances": -1},
                          {**APPS[1], "id": "/platform/good"}], "groups": {}}).encode())
    id = json.loads(logic.start_handler({"body": "{}"}, None)["body"])["restore"]
    logic.restore_handler(json.loads(invocations.calls[0]["Payload"]), None)
    failed = record(bucket, id)
    assert failed["status"] == "failed" and failed["done"] == ["/platform/good"]
    assert failed["failed"] == ["/platform/bad"]
    assert "1 of 2 apps were not restored: restoring app /platform/bad failed" in failed[
        "error"]


def test_the_route_refuses_a_missing_snapshot_with_400_and_starts_nothing(
        local_marathon, bucket, monkeypatch):
    invocations = handlers_env(monkeypatch, local_marathon, bucket)
    for body in ("{}", json.dumps({"snapshot": "snapshots/x.json"}), "[1]", "{"):
        answer = logic.start_handler({"body": body}, None)
        assert answer["statusCode"] == 400, answer
    assert "no snapshot yet" in logic.start_handler({"body": "{}"}, None)["body"]
    assert invocations.calls == []
    assert "Contents" not in bucket.list_objects_v2(Bucket=SNAPSHOTS,
                                                    Prefix="restores/")


# -- the modules' resources ------------------------------------------------------------------


def test_snapshot_functions_may_write_and_read_their_bucket_and_nothing_else(tmp_path):
    settings = load(tmp_path, ["network", "dcos", "marathon_snapshot"])
    graph = build_desired(settings).graph
    snapshot = resolve(graph.resources["marathon_snapshot.snapshot_role"].spec, fake)
    statements = snapshot["policies"]["snapshot"]["Statement"]
    storage = [s for s in statements if s["Sid"] == "WriteSnapshots"]
    assert storage == [{"Sid": "WriteSnapshots", "Effect": "Allow", "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{SNAPSHOTS}/snapshots/*"}]
    assert not any("s3:" in str(s["Action"]) for s in statements if s not in storage)
    function = resolve(graph.resources["marathon_snapshot.snapshot"].spec, fake)
    assert function["environment"] == {"BUCKET": "marathon_snapshot.bucket",
                                       "MARATHON_URL": "http://int.elb.example:8080"}
    assert function["code_sha256"] == awslambda.code_sha256("marathon_snapshot")
    assert function["subnet_ids"] == ["<network.subnet.private[a].id>",
                                      "<network.subnet.private[b].id>"]
    rule = graph.resources["marathon_snapshot.schedule"].spec
    assert rule["schedule"] == "rate(60 minutes)"
    api = resolve(graph.resources["marathon_snapshot.api"].spec, fake)
    assert api["routes"][0]["authorization"] == "AWS_IAM"
    assert {r.kind for r in graph.resources.values() if r.module == "marathon_snapshot"} >= {
        "logs.group", "events.target", "lambda.permission", "apigateway.stage"}


def test_only_the_start_function_may_invoke_and_only_the_restore(tmp_path):
    settings = load(tmp_path, ["network", "dcos", "marathon_snapshot"])
    graph = build_desired(settings).graph
    invokes = {}
    for address, res in graph.resources.items():
        if res.kind == "iam.role":
            for document in resolve(res.spec, fake)["policies"].values():
                for statement in document["Statement"]:
                    if "lambda:" in str(statement["Action"]):
                        invokes.setdefault(address, []).append(statement)
    assert invokes == {"marathon_snapshot.start_role": [{
        "Sid": "StartRestore", "Effect": "Allow", "Action": "lambda:InvokeFunction",
        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ngp-restore-t"}]}
    start = resolve(graph.resources["marathon_snapshot.start"].spec, fake)
    assert start["handler"] == "marathon_snapshot.start_handler"
    assert start["environment"] == {"BUCKET": "marathon_snapshot.bucket",
                                    "RESTORE_FUNCTION": "marathon_snapshot.restore"}
    assert start["subnet_ids"] == [] and start["timeout"] <= 29  # it answers API Gateway
    restore = resolve(graph.resources["marathon_snapshot.restore"].spec, fake)
    assert restore["name"] == "ngp-restore-t" and restore["timeout"] == 900
    assert restore["environment"]["NGP_ENV"] == "t"  # it leaves other envs' apps alone
    api = resolve(graph.resources["marathon_snapshot.api"].spec, fake)
    assert api["routes"][0]["function_arn"] == "arn:marathon_snapshot.start"
    permission = graph.resources["marathon_snapshot.api_permission"].spec
    assert permission["function"].address == "marathon_snapshot.start"
    for key in ("restore", "start"):
        statements = resolve(graph.resources[f"marathon_snapshot.{key}_role"].spec, fake)[
            "policies"]
        records = [s for doc in statements.values() for s in doc["Statement"]
                   if s["Sid"] == "RecordRestores"]
        assert records == [{"Sid": "RecordRestores", "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:PutObject"],
                            "Resource": f"arn:aws:s3:::{SNAPSHOTS}/restores/*"}]


def test_ecr_repositories_refresher_and_agent_policy(tmp_path):
    settings = load(tmp_path, ["network", "dcos", "ecr"], extra="""
        [ecr]
        repositories = ["app", "team/web"]
        keep_images = 10
        [dcos]
        private_agents = 3
        public_agents = 1
    """)
    graph = build_desired(settings).graph
    assert graph.resources["ecr.repository[team/web]"].spec == {
        "name": "ngp-t/team/web", "tag_mutability": "MUTABLE", "scan_on_push": True,
        "keep_images": 10}
    refresher = resolve(graph.resources["ecr.refresher"].spec, fake)
    assert refresher["instances"] == 4 and refresher["constraints"] == [["hostname", "UNIQUE"]]
    assert "aws ecr get-login-password --region us-east-1" in refresher["cmd"]
    assert "123456789012.dkr.ecr.us-east-1.amazonaws.com" in refresher["cmd"]
    assert "sleep 21600" in refresher["cmd"]  # 6 hours, well inside a token's 12
    agent = resolve(graph.resources["dcos.agent_role"].spec, fake)
    assert agent["managed_policies"] == ["arn:ecr.agent_access"]
    pull = resolve(graph.resources["ecr.agent_access"].spec, fake)["document"]["Statement"]
    assert pull[1]["Resource"] == ["arn:ecr.repository[app]", "arn:ecr.repository[team/web]"]


def test_the_refresher_script_writes_a_docker_config(tmp_path):
    """The refresher's loop, run by sh with aws, sleep and the host path stood in for."""
    import base64
    import subprocess
    import tarfile

    settings = load(tmp_path, ["network", "dcos", "ecr"])
    cmd = resolve(build_desired(settings).graph.resources["ecr.refresher"].spec, fake)["cmd"]
    root = tmp_path / "host"
    script = cmd.replace("/host/", f"{root}/").replace("/tmp/ngp", f"{tmp_path}/work")
    tools = textwrap.dedent("""\
        aws() { echo "s3cret-token"; }
        sleep() { exit 0; }
        """)
    run = subprocess.run(["sh", "-c", tools + script], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    with tarfile.open(root / "etc/ngp/docker.tar.gz") as archive:
        config = json.load(archive.extractfile(".docker/config.json"))
    auth = config["auths"]["123456789012.dkr.ecr.us-east-1.amazonaws.com"]["auth"]
    assert base64.b64decode(auth) == b"AWS:s3cret-token"


def test_elk_is_a_vpc_domain_in_compatibility_mode_that_every_node_reaches(tmp_path):
    settings = load(tmp_path, ["network", "dcos", "elk"], nat="per_az", extra="""
        [elk]
        allowed_cidrs = ["172.27.224.0/20"]
    """)
    graph = build_desired(settings).graph
    domain = resolve(graph.resources["elk.domain"].spec, fake)
    assert domain["compatibility_mode"] is True  # Filebeat OSS 7.x checks the version
    assert domain["vpc_id"] == "<network.vpc.id>"
    assert domain["subnet_ids"] == ["<network.subnet.private[a].id>"]  # one node, one zone
    assert domain["security_group_ids"] == ["<elk.sg.id>"]
    statement = domain["access_policy"]["Statement"][0]
    assert statement["Principal"] == {"AWS": "*"} and statement["Action"] == "es:ESHttp*"
    assert "Condition" not in statement  # AWS allows no IP policy on a VPC domain
    assert statement["Resource"] == "arn:aws:es:us-east-1:123456789012:domain/ngp-elk-t/*"
    group = resolve(graph.resources["elk.sg"].spec, fake)
    assert group["vpc_id"] == "<network.vpc.id>"
    https = [{k: r[k] for k in ("cidr", "group") if k in r} for r in group["ingress"]
             if (r["protocol"], r["from_port"], r["to_port"]) == ("tcp", 443, 443)]
    assert https == [{"group": "<network.sg.internal.id>"},  # every DC/OS node has it
                     {"cidr": "<network.vpc.cidr>"}, {"cidr": "172.27.224.0/20"}]
    assert len(https) == len(group["ingress"])
    filebeat = resolve(graph.resources["elk.filebeat"].spec, fake)
    config = yaml.safe_load(filebeat["env"]["FILEBEAT_YML"])
    assert config["output.elasticsearch"]["hosts"] == ["https://search-x.es.example:443"]
    paths = [p for i in config["filebeat.inputs"] for p in i["paths"]]
    assert any(p.endswith("/runs/latest/stdout") for p in paths)
    assert filebeat["instances"] == 3  # the default 2 private + 1 public agents


@pytest.mark.parametrize(("zones", "nodes", "subnets"), [
    (2, 2, ["a", "b"]), (2, 4, ["a", "b"]), (3, 2, ["a", "b"]), (3, 3, ["a", "b", "c"]),
    (3, 5, ["a", "b", "c"]), (1, 3, ["a"])])
def test_elk_spans_a_zone_per_node_up_to_three(tmp_path, zones, nodes, subnets):
    load(tmp_path, ["network", "elk"], extra=f"[elk]\ninstance_count = {nodes}\n")
    path = tmp_path / "envs" / "t.toml"
    path.write_text(path.read_text().replace("availability_zones = 2",
                                             f"availability_zones = {zones}"))
    domain = build_desired(Project(tmp_path).load("t", {})).graph.resources["elk.domain"].spec
    assert [ref.address for ref in domain["subnet_ids"]] == [
        f"network.subnet.private[{z}]" for z in subnets]


def test_elk_refuses_an_odd_node_count_over_two_zones(tmp_path):
    settings = load(tmp_path, ["network", "elk"], extra="[elk]\ninstance_count = 3\n")
    with pytest.raises(ConfigError, match="even number of nodes over two zones"):
        build_desired(settings)


def test_allow_ip_adds_to_the_file_and_keeps_its_comments(tmp_path):
    from ngp.modules.elk import allow_ip

    load(tmp_path, ["network", "elk"], extra="""
        [elk]
        # who may use Dashboards
        allowed_cidrs = ["203.0.113.0/24"]   # the office
    """)
    path = tmp_path / "envs" / "t.toml"
    assert allow_ip(path, "198.51.100.7") == ("198.51.100.7/32", True)
    assert allow_ip(path, "198.51.100.7/32") == ("198.51.100.7/32", False)
    text = path.read_text()
    assert "# who may use Dashboards" in text and "# the office" in text
    assert Project(tmp_path).load("t", {}).module("elk").allowed_cidrs[-1].exploded == \
        "198.51.100.7/32"
    with pytest.raises(ConfigError, match="not an IPv4 address"):
        allow_ip(path, "198.51.100.300")


def test_app_ids_and_named_vips_carry_the_env(tmp_path):
    settings = load(tmp_path, ["network", "dcos", "api_gateway", "jenkins"])
    built = build_desired(settings)
    apps = {a: r.spec for a, r in built.graph.resources.items() if r.kind == "marathon.app"}
    assert {s["id"] for s in apps.values()} == {
        "/t/platform/redis", "/t/platform/tyk-gateway", "/t/platform/jenkins"}
    assert apps["api_gateway.tyk"]["dependencies"] == ["/t/platform/redis"]
    assert apps["api_gateway.tyk"]["env"]["TYK_GW_STORAGE_HOST"] == \
        "redis-t.marathon.l4lb.thisdcos.directory"
    labels = [pm["labels"]["VIP_0"] for s in apps.values()
              for pm in s.get("container", {}).get("portMappings", []) if "labels" in pm]
    assert sorted(labels) == ["/jenkins-t:8080", "/redis-t:6379"]
    assert resolve(built.outputs["jenkins_url"], fake) == \
        "http://jenkins-t.marathon.l4lb.thisdcos.directory:8080"


# -- Jenkins ---------------------------------------------------------------------------------


def test_jenkins_can_write_its_root_owned_volume(tmp_path):
    """Mesos makes the persistent volume root's; the image runs Jenkins as uid 1000. The task
    starts as root, hands the volume's top to 1000, then runs the image's entrypoint as 1000.
    The command runs for real, with chown and setpriv as stand-ins that record their calls."""
    built = build_desired(load(tmp_path, ["network", "jenkins"]))
    app = built.graph.resources["jenkins.app"].spec
    docker = app["container"]["docker"]
    assert {"key": "user", "value": "0:0"} in docker["parameters"]
    [persistent] = [v for v in app["container"]["volumes"] if "persistent" in v]
    [home] = [v for v in app["container"]["volumes"] if v.get("hostPath") == "jenkins_home"]
    assert persistent["containerPath"] == "jenkins_home" and home["mode"] == "RW"
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for name, code in (("chown", 0), ("setpriv", 0)):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >>"{calls}"\nexit {code}\n')
        (bin_dir / name).chmod(0o755)
    done = subprocess.run(["/bin/sh", "-c", app["cmd"]],
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == [
        f"chown 1000:1000 {home['containerPath']}",
        "setpriv --reuid=1000 --regid=1000 --init-groups /usr/bin/tini -- "
        "/usr/local/bin/jenkins.sh"]
    # A volume that cannot be given to Jenkins stops the task before Jenkins starts.
    (bin_dir / "chown").write_text(f'#!/bin/sh\necho "chown $*" >>"{calls}"\nexit 1\n')
    calls.unlink()
    failed = subprocess.run(["/bin/sh", "-c", app["cmd"]],
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, timeout=30)
    assert failed.returncode != 0 and "setpriv" not in calls.read_text()


# -- the apps that run on every node, on the local Marathon's model of the agents -------------


def test_every_per_node_app_deploys_and_updates_on_the_sandbox_cluster(ctx, marathon,
                                                                        marathons,
                                                                        local_marathon,
                                                                        monkeypatch):
    """Sysdig, Filebeat, the ECR refresher (every agent) and marathon-lb (the public ones),
    as the sandbox env builds them, created and then changed through the marathon.app kind
    on as many agents as that env's cluster has: each change replaces the tasks in place
    (Marathon's default strategy would deadlock)."""
    import dataclasses
    from pathlib import Path

    from ngp.resources.base import KINDS
    from ngp.sandbox.marathon import cluster

    settings = Project(Path(__file__).resolve().parents[2]).load("sandbox", {})
    dcos = settings.module("dcos")
    local_marathon.nodes = cluster(dcos.private_agents, dcos.public_agents)
    secret = ctx.aws.client("secretsmanager").create_secret(
        Name="sysdig-key", SecretString="k")["ARN"]
    graph = build_desired(settings).graph
    # The ready gate of the sandbox's cluster gives the local Marathon as its endpoint.
    outputs = {"arn": secret, "marathon_url": local_marathon.url}
    apps = {address: resolve(res.spec, lambda ref: outputs.get(ref.output,
                                                               f"resolved-{ref.output}"))
            for address, res in graph.resources.items() if res.kind == "marathon.app" and
            ["hostname", "UNIQUE"] in res.spec.get("constraints", [])}
    assert sorted(apps) == ["ecr.refresher", "elk.filebeat", "monitoring.app",
                            "routing.marathon_lb"]
    kind = KINDS["marathon.app"]
    ctx = dataclasses.replace(ctx, env="sandbox", marathons=marathons)
    pushing = marathons.client(local_marathon.url)
    apply = pushing.apply  # ngp's own, with a deadline short enough for a test
    monkeypatch.setattr(pushing, "apply", lambda app, **kw: apply(app, **{"deadline": 5, **kw}))
    for address, spec in apps.items():
        assert spec["upgradeStrategy"] == {"minimumHealthCapacity": 0,
                                           "maximumOverCapacity": 0}, address
        nodes = [n for n in local_marathon.nodes
                 if n.role in spec.get("acceptedResourceRoles", ["*"])]
        assert spec["instances"] == len(nodes) == (1 if address.startswith("routing") else 3)
        app_id, created = kind.create(ctx, address, spec)
        changed = {**spec, "env": {**spec.get("env", {}), "NGP_CHANGED": "1"}}
        updated = kind.update(ctx, app_id, spec, changed)
        assert updated["version"] > created["version"], address
        live = marathon.get_app(app_id)
        assert live["tasksRunning"] == len(nodes) and live["deployments"] == [], address
        assert {t["host"] for t in live["tasks"]} == {n.hostname for n in nodes}
        assert {t["version"] for t in live["tasks"]} == {updated["version"]}, address
