"""The marathon_snapshot module: every app and group of Marathon written to S3 on a schedule
by a Lambda function, and put back by another, started through API Gateway (`POST /restore`,
IAM auth) by a third that answers 202 with the restore's id at once.

The functions run ngp's own logic (ngp/lambdas/marathon_snapshot.py), packaged by ngp into a
deterministic zip; snapshot and restore in the cluster's private subnets so they reach Marathon
through the masters' internal load balancer (http://<internal lb>:8080), start outside the VPC
(it talks only to S3 and Lambda). `ngp snapshot` and `ngp restore` run the same logic from
your machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ngp.graph import Format, Ref, Resource
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.network import subnets
from ngp.resources.awslambda import code_sha256
from ngp.resources.iam import env_path

if TYPE_CHECKING:
    from ngp.config import Settings

PACKAGE = "marathon_snapshot"
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


RetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                        1827, 2192, 2557, 2922, 3288, 3653]


class SnapshotSettings(ModuleSettings):
    interval_minutes: int = Field(60, ge=1, le=1440)
    expire_days: int = Field(30, ge=1, le=3650)  # snapshots older than this are deleted
    # AWS's own lists, not ranges (a retention of 15 days, or python3.8, is refused by AWS):
    # ngp/sandbox/rules/validation.py cites them and the sandbox refuses the rest too.
    log_retention_days: RetentionDays = 30
    runtime: Literal["python3.10", "python3.11", "python3.12", "python3.13",
                     "python3.14"] = "python3.12"
    memory: int = Field(256, ge=128, le=10240)
    timeout: int = Field(120, ge=10, le=900)  # seconds
    # A restore waits out each app's deployment: minutes, up to Lambda's own limit.
    restore_timeout: int = Field(900, ge=60, le=900)


def schedule(minutes: int) -> str:
    return "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"


def bucket_name(settings: Settings) -> str:
    return settings.bucket_name("snapshots")


def marathon_url(settings: Settings) -> Any:
    """Marathon as the functions reach it from the VPC: the cluster's internal load balancer,
    or the env's marathon_url (it must answer without a token)."""
    if "dcos" in settings.modules:
        return Format("http://{host}:8080", host=Ref("dcos.masters_internal_lb", "dns_name"))
    return settings.core.marathon_url or ""


def _role_policy(settings: Settings, function: str, storage: list[dict[str, Any]],
                 vpc: bool) -> dict[str, Any]:
    """Its own log group, the network interfaces a function in a VPC needs, and `storage`."""
    region = settings.core.region
    logs = f"arn:aws:logs:{region}:*:log-group:/aws/lambda/{function}"
    ec2 = f"arn:aws:ec2:{region}:*"
    network = [
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow",
         "Action": ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
         "Resource": [f"{ec2}:network-interface/*", f"{ec2}:subnet/*",
                      f"{ec2}:security-group/*"]},
        {"Sid": "DescribeNetworkInterfaces", "Effect": "Allow",
         "Action": ["ec2:DescribeNetworkInterfaces"], "Resource": "*"}]
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{logs}:*"},
        *(network if vpc else []), *storage]}


def _function(settings: Settings, key: str, name: str, handler: str, timeout: int,
              environment: dict[str, Any], vpc: bool) -> Resource:
    snap: SnapshotSettings = settings.module("marathon_snapshot")
    return Resource(f"marathon_snapshot.{key}", "lambda.function", {
        "name": name, "package": PACKAGE, "code_sha256": code_sha256(PACKAGE),
        "handler": f"{PACKAGE}.{handler}", "runtime": snap.runtime,
        "role_arn": Ref(f"marathon_snapshot.{key}_role", "arn"), "timeout": timeout,
        "memory": snap.memory,
        "environment": {"BUCKET": Ref("marathon_snapshot.bucket", "name"), **environment},
        "subnet_ids": subnets(settings, "private") if vpc else [],
        "security_group_ids": [Ref("marathon_snapshot.sg")] if vpc else []},
        depends_on=(f"marathon_snapshot.{key}_logs",))


def restore_function_arn(settings: Settings) -> str:
    return (f"arn:aws:lambda:{settings.core.region}:{settings.account}:function:"
            f"{settings.name('restore')}")


@module("marathon_snapshot", summary="hourly Marathon snapshots to S3 by a Lambda function, "
        "restored through API Gateway", settings=SnapshotSettings, needs=("network",),
        marathon=True, buckets=("snapshots",))
