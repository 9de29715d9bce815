"""A Marathon app belongs to the env that labelled it: another env never takes it over,
changes or deletes it (issue 14: env try2 overwrote and then deleted env sandbox's Jenkins)."""

from __future__ import annotations

import pytest

from ngp.engine import ownership
from ngp.errors import ResourceError
from ngp.marathon.app import LABEL_ADDRESS, LABEL_ENV
from ngp.resources import Context
from ngp.resources.base import OWNER_TAGS, get_kind

APP = {"id": "/shared/platform/jenkins", "cmd": "sleep 1000", "instances": 1, "cpus": 0.1,
       "mem": 64}


def ctx_for(env, marathons):
    return Context(aws=None, env=env, lineage=f"lineage-{env}", marathons=marathons)


@pytest.fixture
def owned_by_sandbox(marathon, marathons):
    """The app as env sandbox deployed it."""
    kind = get_kind("marathon.app")
    app_id, _ = kind.create(ctx_for("sandbox", marathons), "jenkins.app", APP)
    return app_id, marathon.get_app(app_id)["version"]


def refusal(call):
    with pytest.raises(ResourceError) as exc:
        call()
    return exc.value.line()


def test_a_create_never_takes_over_another_envs_app(marathon, marathons, owned_by_sandbox):
    app_id, version = owned_by_sandbox
    kind, try2 = get_kind("marathon.app"), ctx_for("try2", marathons)
    line = refusal(lambda: kind.create(try2, "jenkins.app", {**APP, "mem": 4096}))
    assert line.startswith("jenkins.app: Marathon app /shared/platform/jenkins belongs to env "
                           "'sandbox', not env 'try2'"), line
    assert "\n" not in line
    live = marathon.get_app(app_id)
    assert live["version"] == version and live["mem"] == 64
    assert live["labels"][LABEL_ENV] == "sandbox"


def test_an_adoption_update_and_delete_refuse_it_too(marathon, marathons, owned_by_sandbox):
    app_id, version = owned_by_sandbox
    kind, try2 = get_kind("marathon.app"), ctx_for("try2", marathons)
    assert "belongs to env 'sandbox'" in refusal(lambda: kind.find(try2, "jenkins.app", APP))
    assert "belongs to env 'sandbox'" in refusal(
        lambda: kind.update(try2, app_id, APP, {**APP, "mem": 4096}))
    assert "belongs to env 'sandbox'" in refusal(lambda: kind.delete(try2, app_id))
    assert marathon.get_app(app_id)["version"] == version


def test_an_app_ngp_did_not_deploy_is_left_alone(marathon, marathons):
    marathon.apply({**APP, "labels": {"team": "web"}})
    kind, env = get_kind("marathon.app"), ctx_for("sandbox", marathons)
    line = refusal(lambda: kind.create(env, "jenkins.app", APP))
    assert "Marathon app /shared/platform/jenkins was not deployed by ngp" in line
    assert "was not deployed by ngp" in refusal(lambda: kind.delete(env, APP["id"]))
    assert marathon.get_app(APP["id"])["labels"] == {"team": "web"}


def test_the_envs_own_app_is_adopted_changed_and_deleted(marathon, marathons, owned_by_sandbox):
    app_id, _ = owned_by_sandbox
    kind, sandbox = get_kind("marathon.app"), ctx_for("sandbox", marathons)
    assert kind.find(sandbox, "jenkins.app", APP)[0] == app_id
    kind.create(sandbox, "jenkins.app", APP)  # an interrupted create, run again
    kind.update(sandbox, app_id, APP, {**APP, "mem": 128})
    live = marathon.get_app(app_id)
    assert live["mem"] == 128 and live["labels"][LABEL_ADDRESS] == "jenkins.app"
    kind.delete(sandbox, app_id)
    assert marathon.get_app(app_id) is None
    kind.delete(sandbox, app_id)  # already gone is success


def test_a_read_gives_the_apps_labels_so_a_state_pointing_at_it_is_refused(
        marathons, owned_by_sandbox):
    """What the refresh checks (ngp.engine.ownership): the labels come with the listing."""
    app_id, _ = owned_by_sandbox
    kind = get_kind("marathon.app")
    live = kind.read_many(ctx_for("try2", marathons), [app_id])[app_id]
    assert live[OWNER_TAGS] == {LABEL_ENV: "sandbox", LABEL_ADDRESS: "jenkins.app"}
    tags = ownership.take_tags({"jenkins.app": live})
    wrong = ownership.refusal("try2", "state/try2.json", {"jenkins.app": app_id}, tags)
    assert wrong is not None and wrong.line().startswith(
        "state/try2.json: its objects are tagged for env 'sandbox', not env 'try2'")
    # The state records jenkins.app elsewhere, so its label is another address's.
    assert ownership.refusal("sandbox", "state/sandbox.json",
                             {"sysdig.app": app_id, "jenkins.app": "/shared/platform/other"},
                             {"sysdig.app": tags["jenkins.app"]}).line().startswith(
        "sysdig.app: the state's id /shared/platform/jenkins is another object: its labels "
        "NGP_ADDRESS=jenkins.app, NGP_ENV=sandbox name address jenkins.app.")


def test_an_update_of_an_app_without_an_address_label_writes_none_empty(marathon, marathons):
    # The env's app, found without its address (its old cluster gone): updated, it is not
    # labelled NGP_ADDRESS="" (which the next refresh would take for another address's).
    marathon.apply({**APP, "labels": {LABEL_ENV: "sandbox"}})
    kind, env = get_kind("marathon.app"), ctx_for("sandbox", marathons)
    kind.update(env, APP["id"], APP, {**APP, "mem": 128})
    live = marathon.get_app(APP["id"])
    assert live["mem"] == 128 and LABEL_ADDRESS not in live["labels"]
