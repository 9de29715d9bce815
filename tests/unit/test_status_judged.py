"""`ngp status` judges what it reads against what the spec wants: a group AWS has at 0 of 0
while its spec wants 2, a balancer the env puts instances behind with none there, and an app
without health checks (judged by its tasks running, and saying so)."""

from __future__ import annotations

import pytest

from ngp.engine.outputs import plainly_healthy
from ngp.resources import get_kind
from ngp.resources.base import Verdict, Wanted


class NoInstances:
    """The ELB client's answer for a balancer with nothing registered; no install reports."""

    def client(self, service):
        return self

    def describe_instance_health(self, LoadBalancerName):
        return {"InstanceStates": []}

    def get_paginator(self, name):
        return self

    def paginate(self, **_):
        return [{"Reservations": []}]


class Ctx:
    aws = NoInstances()


GROUP = {"name": "g", "desired_capacity": 2, "load_balancer_names": ["lb-a", "lb-b"]}


@pytest.mark.parametrize(("live", "want", "verdict"), [
    ({"in_service": 2, "desired_capacity": 2}, 2, Verdict(True, "2/2 in service")),
    ({"in_service": 2, "desired_capacity": 3}, 3, Verdict(False, "2/3 in service")),
    ({"in_service": 0, "desired_capacity": 0}, 2,
     Verdict(False, "0/2 in service, desired 0 on AWS")),
    ({"in_service": 0, "desired_capacity": 0}, 0, Verdict(True, "0/0 in service")),
    ({"in_service": 3, "desired_capacity": 3}, 2,
     Verdict(True, "3/2 in service, desired 3 on AWS")),
])
def test_a_group_is_healthy_with_its_specs_desired_capacity_in_service(live, want, verdict):
    wanted = Wanted({**GROUP, "desired_capacity": want}, live)
    assert get_kind("autoscaling.group").health(Ctx(), "g", wanted) == verdict


def test_groups_and_attachments_say_which_balancers_they_put_instances_behind():
    assert get_kind("autoscaling.group").registered(GROUP) == {"lb-a": 2, "lb-b": 2}
    assert get_kind("elb.attachment").registered(
        {"load_balancer": "lb-a", "instances": ["i-1", "i-2", "i-3"]}) == {"lb-a": 3}


def test_a_balancer_with_no_instances_is_healthy_only_if_none_should_be_behind_it():
    kind = get_kind("elb.load_balancer")
    assert kind.health(Ctx(), "lb", Wanted({}, {}, members=0)) == Verdict(True, "no instances")
    assert kind.health(Ctx(), "lb", Wanted({}, {}, members=3)) == Verdict(
        False, "0/3 in service, no instances registered")


@pytest.mark.parametrize(("live", "verdict"), [
    ({"tasks_running": 2, "tasks_healthy": 0}, Verdict(True, "running 2/2 (no health check)")),
    ({"tasks_running": 1, "tasks_healthy": 0}, Verdict(False, "running 1/2 (no health check)")),
    ({"tasks_running": 2, "tasks_healthy": 2, "healthChecks": [{"protocol": "MESOS_TCP"}]},
     Verdict(True, "running 2/2, 2 healthy")),
    ({"tasks_running": 2, "tasks_healthy": 1, "healthChecks": [{"protocol": "MESOS_TCP"}],
      "deploying": True}, Verdict(False, "running 2/2, 1 healthy, deploying")),
])
def test_an_app_is_judged_by_its_tasks_against_the_instances_its_spec_wants(live, verdict):
    wanted = Wanted({"id": "/a", "instances": 2}, live)
    assert get_kind("marathon.app").health(None, "/a", wanted) == verdict


def test_a_read_status_is_plainly_healthy_unless_gone_pending_or_stopped():
    assert plainly_healthy("running") and plainly_healthy("active")
    assert not any(plainly_healthy(s) for s in ("missing", "pending create", "stopped"))
