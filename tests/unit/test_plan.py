"""Planner cases: desired (graph), recorded (state), observed (live) in; a plan out."""

import pytest

from ngp.errors import NgpError
from ngp.graph import UNKNOWN, Graph, Ref, Resource
from ngp.plan import Action, make_plan
from ngp.state import Recorded, State

VPC_SPEC = {"name": "v", "cidr": "10.0.0.0/16", "dns_support": True, "dns_hostnames": True}
SUBNET_SPEC = {"name": "s", "vpc_id": Ref("n.vpc"), "cidr": "10.0.0.0/20", "az": "us-east-1a",
               "public": True}


def graph(vpc=VPC_SPEC, subnet=SUBNET_SPEC):
    res = [Resource("n.vpc", "ec2.vpc", dict(vpc))]
    if subnet is not None:
        res.append(Resource("n.subnet", "ec2.subnet", dict(subnet)))
    return Graph.of(res)


def recorded(vpc=VPC_SPEC, subnet=True):
    state = State(env="t")
    state.resources["n.vpc"] = Recorded("ec2.vpc", "vpc-1", dict(vpc),
                                        {"id": "vpc-1", "cidr": vpc["cidr"]})
    if subnet:
        state.resources["n.subnet"] = Recorded(
            "ec2.subnet", "subnet-1", {**SUBNET_SPEC, "vpc_id": "vpc-1"},
            {"id": "subnet-1", "az": "us-east-1a", "cidr": "10.0.0.0/20"}, ["n.vpc"])
    return state


def live_vpc(**over):
    return {"id": "vpc-1", "name": "v", "cidr": "10.0.0.0/16", "status": "available", **over}


def live_subnet(**over):
    return {"id": "subnet-1", "name": "s", "vpc_id": "vpc-1", "cidr": "10.0.0.0/20",
            "az": "us-east-1a", "public": True, "status": "available", **over}


def actions(plan):
    return {c.address: c.action for c in plan.changes}


def test_empty_state_creates_everything_dependencies_first():
    plan = make_plan(graph(), State(env="t"), {})
    assert [(c.address, c.action) for c in plan.changes] == [
        ("n.vpc", Action.CREATE), ("n.subnet", Action.CREATE)]
    subnet = plan.changes[1]
    assert dict((f.name, f.new) for f in subnet.fields)["vpc_id"] is UNKNOWN
    assert plan.counts() == {"add": 2, "change": 0, "destroy": 0}


def test_matching_live_objects_make_no_changes():
    plan = make_plan(graph(), recorded(), {"n.vpc": live_vpc(), "n.subnet": live_subnet()})
    assert not plan.has_changes
    assert set(actions(plan).values()) == {Action.NOOP}


def test_fields_the_read_cannot_see_are_taken_as_last_applied():
    # live_vpc() has no dns_* keys: a batched describe does not return them.
    plan = make_plan(graph(), recorded(), {"n.vpc": live_vpc(), "n.subnet": live_subnet()})
    assert actions(plan)["n.vpc"] == Action.NOOP


def test_changed_setting_updates_in_place():
    wanted = graph(vpc={**VPC_SPEC, "dns_hostnames": False})
    plan = make_plan(wanted, recorded(), {"n.vpc": live_vpc(), "n.subnet": live_subnet()})
    vpc = plan.changes[0]
    assert vpc.action == Action.UPDATE
    assert [(f.name, f.old, f.new) for f in vpc.fields] == [("dns_hostnames", True, False)]
    assert actions(plan)["n.subnet"] == Action.NOOP


def test_replace_on_field_forces_replacement_and_cascades_to_dependents():
    wanted = graph(vpc={**VPC_SPEC, "cidr": "10.1.0.0/16"},
                   subnet={**SUBNET_SPEC, "cidr": "10.1.0.0/20"})
    plan = make_plan(wanted, recorded(), {"n.vpc": live_vpc(), "n.subnet": live_subnet()})
    assert actions(plan) == {"n.vpc": Action.REPLACE, "n.subnet": Action.REPLACE}
    cidr = next(f for f in plan.changes[0].fields if f.name == "cidr")
    assert cidr.forces_replacement
    vpc_id = next(f for f in plan.changes[1].fields if f.name == "vpc_id")
    assert vpc_id.new is UNKNOWN and vpc_id.forces_replacement
    assert plan.counts() == {"add": 2, "change": 0, "destroy": 2}


def test_drift_is_planned_back_with_a_reason():
    plan = make_plan(graph(), recorded(),
                     {"n.vpc": live_vpc(), "n.subnet": live_subnet(public=False)})
    subnet = plan.changes[1]
    assert subnet.action == Action.UPDATE
    assert subnet.reason == "changed outside ngp"
    assert [(f.name, f.old, f.new) for f in subnet.fields] == [("public", False, True)]


