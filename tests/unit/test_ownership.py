"""The rules of ngp.engine.ownership, as data: what a state records (address -> id), the tags
the reads gave (address -> tags), and the refusal (or None)."""

from __future__ import annotations

import pytest

from ngp.engine.ownership import refusal, take_tags
from ngp.resources.base import OWNER_TAGS

WHERE = "state/dev.json"


def tags(env: str, address: str) -> dict[str, str]:
    return {"ngp:env": env, "ngp:address": address, "ngp:lineage": "l-1"}


IDS = {"network.vpc": "vpc-1", "manager.instance": "i-2", "openvpn.instance": "i-3"}
OWN = {a: tags("dev", a) for a in IDS}

CASES = {
    "every object is the state's own": (OWN, None),
    "an object untagged by hand is taken as the state says": (
        {**OWN, "manager.instance": {}}, None),
    "an object whose read gives no tags is not judged": (
        {k: v for k, v in OWN.items() if k != "manager.instance"}, None),
    "another address's object": (
        {**OWN, "manager.instance": tags("dev", "openvpn.instance")},
        "manager.instance: the state's id i-2 is another object: its tags "
        "ngp:address=openvpn.instance, ngp:env=dev, ngp:lineage=l-1 name address "
        "openvpn.instance. Nothing was changed."),
    "an object tagged for an address the state no longer records (moved)": (
        {**OWN, "network.vpc": tags("dev", "network.old_vpc")}, None),
    "one object of another env, the rest ours": (
        {**OWN, "network.vpc": tags("other", "network.vpc")},
        "network.vpc: the state's id vpc-1 is another object: its tags ngp:address="
        "network.vpc, ngp:env=other, ngp:lineage=l-1 name env 'other', not env 'dev'."),
    "another env's state": (
        {a: tags("other", a) for a in IDS},
        "state/dev.json: its objects are tagged for env 'other', not env 'dev' (3 of 3 read; "
        "e.g. manager.instance is i-2, tags ngp:address=manager.instance, ngp:env=other, "
        "ngp:lineage=l-1). It is another env's state: nothing was changed."),
    "a Marathon app's labels": (
        {"jenkins.app": {"NGP_ENV": "dev", "NGP_ADDRESS": "sysdig.app"}},
        "jenkins.app: the state's id /dev/jenkins is another object: its labels "
        "NGP_ADDRESS=sysdig.app, NGP_ENV=dev name address sysdig.app."),
    "a Marathon app of another env": (
        {"jenkins.app": {"NGP_ENV": "try2", "NGP_ADDRESS": "jenkins.app"}},
        "state/dev.json: its objects are tagged for env 'try2', not env 'dev' (1 of 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusal(case):
    read, expected = CASES[case]
    ids = {**IDS, "jenkins.app": "/dev/jenkins", "sysdig.app": "/dev/sysdig"}
    got = refusal("dev", WHERE, ids, read)
    if expected is None:
        assert got is None
        return
    assert got is not None
    line = got.line()
    assert "\n" not in line
    assert line.startswith(expected), line


def test_the_tags_are_taken_out_of_what_the_planner_sees():
    observed = {"a": {"id": "x", OWNER_TAGS: {"ngp:env": "dev"}}, "b": None, "c": {"id": "y"}}
    assert take_tags(observed) == {"a": {"ngp:env": "dev"}}
    assert observed == {"a": {"id": "x"}, "b": None, "c": {"id": "y"}}