def build(settings: Settings) -> Built:
    snap: SnapshotSettings = settings.module("marathon_snapshot")
    bucket = f"arn:aws:s3:::{bucket_name(settings)}"
    path = env_path(settings.env)
    account = settings.account
    own_secrets = (f"arn:aws:secretsmanager:{settings.core.region}:{account}:secret:"
                   f"{settings.name('*')}-*")
    read_snapshots = [{"Sid": "ListSnapshots", "Effect": "Allow", "Action": "s3:ListBucket",
                       "Resource": bucket},
                      {"Sid": "ReadSnapshots", "Effect": "Allow", "Action": "s3:GetObject",
                       "Resource": f"{bucket}/snapshots/*"}]
    records = {"Sid": "RecordRestores", "Effect": "Allow",
               "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{bucket}/restores/*"}
    storage: dict[str, list[dict[str, Any]]] = {
        "snapshot": [{"Sid": "WriteSnapshots", "Effect": "Allow", "Action": "s3:PutObject",
                      "Resource": f"{bucket}/snapshots/*"}],
        "restore": [*read_snapshots, records,
                    # Apps' secret env values are references in a snapshot, read at restore.
                    {"Sid": "ReadAppSecrets", "Effect": "Allow",
                     "Action": "secretsmanager:GetSecretValue", "Resource": own_secrets}],
        # It checks the snapshot exists, records the restore, and starts it: that function
        # only, asynchronously (API Gateway would stop waiting for it at 29 s).
        "start": [*read_snapshots, records,
                  {"Sid": "StartRestore", "Effect": "Allow", "Action": "lambda:InvokeFunction",
                   "Resource": restore_function_arn(settings)}],
    }
    functions = {  # key: name, handler, timeout, environment, in the VPC (to reach Marathon)
        "snapshot": ("snapshot", "snapshot_handler", snap.timeout,
                     {"MARATHON_URL": marathon_url(settings)}, True),
        # NGP_ENV: a restore leaves other envs' apps on the same cluster alone.
        "restore": ("restore", "restore_handler", snap.restore_timeout,
                    {"MARATHON_URL": marathon_url(settings), "NGP_ENV": settings.env}, True),
        "start": ("restore-start", "start_handler", 25,  # inside API Gateway's 29 s
                  {"RESTORE_FUNCTION": Ref("marathon_snapshot.restore", "name")}, False),
    }
    res: list[Resource] = [
        Resource("marathon_snapshot.bucket", "s3.bucket", {
            "name": bucket_name(settings), "versioning": True, "expire_days": snap.expire_days}),
        Resource("marathon_snapshot.sg", "ec2.security_group", {
            "name": settings.name("snapshot-lambda"), "vpc_id": Ref("network.vpc"),
            "description": "Marathon snapshot functions: no inbound traffic", "ingress": []}),
    ]
    for key, (part, handler, timeout, environment, vpc) in functions.items():
        function = settings.name(part)
        res += [
            Resource(f"marathon_snapshot.{key}_logs", "logs.group", {
                "name": f"/aws/lambda/{function}", "retention_days": snap.log_retention_days}),
            Resource(f"marathon_snapshot.{key}_role", "iam.role", {
                "name": settings.name(f"{part}-lambda"), "path": path, "trust": LAMBDA_TRUST,
                "description": f"Marathon {part.replace('-', ' ')}s: the snapshot bucket, and "
                "nothing more",
                "policies": {part: _role_policy(settings, function, storage[key], vpc)}}),
            _function(settings, key, function, handler, timeout, environment, vpc),
        ]
    res += [
        Resource("marathon_snapshot.schedule", "events.rule", {
            "name": settings.name("snapshot"), "schedule": schedule(snap.interval_minutes),
            "description": f"ngp {settings.env}: Marathon snapshots", "enabled": True}),
        Resource("marathon_snapshot.schedule_target", "events.target", {
            "rule": Ref("marathon_snapshot.schedule"), "target_id": "snapshot",
            "arn": Ref("marathon_snapshot.snapshot", "arn")}),
        Resource("marathon_snapshot.schedule_permission", "lambda.permission", {
            "function": Ref("marathon_snapshot.snapshot"), "statement_id": "schedule",
            "principal": "events.amazonaws.com",
            "source_arn": Ref("marathon_snapshot.schedule", "arn")}),
        Resource("marathon_snapshot.api", "apigateway.rest_api", {
            "name": settings.name("restore"),
            "description": f"ngp {settings.env}: restore a Marathon snapshot",
            "routes": [{"path": "restore", "method": "POST", "authorization": "AWS_IAM",
                        "function_arn": Ref("marathon_snapshot.start", "arn")}]}),
        Resource("marathon_snapshot.api_stage", "apigateway.stage", {
            "rest_api_id": Ref("marathon_snapshot.api"), "name": "v1"}),
        Resource("marathon_snapshot.api_permission", "lambda.permission", {
            "function": Ref("marathon_snapshot.start"), "statement_id": "restore-api",
            "principal": "apigateway.amazonaws.com",
            "source_arn": Format("{api}/*/POST/restore",
                                 api=Ref("marathon_snapshot.api", "execution_arn"))}),
    ]
    return Built(res, {
        "snapshot_bucket": Ref("marathon_snapshot.bucket", "name"),
        "restore_url": Format("{stage}/restore", stage=Ref("marathon_snapshot.api_stage", "url")),
    })
