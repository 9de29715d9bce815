"""Marathon apps ngp knows by their labels (issue 18): a lost state, or one app's line of it,
is adopted from the env's Marathon, never PUT again; an app labelled for another env or
another address is refused and left alone. Real `ngp` processes against the sandbox."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.homes import all_ids, one_error_line

MODULES = '["network", "jenkins", "routing"]'  # two apps on the sandbox's fixed Marathon
SAID = re.compile(r"^note: writing the debug log to (\S+) \(secrets redacted\)$", re.M)


def _apps(home, env: str) -> dict[str, dict]:
    return {a["id"]: a for a in home.marathon_apps()
            if a.get("labels", {}).get("NGP_ENV") == env}


def _versions(home, env: str) -> dict[str, tuple[str, dict]]:
    """Each of the env's apps' version and versionInfo (a PUT that changes nothing keeps
    them in the local Marathon: the calls a run made say whether it PUT at all)."""
    return {id: (a["version"], a["versionInfo"]) for id, a in _apps(home, env).items()}


def _marathon_calls(stderr: str) -> list[str]:
    """The Marathon calls a `--debug` run made: `METHOD path?query`."""
    text = Path(SAID.findall(stderr)[0]).read_text()
    return [f"{m} {p}" for m, p in re.findall(
        r"^\S+ marathon (\S+) http://[^/]+(\S+) \d+ ", text, re.M)]


def _drop(home, env: str, address: str | None = None) -> None:
    path = home.root / "state" / f"{env}.json"
    if address is None:
        path.unlink()
        return
    doc = json.loads(path.read_text())
    doc["resources"].pop(address)
    path.write_text(json.dumps(doc))


def _no_changes(home, env: str) -> None:
    plan = home.ngp("plan", "--env", env, "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr


def test_lost_app_lines_are_adopted_not_put_again(home):
    env = home.env("lostapps", modules=MODULES)
    home.ngp("up", "--env", env, "--yes", check=True)
    apps = _apps(home, env)
    assert set(apps) == {f"/{env}/platform/jenkins", f"/{env}/platform/marathon-lb"}
    versions = _versions(home, env)

    for lose in ("jenkins.app", None):  # one app's line, then the whole state file
        _drop(home, env, lose)
        plan = home.ngp("plan", "--env", env, check=True)
        assert "<= adopt jenkins.app" in plan.stdout, plan.stdout
        assert "0 to add, 0 to change, 0 to destroy" in plan.stdout, plan.stdout
        up = home.ngp("up", "--env", env, "--yes", "--debug", check=True)
        calls = _marathon_calls(up.stderr)
        assert not [c for c in calls if not c.startswith("GET ")], calls  # no PUT, no DELETE
        # One listing of the env's apps by their labels, not one read per app.
        assert [c for c in calls if c.startswith("GET /v2/apps")] == [
            f"GET /v2/apps?label=NGP_ENV=={env}"], calls
        assert home.state(env)["resources"]["jenkins.app"]["id"] == f"/{env}/platform/jenkins"
        assert _versions(home, env) == versions  # no new Marathon version
        _no_changes(home, env)

    _drop(home, env)
    rebuilt = home.ngp("state", "rebuild", "--env", env, check=True)
    assert "Rebuilt the state" in rebuilt.stdout, rebuilt.stdout
    assert {"jenkins.app", "routing.marathon_lb"} <= set(home.state(env)["resources"])
    _no_changes(home, env)
    assert _versions(home, env) == versions
    home.ngp("down", "--env", env, "--yes", check=True)
    assert all_ids(home.tagged(env)) == set()


def test_an_app_labelled_for_another_env_or_address_is_refused_and_untouched(home):
    env = home.env("foreignapp", modules=MODULES)
    home.ngp("up", "--env", env, "--yes", check=True)
    url, id = home.sandbox()["marathon_url"], f"/{env}/platform/jenkins"
    app = _apps(home, env)[id]
    _drop(home, env, "jenkins.app")
    for labels in ({"NGP_ENV": "other", "NGP_ADDRESS": "jenkins.app"},
                   {"NGP_ENV": env, "NGP_ADDRESS": "routing.marathon_lb"}):
        body = {k: v for k, v in app.items() if k in (
            "id", "cmd", "cpus", "mem", "instances", "container", "networks", "env",
            "healthChecks", "upgradeStrategy", "unreachableStrategy")}
        body["labels"] = {**app["labels"], **labels}
        put = httpx.put(f"{url}/v2/apps{id}", params={"partialUpdate": "false"}, json=body)
        assert put.status_code == 200, put.text
        version = httpx.get(f"{url}/v2/apps{id}").json()["app"]["version"]
        plan = home.ngp("plan", "--env", env)
        assert "adopt jenkins.app" not in plan.stdout, plan.stdout
        if labels["NGP_ENV"] == env:  # another address's: the plan sees it in the listing
            assert plan.returncode == 1
            assert "jenkins.app" in one_error_line(plan.stderr)
        up = home.ngp("up", "--env", env, "--yes")
        assert up.returncode == 1, up.stdout + up.stderr
        # Another env's app is not in this env's listing: its create refuses, as for AWS.
        errors = [line for line in up.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in up.stderr, up.stderr
        assert errors[0].startswith("error: jenkins.app: ") and id in errors[0], errors
        assert all(f"{k}={v}" in errors[0] for k, v in labels.items()), errors
        after = httpx.get(f"{url}/v2/apps{id}").json()["app"]
        assert after["version"] == version and after["labels"] == body["labels"]
    httpx.delete(f"{url}/v2/apps{id}")
    home.ngp("down", "--env", env, "--yes", check=True)
