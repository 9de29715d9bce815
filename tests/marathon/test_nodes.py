"""The local Marathon places tasks on a model of the cluster's agents: what cannot be placed
never finishes deploying, as on DC/OS (Marathon's TaskReplaceActor; its docs' Rolling
Restarts)."""

from __future__ import annotations

import time

import pytest

from ngp.errors import NgpError
from ngp.marathon.client import MarathonError
from ngp.sandbox.marathon import PUBLIC, Node, Task, cluster, parse_nodes, replace

# One task on every agent (private and public), as Sysdig, Filebeat and the ECR refresher run.
AGENT = {"id": "/platform/agent", "cmd": "sleep 1000", "instances": 3, "cpus": 0.1, "mem": 32,
         "constraints": [["hostname", "UNIQUE"]], "acceptedResourceRoles": ["*", PUBLIC]}
IN_PLACE = {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}


def hosts(app):
    return sorted(t["host"] for t in app["tasks"])


def still_deploying(marathon, app_id, seconds):
    time.sleep(seconds)
    return [d for d in marathon.deployments() if app_id in d["affectedApps"]]


def test_a_per_node_app_with_the_default_strategy_deadlocks_on_a_change(marathon,
                                                                        local_marathon):
    first = marathon.apply(AGENT, deadline=5)
    t0 = time.monotonic()
    with pytest.raises(MarathonError) as exc:
        marathon.apply({**AGENT, "env": {"LEVEL": "debug"}}, deadline=1.0)
    assert time.monotonic() - t0 < 4, "the client's wait is bounded"
    assert "did not finish in time" in exc.value.summary
    assert exc.value.where == "marathon app /platform/agent"
    # Marathon must start a new task before it kills an old one; no agent can take it.
    assert still_deploying(marathon, "/platform/agent", 10 * local_marathon.deploy_seconds)
    app = marathon.get_app("/platform/agent")
    assert app["tasksRunning"] == 3 and app["env"] == {"LEVEL": "debug"}
    assert {t["version"] for t in app["tasks"]} == {first["version"]}, "the old tasks hold on"
    assert hosts(app) == sorted(n.hostname for n in cluster(2, 1))  # one on every agent
    # A change that is not forced waits for it, and times out again.
    with pytest.raises(MarathonError, match="did not finish in time"):
        marathon.apply({**AGENT, "env": {"LEVEL": "info"}}, deadline=0.5)


def test_a_per_node_app_replaced_in_place_updates(marathon, local_marathon):
    first = marathon.apply({**AGENT, "upgradeStrategy": IN_PLACE}, deadline=5)
    changed = marathon.apply({**AGENT, "upgradeStrategy": IN_PLACE,
                              "env": {"LEVEL": "debug"}}, deadline=5)
    assert changed["tasksRunning"] == 3 and hosts(changed) == hosts(first)
    assert {t["version"] for t in changed["tasks"]} == {changed["version"]} != {
        first["version"]}
    assert not still_deploying(marathon, "/platform/agent", 0)


def test_forcing_the_fixed_definition_ends_a_deadlock(marathon, local_marathon):
    marathon.apply(AGENT, deadline=5)
    with pytest.raises(MarathonError):
        marathon.apply({**AGENT, "env": {"LEVEL": "debug"}}, deadline=0.5)
    fixed = marathon.apply({**AGENT, "upgradeStrategy": IN_PLACE, "env": {"LEVEL": "debug"}},
                           force=True, deadline=5)
    assert fixed["tasksRunning"] == 3 and fixed["deployments"] == []


@pytest.mark.parametrize("change", [
    {"instances": 4},  # more agents than the cluster has
    {"acceptedResourceRoles": [PUBLIC]},  # one public agent for three tasks
    {"acceptedResourceRoles": None},  # the default: unreserved ("*"), the private agents
], ids=["more-instances-than-nodes", "public-only", "default-roles"])
def test_more_unique_instances_than_matching_nodes_never_finish(marathon, local_marathon,
                                                                change):
    app = {k: v for k, v in {**AGENT, **change}.items() if v is not None}
    with pytest.raises(MarathonError, match="did not finish in time"):
        marathon.apply(app, deadline=0.5)
    assert still_deploying(marathon, "/platform/agent", 5 * local_marathon.deploy_seconds)
    live = marathon.get_app("/platform/agent")
    assert live["tasksRunning"] < app["instances"]
    roles = app.get("acceptedResourceRoles", ["*"])
    allowed = {n.hostname for n in local_marathon.nodes if n.role in roles}
    assert set(hosts(live)) <= allowed and len(set(hosts(live))) == len(hosts(live))


def test_apps_without_constraints_share_nodes_and_scale_freely(marathon, local_marathon):
    local_marathon.nodes = cluster(1, 0)
    app = marathon.apply({"id": "/platform/web", "cmd": "sleep 1", "instances": 5,
                          "cpus": 0.1, "mem": 32}, deadline=5)
    assert hosts(app) == ["10.0.1.1"] * 5
    changed = marathon.apply({"id": "/platform/web", "cmd": "sleep 2", "instances": 2,
                              "cpus": 0.1, "mem": 32}, deadline=5)
    assert changed["tasksRunning"] == 2


def test_cluster_constraints_pin_the_tasks(marathon, local_marathon):
    app = marathon.apply({"id": "/platform/pinned", "cmd": "sleep 1", "instances": 2,
                          "constraints": [["hostname", "CLUSTER", "10.0.1.2"]]}, deadline=5)
    assert hosts(app) == ["10.0.1.2", "10.0.1.2"]
    with pytest.raises(MarathonError, match="did not finish in time"):
        marathon.apply({"id": "/platform/nowhere", "cmd": "sleep 1",
                        "constraints": [["hostname", "CLUSTER", "10.9.9.9"]]}, deadline=0.5)


NODES = cluster(3, 0)


def running(version, count=3):
    return [Task(f"t{i}", f"10.0.1.{i + 1}", version) for i in range(count)]


@pytest.mark.parametrize(("strategy", "nodes", "finishes", "kept_at_once"), [
    ((1, 1), NODES, False, 3),  # the default: a new task first, and no agent is free
    ((1, 0), NODES, False, 3),  # Marathon allows one task over capacity: still no agent
    ((0, 0), NODES, True, 0),  # all old tasks go first
    ((0.5, 0), NODES, True, 2),  # ceil(1.5) = 2 kept, one replaced at a time
    ((0.7, 0), NODES, False, 3),  # ceil(2.1) = 3 kept: none may go
    ((1, 1), (*NODES, Node("10.0.1.9")), True, 3),  # one free agent lets it roll
], ids=["default", "1-0", "0-0", "half-0", "0.7-0", "default-with-a-free-node"])
def test_a_restart_follows_the_upgrade_strategy(strategy, nodes, finishes, kept_at_once):
    app = {**AGENT, "upgradeStrategy": {"minimumHealthCapacity": strategy[0],
                                        "maximumOverCapacity": strategy[1]}}
    at_once, end, done = replace(app, nodes, running("v1"), "v2")
    assert done is finishes
    assert len(at_once) == kept_at_once
    if finishes:
        assert len(end) == 3 and {t.version for t in end} == {"v2"}
        assert len({t.host for t in end}) == 3
    else:
        assert {t.version for t in end} >= {"v1"}


def test_node_counts_are_two_counts():
    assert parse_nodes("2,1") == (2, 1) and parse_nodes("3,0") == (3, 0)
    for bad in ("2", "a,b", "-1,2", "0,0", "1,2,3"):
        with pytest.raises(NgpError, match="--marathon-nodes"):
            parse_nodes(bad)
