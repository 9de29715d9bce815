"""AWS's hiccups on purpose, for the fault-injection suite: `ngp sandbox start --faults
"throttle=0.1,consistency,marathon-fail=/sandbox/platform/jenkins:503"`.

- throttle=P: that share of AWS requests answers a throttling error (RequestLimitExceeded
  on EC2, Throttling on the other query APIs, ThrottlingException on JSON APIs), as AWS does
  under load;
- consistency: after EC2 creates an object, the first request that names it within a few
  seconds answers its NotFound error, as EC2's eventual consistency does;
- marathon-fail=APP:STATUS: every write to that Marathon app answers STATUS.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from ngp.errors import NgpError
from ngp.sandbox.model import request_body

# EC2 id prefixes and the NotFound code AWS gives while a new one is not visible yet.
NOT_FOUND = {"vpc": "InvalidVpcID.NotFound", "subnet": "InvalidSubnetID.NotFound",
             "sg": "InvalidGroup.NotFound", "igw": "InvalidInternetGatewayID.NotFound",
             "rtb": "InvalidRouteTableID.NotFound", "eipalloc": "InvalidAllocationID.NotFound",
             "nat": "NatGatewayNotFound", "i": "InvalidInstanceID.NotFound"}
VISIBLE_AFTER = 5.0  # seconds a new object may stay unseen
NEW_ID = re.compile(rb"<(?:vpcId|subnetId|groupId|internetGatewayId|routeTableId|"
                    rb"allocationId|natGatewayId|instanceId)>((?:vpc|subnet|sg|igw|rtb|"
                    rb"eipalloc|nat|i)-[0-9a-f]+)<")


@dataclass
class FaultPlan:
    throttle: float = 0.0
    consistency: bool = False
    marathon_fail: list[tuple[str, int]] = field(default_factory=list)


def parse(spec: str) -> FaultPlan:
    plan = FaultPlan()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        try:
            if name == "throttle":
                plan.throttle = float(value)
                if not 0 <= plan.throttle < 1:
                    raise ValueError
            elif name == "consistency" and not value:
                plan.consistency = True
            elif name == "marathon-fail":
                app, _, status = value.rpartition(":")
                plan.marathon_fail.append(("/" + app.strip("/"), int(status)))
            else:
                raise ValueError
        except ValueError:
            raise NgpError(f"unknown fault {part!r}",
                           hint="Use throttle=0.1, consistency, marathon-fail=/app:503."
                           ) from None
    return plan


INJECTED_PATH = "/ngp-sandbox/faults"  # GET: {"throttled": n, "not_yet_visible": n}


class AwsFaults:
    """WSGI middleware in front of moto: throttles a share of requests, and hides new EC2
    objects from the first request that names them."""

    def __init__(self, app: Any, plan: FaultPlan, seed: int | None = None) -> None:
        self.app, self.plan = app, plan
        self.random = random.Random(seed)
        self.fresh: dict[str, float] = {}  # new id -> until when it is not visible
        self.lock = threading.Lock()
        self.injected = {"throttled": 0, "not_yet_visible": 0}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == INJECTED_PATH:  # what was injected, for the tests
            with self.lock:
                report = json.dumps(self.injected).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(report)))])
            return [report]
        body = request_body(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        form = parse_qs(body.decode(errors="replace")) if b"Action=" in body else {}
        action = (form.get("Action") or [""])[0]
        is_ec2 = "Version" in form and form.get("Version", [""])[0].startswith("2016")
        if action == "GetCallerIdentity":  # the account guard: keep it plain
            return self.app(environ, start_response)
        with self.lock:
            throttle = (bool(form) or bool(target)) and self.random.random() < self.plan.throttle
            now = time.monotonic()
            hidden = next((i for i, until in self.fresh.items()
                           if until > now and i.encode() in body), None) if is_ec2 else None
            if throttle:
                self.injected["throttled"] += 1
            elif hidden:
                del self.fresh[hidden]
                self.injected["not_yet_visible"] += 1
        if throttle:
            return self._error(start_response, target, is_ec2, "RequestLimitExceeded"
                               if is_ec2 else "Throttling", "Rate exceeded")
        if hidden:
            code = NOT_FOUND[hidden.split("-")[0]]
            return self._error(start_response, target, True, code,
                               f"The ID '{hidden}' does not exist")
        if not (self.plan.consistency and is_ec2 and action.startswith(("Create", "Allocate",
                                                                          "RunInstances"))):
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info)

        answer = b"".join(self.app(environ, start))
        made = NEW_ID.search(answer)  # the new object's id comes first in the answer
        if captured.get("status", "").startswith("200") and made:
            with self.lock:
                self.fresh[made.group(1).decode()] = time.monotonic() + VISIBLE_AFTER
        return [answer]

    @staticmethod
    def _error(start_response: Any, target: str, is_ec2: bool, code: str,
               message: str) -> list[bytes]:
        if target:  # a JSON API
            body = json.dumps({"__type": "ThrottlingException", "message": message}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
            return [body]
        if is_ec2:
            body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                    "</Error></Errors><RequestID>ngp-fault</RequestID></Response>").encode()
        else:
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>"
                    f"{message}</Message></Error><RequestId>ngp-fault</RequestId>"
                    "</ErrorResponse>").encode()
        start_response("400 Bad Request", [("Content-Type", "text/xml")])
        return [body]
