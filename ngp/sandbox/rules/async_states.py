"""What AWS does in the background and moto does at once: an instance is `pending` before it
runs (and `stopping` before it is stopped), an OpenSearch domain is `Processing` before it has
its endpoint, an instance registered with a classic load balancer is `OutOfService` until its
health checks pass. Each takes a short, fixed time here (the constants below), so every waiter
ngp has is exercised and the tests stay fast. Under `--model` they take no time: the model
(ngp/sandbox/model.py) already puts the whole of a background create's time (an instance's
pending included) into its call, and adding the states on top would count it twice.

The rules change moto's own objects (an instance's state, a domain's processing flag), so
everything moto answers agrees with them: describes, filters, moto's other checks."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from ngp.sandbox.strict import Answer, Call, Refusal, Rule, backend, ends_at, rule
from ngp.sandbox.xml import rewrite_members

PENDING_SECONDS = 1.0  # AWS: seconds to a minute from RunInstances or StartInstances
STOPPING_SECONDS = 0.5  # AWS: seconds to minutes from StopInstances
PROCESSING_SECONDS = 1.0  # AWS: 15-30 minutes to create a domain, as long to change it
OUT_OF_SERVICE_SECONDS = 1.0  # AWS: HealthyThreshold x Interval (ngp's masters: 2 x 30 s)

STATE_CODES = {"pending": 0, "running": 16, "stopping": 64, "stopped": 80}
Key = tuple[str, str, str]  # account, region, id


def _instances(call: Call) -> dict[str, Any]:
    """moto's instances of the call's account and region, by id."""
    ec2 = backend("ec2", call)
    return {i.id: i for r in ec2.reservations.values() for i in r.instances}


def _set_state(instance: Any, name: str) -> None:
    instance._state.name, instance._state.code = name, STATE_CODES[name]


@rule
class InstancePending(Rule):
    name = "ec2.instance-pending"
    summary = (f"a new or started instance is `pending` ({PENDING_SECONDS:g} s here) before "
               f"`running`, a stopped one `stopping` ({STOPPING_SECONDS:g} s) before "
               "`stopped`; StartInstances while stopping and StopInstances before it ever "
               "ran answer IncorrectInstanceState")
    source = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-instance-lifecycle.html"

    def reset(self) -> None:
        self.known: set[Key] = set()  # every instance the rule has seen
        self.moving: dict[Key, tuple[float, str]] = {}  # instance -> (until, then state)
        self.never_ran: set[Key] = set()

    def before(self, call: Call) -> None:
        if call.service not in ("ec2", "autoscaling", "elasticloadbalancing"):
            return
        self._settle(call)
        if call.service == "ec2" and call.operation in ("StartInstances", "StopInstances"):
            instances = _instances(call)
            for id in call.listed("InstanceId"):
                instance = instances.get(id)
                if instance is None:
                    continue
                state = instance._state.name
                if call.operation == "StartInstances" and state == "stopping":
                    # Quoted from AWS in github.com/burstable-ai/burst/issues/42.
                    raise Refusal("IncorrectInstanceState", f"The instance '{id}' is not in "
                                  "a state from which it can be started.")
                if call.operation == "StopInstances" and state == "pending" and \
                        (call.account, call.region, id) in self.never_ran:
                    # Quoted from AWS in github.com/cloud-custodian/cloud-custodian/pull/6014.
                    raise Refusal("IncorrectInstanceState", f"Instance '{id}' cannot be "
                                  "stopped as it has never reached the 'running' state.")

    def _settle(self, call: Call) -> None:
        now = time.monotonic()
        with self.lock:
            due = [(key, then) for key, (until, then) in self.moving.items()
                   if until <= now and key[:2] == (call.account, call.region)]
            for key, _ in due:
                del self.moving[key]
                self.never_ran.discard(key)
        if not due:
            return
        instances = _instances(call)
        for (_, _, id), then in due:
            instance = instances.get(id)
            # Only an instance still in the state the rule gave it moves on (a terminated
            # one stays terminated).
            if instance is not None and instance._state.name in ("pending", "stopping"):
                _set_state(instance, then)

    def after(self, call: Call, answer: Answer) -> None:
        if answer.status != 200:
            return
        launches = (call.service == "ec2" and call.operation == "RunInstances") or \
            call.service == "autoscaling"  # a group launches its instances in moto's call
        if call.service == "ec2" and call.operation in ("StartInstances", "StopInstances"):
            self._move(call, call.listed("InstanceId"), call.operation == "StartInstances")
        elif launches:
            self._launched(call)

    def _launched(self, call: Call) -> None:
        until = ends_at(PENDING_SECONDS)
        for id, instance in _instances(call).items():
            key = (call.account, call.region, id)
            with self.lock:
                if key in self.known:
                    continue
                self.known.add(key)
                if instance._state.name != "running":
                    continue
                self.moving[key] = (until, "running")
                self.never_ran.add(key)
            _set_state(instance, "pending")

    def _move(self, call: Call, ids: list[str], started: bool) -> None:
        instances = _instances(call)
        until = ends_at(PENDING_SECONDS if started else STOPPING_SECONDS)
        for id in ids:
            instance = instances.get(id)
            if instance is None or instance._state.name != ("running" if started else "stopped"):
                continue
            with self.lock:
                self.moving[(call.account, call.region, id)] = (
                    until, "running" if started else "stopped")
            _set_state(instance, "pending" if started else "stopping")


Held = tuple[str | None, dict[str, str] | None]  # a domain's Endpoint and Endpoints
DOMAIN_PATH = re.compile(r"^/2021-01-01/opensearch/domain/([^/]+)(/config)?$")
CREATE_PATH = "/2021-01-01/opensearch/domain"
UPGRADE_PATH = "/2021-01-01/opensearch/upgradeDomain"
DESCRIBE_MANY_PATH = "/2021-01-01/opensearch/domain-info"


@rule
class DomainProcessing(Rule):
    name = "opensearch.processing"
    summary = (f"a new domain is Processing with no Endpoint, nor a VPC domain's Endpoints "
               f"({PROCESSING_SECONDS:g} s here), before it is active; UpdateDomainConfig and "
               "UpgradeDomain make it Processing again")
    source = ("https://docs.aws.amazon.com/opensearch-service/latest/APIReference/"
              "API_DomainStatus.html")

    def reset(self) -> None:
        # domain -> (until, its (Endpoint, Endpoints) held back while it is created, or None):
        # a public domain has the one, a VPC domain the other ({"vpc": host}).
        self.busy: dict[Key, tuple[float, Held | None]] = {}

    def before(self, call: Call) -> None:
        if call.service != "es":
            return
        now = time.monotonic()
        with self.lock:
            due = {key: endpoint for key, (until, endpoint) in self.busy.items()
                   if until <= now and key[:2] == (call.account, call.region)}
            for key in due:
                del self.busy[key]
        for (_, _, name), endpoint in due.items():
            domain = self._domain(call, name)
            if domain is not None and not domain.deleted:
                domain.processing = False
                if endpoint is not None:
                    domain.endpoint, domain.endpoints = endpoint

    def _domain(self, call: Call, name: str) -> Any:
        return backend("opensearch", call).domains.get(name)

    def after(self, call: Call, answer: Answer) -> None:
        if call.service != "es" or answer.status != 200:
            return
        if call.method == "POST" and call.path.rstrip("/") == CREATE_PATH:
            self._processing(call, str(call.params.get("DomainName", "")), created=True,
                             answer=answer)
        elif call.method == "POST" and call.path == UPGRADE_PATH:
            self._processing(call, str(call.params.get("DomainName", "")), created=False)
        elif (found := DOMAIN_PATH.match(call.path)) and found.group(2) and \
                call.method == "POST":
            self._processing(call, found.group(1), created=False)
        elif (call.method == "GET" and DOMAIN_PATH.match(call.path)) or \
                call.path == DESCRIBE_MANY_PATH:
            self._mark_created(call, answer)

    def _processing(self, call: Call, name: str, *, created: bool,
                    answer: Answer | None = None) -> None:
        domain = self._domain(call, name)
        if domain is None:
            return
        key = (call.account, call.region, name)
        with self.lock:
            held = self.busy.get(key, (0.0, None))[1]
            if created:
                held = (domain.endpoint, domain.endpoints)
                domain.endpoint = domain.endpoints = None
            self.busy[key] = (ends_at(PROCESSING_SECONDS), held)
        domain.processing = True
        if answer is not None:
            self._mark_created(call, answer)

    def _mark_created(self, call: Call, answer: Answer) -> None:
        """While a domain is being created, AWS says Created false and gives no Endpoint (nor
        Endpoints) (moto's own answer says Created true whatever happens)."""
        try:
            body = json.loads(answer.body)
        except ValueError:
            return
        statuses = [body["DomainStatus"]] if "DomainStatus" in body else \
            body.get("DomainStatusList", [])
        changed = False
        for status in statuses:
            key = (call.account, call.region, status.get("DomainName", ""))
            with self.lock:
                creating = key in self.busy and self.busy[key][1] is not None
            if creating:
                status.update(Created=False, Processing=True)
                status.pop("Endpoint", None)
                status.pop("Endpoints", None)
                changed = True
        if changed:
            answer.body = json.dumps(body).encode()


HEALTHY_THRESHOLD_NOT_PASSED = ("Instance has not passed the configured HealthyThreshold "
                                "number of health checks consecutively.")


@rule
class OutOfServiceAtFirst(Rule):
    name = "elb.out-of-service-at-first"
    summary = (f"an instance registered with a classic load balancer is OutOfService "
               f"({OUT_OF_SERVICE_SECONDS:g} s here) until it passes HealthyThreshold health "
               "checks: ReasonCode ELB, \"" + HEALTHY_THRESHOLD_NOT_PASSED + "\"")
    source = ("https://docs.aws.amazon.com/elasticloadbalancing/2012-06-01/APIReference/"
              "API_InstanceState.html")

    def reset(self) -> None:
        # (account, region, balancer, instance) -> when it has passed its health checks
        self.healthy_at: dict[tuple[str, str, str, str], float] = {}

    def after(self, call: Call, answer: Answer) -> None:
        if answer.status != 200:
            return
        if call.service == "elasticloadbalancing":
            name = str(call.param("LoadBalancerName", ""))
            if call.operation == "RegisterInstancesWithLoadBalancer":
                ids = [str(call.param(k)) for k in call.params
                       if k.startswith("Instances.member.") and k.endswith(".InstanceId")]
                self._registered(call, name, ids)
            elif call.operation == "DescribeInstanceHealth":
                self._answer(call, name, answer)
        elif call.service == "autoscaling":  # a group registers its instances in moto's call
            for balancer in backend("elb", call).load_balancers.values():
                self._registered(call, balancer.name, list(balancer.instance_autoscaling_ids),
                                 only_new=True)

    def _registered(self, call: Call, name: str, ids: list[str],
                    only_new: bool = False) -> None:
        at = ends_at(OUT_OF_SERVICE_SECONDS)
        with self.lock:
            for id in ids:
                key = (call.account, call.region, name, id)
                if not (only_new and key in self.healthy_at):
                    self.healthy_at[key] = at

    def _answer(self, call: Call, name: str, answer: Answer) -> None:
        now = time.monotonic()
        instances = _instances(call)

        def change(member: dict[str, str]) -> dict[str, str]:
            id, state = member.get("InstanceId", ""), member.get("State")
            with self.lock:
                at = self.healthy_at.get((call.account, call.region, name, id), 0.0)
            if state == "InService" and now < at:
                return {**member, "State": "OutOfService", "ReasonCode": "ELB",
                        "Description": HEALTHY_THRESHOLD_NOT_PASSED}
            if state == "OutOfService" and id in instances:
                return {**member, "ReasonCode": "Instance",
                        "Description": f"Instance is in {instances[id]._state.name} state."}
            if state == "InService":
                return {**member, "ReasonCode": "N/A", "Description": "N/A"}
            return member

        answer.body = rewrite_members(answer.body, "InstanceStates", change)