def test_object_deleted_outside_is_created_again():
    plan = make_plan(graph(), recorded(), {"n.vpc": live_vpc(), "n.subnet": None})
    assert actions(plan)["n.subnet"] == Action.CREATE
    assert plan.changes[1].reason == "deleted outside ngp"


def test_resource_gone_from_config_is_deleted():
    plan = make_plan(graph(subnet=None), recorded(),
                     {"n.vpc": live_vpc(), "n.subnet": live_subnet()})
    assert actions(plan) == {"n.vpc": Action.NOOP, "n.subnet": Action.DELETE}


def test_destroy_deletes_dependents_first():
    plan = make_plan(graph(), recorded(), {}, destroy=True)
    assert [(c.address, c.action) for c in plan.changes] == [
        ("n.subnet", Action.DELETE), ("n.vpc", Action.DELETE)]


def test_target_keeps_what_it_needs_and_nothing_else():
    wanted = Graph.of([*graph().resources.values(),
                       Resource("n.other", "ec2.vpc", dict(VPC_SPEC))])
    plan = make_plan(wanted, State(env="t"), {}, targets=["n.subnet"])
    assert actions(plan) == {"n.vpc": Action.CREATE, "n.subnet": Action.CREATE}


def test_destroy_target_takes_its_dependents_along():
    plan = make_plan(graph(), recorded(), {}, destroy=True, targets=["n.vpc"])
    assert actions(plan) == {"n.subnet": Action.DELETE, "n.vpc": Action.DELETE}
    plan = make_plan(graph(), recorded(), {}, destroy=True, targets=["n.subnet"])
    assert actions(plan) == {"n.subnet": Action.DELETE}


def test_unknown_target_is_an_error():
    with pytest.raises(NgpError, match="matches no resource"):
        make_plan(graph(), State(env="t"), {}, targets=["n.nothing"])


def test_set_like_rules_compare_without_order():
    rule_a = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "1.2.3.4/32"}
    rule_b = {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "1.2.3.4/32"}
    spec = {"name": "g", "description": "d", "vpc_id": "vpc-1", "ingress": [rule_a, rule_b]}
    wanted = Graph.of([Resource("n.sg", "ec2.security_group", spec)])
    state = State(env="t")
    state.resources["n.sg"] = Recorded("ec2.security_group", "sg-1", spec, {"id": "sg-1"})
    live = {"id": "sg-1", "name": "g", "description": "d", "vpc_id": "vpc-1",
            "ingress": [{**rule_b, "description": ""}, {**rule_a, "description": ""}]}
    assert not make_plan(wanted, state, {"n.sg": live}).has_changes


def test_an_unknown_kind_is_one_error_naming_the_kind_and_the_address():
    from ngp.resources import get_kind

    with pytest.raises(NgpError, match="unknown resource kind 'nope.kind'"):
        get_kind("nope.kind")
    wanted = Graph.of([Resource("n.thing", "ec2.vcp", {"cidr": "10.0.0.0/16"})])
    with pytest.raises(NgpError) as exc:
        make_plan(wanted, State(env="t"), {})
    assert exc.value.where == "n.thing"
    assert exc.value.summary == "unknown resource kind 'ec2.vcp' (did you mean 'ec2.vpc'?)"
    state = State(env="t")
    state.resources["n.old"] = Recorded("ec2.gone", "x-1", {}, {"id": "x-1"})
    with pytest.raises(NgpError) as exc:
        make_plan(Graph(), state, {})
    assert exc.value.where == "n.old" and "'ec2.gone'" in exc.value.summary


def test_read_only_object_that_is_missing_is_an_error_naming_it():
    wanted = Graph.of([Resource("n.vpc", "ec2.existing_vpc", {"id": "vpc-0abc1234"})])
    with pytest.raises(NgpError) as exc:
        make_plan(wanted, State(env="t"), {"n.vpc": None})
    assert exc.value.where == "n.vpc" and "vpc-0abc1234" in exc.value.summary


def test_read_only_object_is_read_then_never_deleted():
    wanted = Graph.of([Resource("n.vpc", "ec2.existing_vpc", {"id": "vpc-1"})])
    plan = make_plan(wanted, State(env="t"), {"n.vpc": {"id": "vpc-1", "cidr": "10.0.0.0/16"}})
    assert actions(plan) == {"n.vpc": Action.READ}
    state = State(env="t")
    state.resources["n.vpc"] = Recorded("ec2.existing_vpc", "vpc-1", {"id": "vpc-1"},
                                        {"id": "vpc-1", "cidr": "10.0.0.0/16"})
    plan = make_plan(wanted, state, {}, destroy=True)
    assert actions(plan) == {"n.vpc": Action.FORGET}
    assert not plan.has_changes
