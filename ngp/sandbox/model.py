"""How long AWS takes, modelled on the server side for the benchmark: `ngp sandbox start
--model 200` delays each AWS operation by its typical time (shared/reference/aws-latency.md,
section 5) divided by 200, and makes the local Marathon as slow as a DC/OS cluster. A create
that AWS finishes in the background (a NAT gateway becoming available) takes its whole time
in the call, so ngp cannot see or exploit the model."""

from __future__ import annotations

import io
import re
import time
from typing import Any

# Typical seconds on AWS, by operation (query Action, JSON target, or REST method and path).
OPERATIONS: dict[str, float] = {
    "CreateVpc": 10, "CreateSubnet": 1, "CreateInternetGateway": 1, "AllocateAddress": 1,
    "CreateRouteTable": 1, "AssociateRouteTable": 1, "CreateRoute": 1,
    "CreateSecurityGroup": 2, "DeleteSecurityGroup": 1,
    "CreateNatGateway": 110, "DeleteNatGateway": 60,
    "RunInstances": 16.5, "TerminateInstances": 30,
    "CreateLoadBalancer": 5, "DeleteLoadBalancer": 5,
    "CreateAutoScalingGroup": 90, "DeleteAutoScalingGroup": 120,
    "CreateRole": 1.5, "CreateInstanceProfile": 1.5, "CreatePolicy": 1.5,
    "CreateSecret": 1, "DeleteSecret": 0.5,
    "CreateRepository": 0.5, "DeleteRepository": 0.5,
    "PutRule": 1, "PutTargets": 1,
    "CreateBucket": 2, "DeleteBucket": 1,
    "ChangeResourceRecordSets": 35,
    "CreateFunction": 75, "DeleteFunction": 1,
    "CreateDomain": 1200, "DeleteDomain": 900,
    "CreateRestApi": 0.5, "CreateDeployment": 1, "DeleteRestApi": 1,
}
READ_SECONDS = 0.05  # a describe, list or get
CALL_SECONDS = 0.2  # any other create, put, tag or attach
DCOS_READY_SECONDS = 600  # masters and agents installed, until Admin Router answers
DEPLOY_SECONDS = 60  # a Marathon deployment until its tasks are healthy

# REST APIs: (method, path) -> operation.
REST = [
    ("POST", re.compile(r"^/2015-03-31/functions/?$"), "CreateFunction"),
    ("DELETE", re.compile(r"^/2015-03-31/functions/[^/]+$"), "DeleteFunction"),
    ("PUT", re.compile(r"^/2015-03-31/functions/[^/]+/configuration/?$"),
     "UpdateFunctionConfiguration"),
    ("POST", re.compile(r"^/2021-01-01/opensearch/domain$"), "CreateDomain"),
    ("DELETE", re.compile(r"^/2021-01-01/opensearch/domain/[^/]+$"), "DeleteDomain"),
    ("POST", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("POST", re.compile(r"^/restapis/?$"), "CreateRestApi"),
    ("POST", re.compile(r"^/restapis/[^/]+/deployments/?$"), "CreateDeployment"),
    ("DELETE", re.compile(r"^/restapis/[^/]+$"), "DeleteRestApi"),
    ("PUT", re.compile(r"^/[a-z0-9][a-z0-9.-]+/?$"), "CreateBucket"),
    ("DELETE", re.compile(r"^/[a-z0-9][a-z0-9.-]+/?$"), "DeleteBucket"),
]


def request_body(environ: dict[str, Any]) -> bytes:
    """A WSGI request's body, read once and put back for the app behind."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def operation(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation a request is, as far as the model needs to know."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    action = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body)
    if action:
        return action.group(1).decode()
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    for verb, pattern, name in REST:
        if method == verb and pattern.match(path) and (name not in ("CreateBucket",
                                                                    "DeleteBucket") or
                                                       not query):
            return name
    return "Read" if method in ("GET", "HEAD") else "Call"


def seconds(op: str) -> float:
    """Typical AWS seconds of an operation (unscaled)."""
    if op in OPERATIONS:
        return OPERATIONS[op]
    if op == "Read" or op.startswith(("Describe", "List", "Get")):
        return READ_SECONDS
    return CALL_SECONDS


class AwsModel:
    """WSGI middleware: every AWS request waits its modelled time / scale before moto."""

    def __init__(self, app: Any, scale: float) -> None:
        self.app, self.scale = app, scale

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        op = operation(environ, request_body(environ))
        if op != "GetCallerIdentity":
            time.sleep(seconds(op) / self.scale)
        return self.app(environ, start_response)
