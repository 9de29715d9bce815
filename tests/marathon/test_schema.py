"""The local Marathon checks app definitions against Marathon's official AppDefinition.json
(found at run time through $NGP_MARATHON_SCHEMA), not against ngp's own rules."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from ngp.marathon import rules
from ngp.marathon.client import MarathonError
from ngp.sandbox import marathon_schema
from ngp.sandbox.marathon import LocalMarathon
from tests.marathon.test_client import WEB, generated_apps

SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "reference" / "marathon" / "schema"
pytestmark = pytest.mark.skipif(not SCHEMA.is_dir(), reason="shared/reference is absent")

# Mistakes ngp's own rules let through, and Marathon's schema does not.
REFUSED = {
    "a misspelt field": ({**WEB, "helthChecks": WEB["healthChecks"]},
                         "/", "'helthChecks' was unexpected"),
    "an unknown constraint operator": ({**WEB, "constraints": [["hostname", "UNIQUEE"]]},
                                       "/constraints(0)(1)", "'UNIQUEE' is not one of"),
    "a network mode Marathon does not have": ({**WEB, "networks": [{"mode": "bridge"}]},
                                              "/networks(0)/mode", "'bridge' is not one of"),
    "a field misplaced in a health check": (
        {**WEB, "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"},
                                  "path": "/health", "interval": 30}]},
        "/healthChecks(0)", "'interval' was unexpected"),
}


def test_the_local_marathon_found_marathons_schema(local_marathon):
    assert local_marathon.schema is not None
    assert local_marathon.schema.folder == SCHEMA


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_ngps_rules_accept_and_marathons_schema_refuses_is_a_422(marathon, case):
    app, path, words = REFUSED[case]
    assert rules.shape_errors(app) == [] and rules.semantic_errors(app) == [], \
        "ngp's own rules accept it: they alone would not catch it"
    response = marathon.request("PUT", "/v2/apps/platform/web",
                                params={"partialUpdate": "false"}, body=app)
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "Object is not valid"
    assert [d["path"] for d in body["details"]] == [path]
    assert any(words in e for e in body["details"][0]["errors"]), body
    # The client names the field in its one line.
    with pytest.raises(MarathonError) as exc:
        marathon.apply(app)
    assert "failed with 422" in exc.value.line() and path in exc.value.line()
    assert marathon.get_app("/platform/web") is None


def test_a_wrong_type_is_invalid_json_as_play_json_says_it(marathon):
    response = marathon.request("PUT", "/v2/apps/platform/web",
                                params={"partialUpdate": "false"},
                                body={**WEB, "instances": "two", "labels": {"a": 1}})
    assert response.status_code == 422
    assert response.json() == {"message": "Invalid JSON", "details": [
        {"path": "/instances", "errors": ["error.expected.jsnumber"]},
        {"path": "/labels/a", "errors": ["error.expected.jsstring"]}]}


def test_ids_the_schema_lets_through_are_still_refused_as_marathons_pathid_does(marathon):
    # The schema's pathType accepts a..b; Marathon's PathId.scala does not (API-NOTES.md 4).
    response = marathon.request("PUT", "/v2/apps/platform/a..b",
                                params={"partialUpdate": "false"}, body=WEB)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["details"]] == ["/id"]


def test_a_get_body_put_back_is_taken_with_the_fields_marathon_added_since_1_7(marathon):
    marathon.apply(WEB)
    live = marathon.get_app("/platform/web")
    assert live["role"] == "slave_public" and "tasksRunning" in live
    response = marathon.request("PUT", "/v2/apps/platform/web",
                                params={"partialUpdate": "false"}, body={**live, "tty": False})
    assert response.status_code == 200, response.text


def test_every_app_ngp_builds_is_taken_by_the_local_marathon(marathon):
    seen = []
    for address, app in generated_apps():
        response = marathon.request("PUT", "/v2/apps" + app["id"],
                                    params={"partialUpdate": "false"}, body=app)
        assert response.status_code in (200, 201), (address, response.text)
        seen.append(address)
    assert len(seen) == 8  # with marathon-lb (the routing module)


def test_without_the_schema_folder_ngps_rules_stand_in_and_the_log_says_so(
        monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(marathon_schema.SCHEMA_VARIABLE, str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="ngp.sandbox"):
        local = LocalMarathon()
    assert local.schema is None
    assert any("no AppDefinition.json" in r.getMessage() and "NGP_MARATHON_SCHEMA" in
               r.getMessage() for r in caplog.records)
    # ngp's rules still refuse a wrong type.
    answer = local._invalid({**WEB, "instances": "two"})
    assert answer is not None and answer.status_code == 422


def test_the_sandbox_server_reports_its_schema(home):
    assert home.sandbox()["marathon_schema"] == str(SCHEMA)
    bad = {**WEB, "id": "/probe/web", "helthChecks": []}
    response = httpx.put(home.sandbox()["marathon_url"] + "/v2/apps/probe/web", json=bad)
    assert response.status_code == 422 and "helthChecks" in response.text
