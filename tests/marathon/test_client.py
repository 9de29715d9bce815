"""The Marathon client against the local Marathon, over HTTP."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ngp.marathon import rules
from ngp.marathon.client import Marathon, MarathonError, Unreachable

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "marathon"
WEB = {"id": "/platform/web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1, "mem": 64,
       "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]}


def test_create_waits_until_tasks_run_and_are_healthy(marathon):
    app = marathon.apply(WEB)
    assert app["tasksRunning"] == 2 and app["tasksHealthy"] == 2 and app["deployments"] == []
    assert app["id"] == "/platform/web"


def test_reapplying_the_same_definition_restarts_nothing(marathon):
    first = marathon.apply(WEB)
    again = marathon.apply(WEB)
    assert again["version"] == first["version"]
    assert again["versionInfo"] == first["versionInfo"]


def test_apply_replaces_so_removed_fields_go_away(marathon):
    marathon.apply({**WEB, "labels": {"team": "a"}, "env": {"MODE": "x"}})
    app = marathon.apply(WEB)
    assert app["labels"] == {} and app["env"] == {}
    # A plain PUT (the default partialUpdate=true) would have kept them:
    marathon.apply({**WEB, "labels": {"team": "a"}})
    marathon.request("PUT", "/v2/apps/platform/web", body={"cmd": "sleep 2000"})
    time.sleep(0.2)
    assert marathon.get_app("/platform/web")["labels"] == {"team": "a"}


def test_a_scale_change_keeps_the_config_version(marathon):
    first = marathon.apply(WEB)
    scaled = marathon.apply({**WEB, "instances": 3})
    assert scaled["tasksRunning"] == 3
    assert scaled["versionInfo"]["lastConfigChangeAt"] == \
        first["versionInfo"]["lastConfigChangeAt"]


def test_locked_app_is_waited_for_then_applied(marathon, local_marathon):
    local_marathon.deploy_seconds = 0.5
    marathon.apply(WEB, deadline=5)
    raw = marathon.request("PUT", "/v2/apps/platform/web", params={"partialUpdate": "false"},
                           body={**WEB, "cmd": "sleep 3000"})
    assert raw.status_code == 200
    locked = marathon.request("PUT", "/v2/apps/platform/web",
                              params={"partialUpdate": "false"}, body=WEB)
    assert locked.status_code == 409 and locked.json()["deployments"]
    t0 = time.monotonic()
    app = marathon.apply({**WEB, "cmd": "sleep 4000"}, deadline=10)
    assert app["cmd"] == "sleep 4000" and time.monotonic() - t0 >= 0.3


def test_force_cancels_the_blocking_deployment(marathon, local_marathon):
    local_marathon.deploy_seconds = 30
    marathon.request("PUT", "/v2/apps/platform/web", params={"partialUpdate": "false"},
                     body=WEB)
    local_marathon.deploy_seconds = 0.1
    app = marathon.apply({**WEB, "cmd": "sleep 5"}, force=True, deadline=5)
    assert app["cmd"] == "sleep 5"


def test_invalid_definition_shows_marathons_field_errors(marathon):
    bad = {**WEB, "instances": -1, "upgradeStrategy": {"minimumHealthCapacity": 2,
                                                       "maximumOverCapacity": 1}}
    calls = marathon.calls
    with pytest.raises(MarathonError) as exc:
        marathon.apply(bad)
    assert marathon.calls == calls, "refused before sending"
    line = exc.value.line()
    assert "/instances" in line and "/upgradeStrategy/minimumHealthCapacity: is greater" in line
    # What Marathon itself answers (its schema's words), rendered the same way:
    response = marathon.request("PUT", "/v2/apps/platform/web", body=bad)
    assert response.status_code == 422
    error = marathon._fail("deploying", response, "/platform/web")
    assert "failed with 422" in error.line() and "/instances: -1 is less than" in error.line()


def test_invalid_ids_are_refused_before_any_call(marathon):
    for bad in ("/Platform/web", "/platform/web_1", "/platform/-web", "/platform/tasks", ""):
        calls = marathon.calls
        with pytest.raises(MarathonError, match="invalid app id"):
            marathon.apply({**WEB, "id": bad})
        assert marathon.calls == calls


def test_expired_token_logs_in_once_more(local_marathon):
    local_marathon.token = "good"
    tokens = iter(["stale", "good"])
    logins = []

    def login():
        logins.append(1)
        return next(tokens)

    client = Marathon(local_marathon.url, login=login, poll=0.02)
    assert client.apply(WEB)["tasksRunning"] == 2
    assert len(logins) == 2
    refused = Marathon(local_marathon.url, login=lambda: "wrong", poll=0.02)
    with pytest.raises(MarathonError, match="refused the credentials"):
        refused.list_apps()


def test_a_deployment_past_its_deadline_is_a_clear_error(marathon, local_marathon):
    local_marathon.deploy_seconds = 30
    with pytest.raises(MarathonError) as exc:
        marathon.apply(WEB, deadline=0.3)
    assert "did not finish in time" in exc.value.summary
    assert exc.value.where == "marathon app /platform/web"


def test_a_long_deployment_is_asked_less_often_as_it_goes_on(marathon, local_marathon):
    local_marathon.deploy_seconds = 2.0
    before = marathon.calls
    app = marathon.apply(WEB)
    assert app["tasksRunning"] == 2
    # Every 0.02 s (the client's poll) would be about 100 looks; a tenth of the time waited
    # so far, about 30.
    assert marathon.calls - before < 50


def test_delete_and_delete_again(marathon):
    marathon.apply(WEB)
    marathon.delete("/platform/web")
    assert marathon.get_app("/platform/web") is None
    marathon.delete("/platform/web")


def test_unreachable_marathon_is_one_line():
    client = Marathon("http://127.0.0.1:9", poll=0.01)
    with pytest.raises(MarathonError, match="cannot reach Marathon"):
        client.request("GET", "/v2/apps", retries=1)


@contextlib.contextmanager
def answering(statuses: list[int]):
    """A local server answering each request with the next status (the last one after)."""
    seen: list[str] = []

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(statuses[min(len(seen), len(statuses)) - 1])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_503_is_retried_with_backoff_until_it_answers():
    with answering([503, 503, 200]) as (url, seen):
        client = Marathon(url)
        started = time.monotonic()
        assert client.request("GET", "/v2/info").status_code == 200
        took = time.monotonic() - started
    assert len(seen) == 3 and client.calls == 3
    assert 0.2 + 0.4 <= took < 2.0  # waited 0.2 s, then 0.4 s


def test_a_503_that_lasts_gives_up_within_the_bound_and_returns_it():
    with answering([503]) as (url, seen):
        client = Marathon(url)
        started = time.monotonic()
        assert client.request("GET", "/v2/info", retries=3).status_code == 503
        took = time.monotonic() - started
    assert len(seen) == 4  # the call and 3 retries, no more
    assert 0.2 + 0.4 + 0.8 <= took < 2.5


def test_unreachable_gives_up_within_the_bound():
    client = Marathon("http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(Unreachable, match="cannot reach Marathon at http://127.0.0.1:9"):
        client.request("GET", "/v2/apps", retries=2)
    assert client.calls == 3
    assert time.monotonic() - started < 0.2 + 0.4 + 1.0
    # Asked with no retry (the ready gate's look), one call and no wait.
    assert Marathon("http://127.0.0.1:9").info() is None


def test_other_errors_are_answers_not_retried():
    with answering([500, 200]) as (url, seen):
        assert Marathon(url).request("GET", "/v2/apps").status_code == 500
    assert len(seen) == 1


def test_an_expired_token_logs_in_again_even_with_no_retry_left():
    """The ready gate asks /v2/info with retries=0: a 401 then logs in once more and asks
    again (the old loop spent its only attempt on the 401 and failed on an assertion)."""
    tokens = iter(["stale", "good"])
    with answering([401, 200]) as (url, seen):
        client = Marathon(url, login=lambda: next(tokens))
        assert client.request("GET", "/v2/info", retries=0).status_code == 200
    assert seen == ["token=stale", "token=good"]


def test_local_marathon_answers_like_the_real_one(local_marathon):
    url = local_marathon.url
    bad = httpx.put(f"{url}/v2/apps/x", content=b"{nope")
    assert bad.status_code == 400 and isinstance(bad.json()["details"], str)
    wrong = httpx.put(f"{url}/v2/apps/x", json={"instances": "two"})
    assert wrong.status_code == 422
    assert wrong.json() == {"message": "Invalid JSON", "details": [
        {"path": "/instances", "errors": ["error.expected.jsnumber"]}]}
    created = httpx.post(f"{url}/v2/apps", json={"id": "solo", "cmd": "sleep 1"})
    assert created.status_code == 201 and created.headers["Marathon-Deployment-Id"]
    assert "deploymentId" not in created.json() and created.json()["deployments"]
    assert httpx.post(f"{url}/v2/apps", json={"id": "solo"}).status_code == 409
    assert httpx.get(f"{url}/v2/apps/solo").json()["app"]["id"] == "/solo"
    assert httpx.get(f"{url}/v2/apps/nope").status_code == 404
    assert httpx.get(f"{url}/ping").text == "pong"
    assert httpx.get(f"{url}/v2/info").json()["version"].startswith("1.11")


def reference_examples():
    folder = REFERENCE / "examples"
    return sorted(folder.rglob("*.json")) if folder.is_dir() else []


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference/marathon is absent")
@pytest.mark.parametrize("path", reference_examples(), ids=lambda p: p.name)
def test_reference_examples_are_taken_as_the_real_server_takes_them(local_marathon, path):
    body = json.loads(path.read_text())
    apps = body.get("apps", []) if "apps" in body or "groups" in body else [body]
    for app in apps:
        url = f"{local_marathon.url}/v2/apps/{app['id'].strip('/')}"
        if "version" in app:  # a GET body sent back: a plain PUT refuses it, as Marathon does
            refused = httpx.put(url, json=app)
            assert refused.status_code == 422
            assert "may only be combined with the 'id' field" in refused.text
        response = httpx.put(url, params={"partialUpdate": "false"}, json=app)
        if path.name == "pinger-bridge-app.json":
            # Its misplaced container.docker.requirePorts: Marathon's schema refuses it (a
            # live 1.11 drops it silently; the local Marathon is the stricter of the two).
            assert response.status_code == 422, response.text
            assert response.json()["details"] == [{"path": "/container/docker", "errors": [
                "Additional properties are not allowed ('requirePorts' was unexpected)"]}]
            continue
        assert response.status_code in (200, 201), response.text


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference/marathon is absent")
def test_definitions_ngp_writes_validate_against_the_official_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((REFERENCE / "schema" / "AppDefinition.json").read_text())
    from tests.resources.test_ec2 import CASES

    build, change, _ = CASES["marathon.app"]
    for app in (build(None), change(build(None))):
        jsonschema.Draft4Validator(schema).validate(app)
        assert rules.id_errors(app["id"]) == []


def generated_apps():
    from ngp.config import Project
    from ngp.engine import build_desired
    from ngp.graph import resolve
    from ngp.marathon.app import definition

    settings = Project(Path(__file__).resolve().parents[2]).load("sandbox", {})
    apps = [r for r in build_desired(settings).graph.resources.values()
            if r.kind == "marathon.app"]
    for res in apps:
        app = definition(resolve(res.spec, lambda ref: f"resolved-{ref.output}"))
        # Secret references become their values before they are sent.
        app["env"] = {k: "value" if isinstance(v, dict) else v
                      for k, v in app.get("env", {}).items()}
        yield res.address, app


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared/reference/marathon is absent")
def test_every_app_ngp_generates_validates_against_the_official_schema():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft4Validator(
        json.loads((REFERENCE / "schema" / "AppDefinition.json").read_text()))
    seen = []
    for address, app in generated_apps():
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in
                  validator.iter_errors(app)]
        assert errors == [], address
        assert rules.id_errors(app["id"]) == [] and rules.semantic_errors(app) == []
        assert not {"ports", "uris", "ipAddress"} & set(app), "legacy format"
        assert "network" not in app.get("container", {}).get("docker", {})
        seen.append(address)
    assert sorted(seen) == ["api_gateway.redis", "api_gateway.tyk", "docker_registry.app",
                            "ecr.refresher", "elk.filebeat", "jenkins.app", "monitoring.app",
                            "routing.marathon_lb"]
