"""The Marathon endpoint is an input of the apps' steps (the ready gate's outputs), served by
the run's clients, one per URL: a cluster at a new address gets its apps in the same run, and
no client is ever re-pointed."""

from __future__ import annotations

import dataclasses
import threading
from types import SimpleNamespace

import httpx
import pytest

from ngp import engine, snapshots
from ngp.engine import Desired
from ngp.errors import NgpError
from ngp.graph import Graph, Resource
from ngp.marathon.app import LABEL_ENV
from ngp.marathon.endpoints import (
    INSIDE_VPC,
    Marathons,
    endpoint_of,
    reachable,
    recorded_endpoint,
)
from ngp.plan import Action
from ngp.state import LocalStore
from tests.fake_kinds import Quiet

WEB = {"id": "/t/platform/web", "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32}


def serve(app):
    """An app on a loopback port; returns its URL and how to stop it."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        thread.join(timeout=10)

    return f"http://127.0.0.1:{server.server_address[1]}", stop


@pytest.fixture
def clusters():
    """Two DC/OS clusters: Admin Router's metadata and Marathon under /service/marathon."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.wrappers import Request, Response

    from ngp.sandbox.marathon import LocalMarathon

    @Request.application
    def router(request):
        if request.path == "/dcos-metadata/dcos-version.json":
            return Response('{"version": "2.2.0"}', mimetype="application/json")
        return Response("<html>404</html>", status=404)

    found, stops = [], []
    for _ in range(2):
        marathon = LocalMarathon(deploy_seconds=0.05)
        url, stop = serve(DispatcherMiddleware(router, {"/service/marathon": marathon}))
        found.append(url)
        stops.append(stop)
    yield found
    for stop in stops:
        stop()




def labels_at(dcos_url, app_id):
    """The app's labels in that cluster's Marathon, or None if it has no such app."""
    response = httpx.get(f"{dcos_url}/service/marathon/v2/apps{app_id}", timeout=10)
    return response.json()["app"]["labels"] if response.status_code == 200 else None


def run_of(tmp_path, aws, dcos_url, marathons):
    """A run of env t whose graph is a ready gate at dcos_url and one app pushed where the
    gate says, its state the one the last run saved."""
    graph = Graph.of([
        Resource("dcos.ready", "marathon.ready", {"dcos_url": dcos_url, "timeout": 30}),
        Resource("web.app", "marathon.app", {**WEB, "marathon": endpoint_of("dcos.ready")})])
    store = LocalStore(tmp_path, "t")
    core = SimpleNamespace(parallelism=4, service_parallelism={}, scheduling="longest_chain")
    return engine.Run(SimpleNamespace(env="t", core=core), Desired(graph, {}), aws, store,
                      store.load(), Quiet(), marathons)


def up(run):
    plan = engine.plan(run)
    engine.check(engine.apply(run, plan))
    return {c.address: c for c in plan.changes}


def test_a_cluster_at_a_new_address_gets_the_apps_in_the_same_run(clusters, aws, tmp_path):
    """The masters' balancer is replaced: the cluster has a new URL. The gate is made again,
    and the app's step goes to the Marathon the new gate gives, in the same run, through a
    client of its own. (Before, the apps' plan did not move: a client pointed at the recorded
    cluster when the run started said the app was there, and the new cluster never got it.)"""
    a, b = clusters
    first = Marathons(poll=0.02)
    try:
        changes = up(run_of(tmp_path, aws, a, first))
        assert changes["web.app"].action == Action.CREATE
        assert first.urls() == [f"{a}/service/marathon"]  # the gate's, made once it answered
    finally:
        first.close()
    assert labels_at(a, WEB["id"])[LABEL_ENV] == "t" and labels_at(b, WEB["id"]) is None

    moved = Marathons(poll=0.02)
    try:
        run = run_of(tmp_path, aws, b, moved)
        changes = up(run)
        assert changes["dcos.ready"].action == Action.REPLACE
        app = changes["web.app"]
        assert app.action == Action.UPDATE  # the endpoint moves; it never replaces an app
        assert [f.name for f in app.fields] == ["marathon"]
        assert labels_at(b, WEB["id"])[LABEL_ENV] == "t"
        assert run.state.resources["web.app"].spec["marathon"]["marathon_url"] == \
            f"{b}/service/marathon"
        # The recorded app read at A, then the new gate's B: two clients, none re-pointed.
        assert moved.urls() == sorted([f"{a}/service/marathon", f"{b}/service/marathon"])
    finally:
        moved.close()

    again = Marathons(poll=0.02)
    try:
        run = run_of(tmp_path, aws, b, again)
        assert not engine.plan(run).has_changes  # the endpoint shows only when it moves
        assert again.urls() == [f"{b}/service/marathon"]  # the recorded apps, read at B
    finally:
        again.close()


def test_a_state_from_before_apps_had_an_endpoint_plans_no_change(clusters, aws, tmp_path):
    """An app recorded without an endpoint is read where the recorded gate says, and that is
    where the plan finds it: no update of every app after an upgrade."""
    a, _ = clusters
    marathons = Marathons(poll=0.02)
    try:
        up(run_of(tmp_path, aws, a, marathons))
        store = LocalStore(tmp_path, "t")
        state = store.load()
        rec = state.resources["web.app"]
        spec = {k: v for k, v in rec.spec.items() if k != "marathon"}
        state.resources["web.app"] = dataclasses.replace(rec, spec=spec)
        store.save(state)
        assert "marathon" not in store.load().resources["web.app"].spec
        assert not engine.plan(run_of(tmp_path, aws, a, marathons)).has_changes
    finally:
        marathons.close()


def test_snapshots_reach_the_marathon_the_recorded_gate_gives(clusters, aws, tmp_path):
    a, b = clusters
    marathons = Marathons(poll=0.02)
    try:
        marathons.client(f"{b}/service/marathon").apply({**WEB, "id": "/other/app"})
        up(run_of(tmp_path, aws, b, marathons))
        run = run_of(tmp_path, aws, a, marathons)  # the graph moved on; the state did not
        status, body = snapshots._request(run)("GET", "/v2/apps")
        assert status == 200 and {app["id"] for app in body["apps"]} == {
            "/other/app", WEB["id"]}
    finally:
        marathons.close()


# -- the run's clients ---------------------------------------------------------------------


def test_one_client_per_url_made_once_from_any_thread_and_all_closed():
    marathons = Marathons()
    url = "http://127.0.0.1:9/service/marathon"
    got, ready = [], threading.Barrier(8)

    def ask():
        ready.wait(5)
        got.append(marathons.client(url))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(got) == 8 and len({id(client) for client in got}) == 1
    assert marathons.client(url + "/") is got[0]
    other = marathons.client("http://127.0.0.1:10/service/marathon")
    assert other is not got[0] and marathons.urls() == sorted([url, other.url])
    marathons.close()
    assert got[0]._http.is_closed and other._http.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        marathons.client(url)


def test_each_endpoint_has_its_own_token_source(local_marathon):
    """The env's fixed Marathon (the sandbox's) logs in with its own token; any other with
    DCOS_ACS_TOKEN (or DCOS_UID and DCOS_PASSWORD through its DC/OS)."""
    local_marathon.token = "s3cret"
    fixed = Marathons(local_marathon.url, lambda: "s3cret", environ={})
    assert fixed.at(None).list_apps() == []
    fixed.close()
    cluster = Marathons(environ={"DCOS_ACS_TOKEN": "s3cret"})
    assert cluster.client(local_marathon.url).list_apps() == []
    cluster.close()
    nothing = Marathons(environ={})
    with pytest.raises(NgpError, match="refused the credentials"):
        nothing.client(local_marathon.url).list_apps()
    nothing.close()
    assert httpx.get(f"{local_marathon.url}/v2/apps").status_code == 401


def test_an_endpoint_is_reached_as_the_gate_was(monkeypatch):
    cluster = {"marathon_url": "http://ext/service/marathon", "dcos_url": "http://ext",
               "internal_url": "http://int", "vpc_id": "vpc-1"}
    monkeypatch.delenv(INSIDE_VPC, raising=False)
    assert reachable(cluster) == "http://ext/service/marathon"
    monkeypatch.setenv(INSIDE_VPC, "vpc-1")  # the manager node: the internal balancer
    assert reachable(cluster) == "http://int/service/marathon"
    fixed = {**cluster, "marathon_url": "http://127.0.0.1:8080"}  # the sandbox's, marathon_url
    assert reachable(fixed) == "http://127.0.0.1:8080"


def test_before_a_gate_is_recorded_the_apps_are_at_the_fixed_marathon():
    from ngp.state import Recorded, State

    state = State(env="t")
    assert recorded_endpoint(state) is None
    with pytest.raises(NgpError, match="has no address yet"):
        Marathons().at(None)
    outputs = {"id": "http://ext", "dcos_url": "http://ext", "internal_url": "",
               "vpc_id": "", "marathon_url": "http://ext/service/marathon"}
    state.resources["dcos.ready"] = Recorded("marathon.ready", "http://ext", {}, outputs)
    assert recorded_endpoint(state) == {k: outputs[k] for k in
                                        ("marathon_url", "dcos_url", "internal_url", "vpc_id")}
