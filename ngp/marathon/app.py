"""`marathon.app`: a Marathon app as a resource kind, in the same graph, plan and state as
the AWS resources."""

from __future__ import annotations

from typing import Any

from ngp.errors import NgpError, NotOwnedError
from ngp.graph import is_secret_ref
from ngp.marathon import rules
from ngp.marathon.client import Marathon
from ngp.marathon.endpoints import FIELD, Marathons
from ngp.resources.base import (
    OWNER_TAGS,
    TAG_ADDRESS,
    TAG_ENV,
    Context,
    Field,
    Health,
    Kind,
    Owned,
    Verdict,
    Wanted,
    kind,
)

LABEL_ENV = "NGP_ENV"
LABEL_ADDRESS = "NGP_ADDRESS"
SECRET_LABEL = "NGP_SECRET_"  # NGP_SECRET_<VAR> = the ARN its value comes from


def marathons_of(ctx: Context) -> Marathons:
    if ctx.marathons is None:
        raise NgpError("this env has no Marathon to push apps to",
                       hint="Set marathon_url in the env's settings (the sandbox has its own).")
    return ctx.marathons


def at_endpoint(ctx: Context, spec: dict[str, Any]) -> Marathon:
    """The Marathon a spec's app is pushed to: its endpoint's, or the env's fixed one."""
    return marathons_of(ctx).at(spec.get(FIELD))


def recorded(ctx: Context) -> Marathon:
    """The Marathon the env's recorded apps are at (a read or a delete has only an id): the
    recorded gate's, as the run found it when it started, or the env's fixed one."""
    return marathons_of(ctx).at(ctx.recorded_marathon)


def definition(spec: dict[str, Any]) -> dict[str, Any]:
    """What Marathon is sent for a spec: neither ngp's input (the endpoint) nor what Marathon
    alone writes."""
    return {k: v for k, v in spec.items() if k not in rules.READ_ONLY and k != FIELD}


def _tasks(live: dict[str, Any], want: int) -> tuple[bool, str]:
    """Whether an app's tasks are what `want` instances need, and the line saying so: an app
    without health checks is judged by its tasks running alone, and says so."""
    running, healthy = live.get("tasks_running", 0), live.get("tasks_healthy", 0)
    checked = bool(live.get("healthChecks"))
    status = f"running {running}/{want}" + (f", {healthy} healthy" if checked
                                            else " (no health check)")
    if live.get("deploying"):
        status += ", deploying"
    return running >= want and (not checked or healthy >= want), status


@kind
class App(Health, Owned, Kind):
    """A Marathon app, written in the current format (networks, container.portMappings,
    fetch). Applied as a complete replacement and waited for until its tasks run (and are
    healthy); compared after Marathon's defaults, with set-like fields in any order. ngp
    labels it with the env and the address: the refresh lists the env's apps by that label
    (one call), so an interrupted create or a lost state line is adopted, never PUT again.
    An env value {"secret": <ARN>} is read from Secrets Manager when the app is applied and
    shown as that reference everywhere else (Marathon on DC/OS OSS has no secret store).
    `marathon`, where the env's cluster is ngp's, is the endpoint the app is pushed to (the
    ready gate's outputs, ngp.marathon.endpoints); without it, the env's fixed Marathon.
    A read reports where it found the app, so an endpoint shows in a plan only when it moves.

    spec: {"id": "/dev/platform/registry", "instances": 1, "cpus": 0.5, "mem": 512,
           "container": {"type": "DOCKER", "docker": {"image": "registry:2"},
                         "portMappings": [{"containerPort": 5000}]},
           "networks": [{"mode": "container/bridge"}],
           "marathon": {"marathon_url": Ref("dcos.ready", "marathon_url"), ...}}
    """

    name = "marathon.app"
    not_imported = ("an app is the env's by its labels: label it NGP_ENV=<env> and "
                    "NGP_ADDRESS=<address> in Marathon, and `ngp up` adopts it (and makes it "
                    "match)")
    created_whole = True
    typical_seconds, typical_delete_seconds = 60.0, 10.0
    service = "marathon"
    outputs = ("id", "version")
    # Marathon's app definition (its AppDefinition schema, less what it adds on read). Its
    # sets are rules.comparable's, which the local Marathon shares, so none is declared here.
    fields = tuple(Field(name) for name in (
        "acceptedResourceRoles", "args", "backoffFactor", "backoffSeconds", "cmd",
        "constraints", "container", "cpus", "dependencies", "disk", "env", "executor",
        "executorResources", "fetch", "gpus", "healthChecks", "id", "instances", "ipAddress",
        "killSelection", "labels", "maxLaunchDelaySeconds", "mem", "networks",
        "portDefinitions", "ports", "readinessChecks", "requirePorts", "residency", "secrets",
        "taskKillGracePeriodSeconds", "unreachableStrategy", "upgradeStrategy", "uris",
        "user")) + (Field(FIELD),)  # where the app is sent: the ready gate's endpoint

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        # More than order: Marathon's defaults filled and its read-only keys dropped.
        if not isinstance(spec.get("id"), str) or rules.id_errors(spec["id"]):
            return spec  # apply refuses it with the reason
        return rules.comparable(spec)

    def _live(self, app: dict[str, Any], where: dict[str, Any] | None) -> dict[str, Any]:
        all_labels = app.get("labels", {})
        labels = {k: v for k, v in all_labels.items()
                  if k not in (LABEL_ENV, LABEL_ADDRESS) and not k.startswith(SECRET_LABEL)}
        # A secret's value is shown as the reference it came from: it never reaches a plan
        # or the state.
        env = {**app.get("env", {}), **{k.removeprefix(SECRET_LABEL): {"secret": arn}
                                        for k, arn in all_labels.items()
                                        if k.startswith(SECRET_LABEL)}}
        live = self.canonical({**app, "labels": labels, "env": env})
        if where is not None:  # the endpoint it was read at
            live[FIELD] = dict(where)
        running, healthy = app.get("tasksRunning", 0), app.get("tasksHealthy", 0)
        # Its owner, as its labels say: the refresh checks it is the app the state says.
        live[OWNER_TAGS] = {k: all_labels[k] for k in (LABEL_ENV, LABEL_ADDRESS)
                            if k in all_labels}
        live.update({"version": app.get("version"), "tasks_running": running,
                     "tasks_healthy": healthy, "deploying": bool(app.get("deployments"))})
        live["status"] = _tasks(live, app.get("instances", 0))[1]
        return live

    def health(self, ctx: Context, id: str, wanted: Wanted) -> Verdict:
        """Its tasks running (and healthy, if it has health checks) against the instances
        its spec wants: no extra call, the read has the counts."""
        healthy, status = _tasks(wanted.live, wanted.spec.get("instances", 1))
        return Verdict(healthy=healthy, status=status)

    # The labels name the env and the address, no lineage: an app is the env's whatever
    # state made it (two states for one env on one cluster is a mistake ngp cannot see).
    lineage_tagged = False

    def read_many(self, ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        return {app["id"]: self._live(app, ctx.recorded_marathon)
                for app in recorded(ctx).list_apps() if app["id"] in ids}

    def list_owned(self, ctx: Context) -> dict[str, dict[str, Any]]:
        """The env's apps (labelled NGP_ENV=<env>) at the recorded gate's Marathon or the
        env's fixed one, in one call; none where the env has no Marathon known yet (a dcos
        env whose gate the state lacks: its endpoint is the cluster's, unknown)."""
        if ctx.marathons is None or (ctx.recorded_marathon is None
                                     and ctx.marathons.fixed is None):
            return {}
        apps = recorded(ctx).list_apps(label=rules.label_equals(LABEL_ENV, ctx.env))
        found = {}
        for app in apps:
            labels = app.get("labels") or {}
            if labels.get(LABEL_ENV) != ctx.env:
                continue  # the selector's, checked again: a Marathon that ignored it
            tags = {TAG_ENV: ctx.env} | ({TAG_ADDRESS: labels[LABEL_ADDRESS]}
                                         if labels.get(LABEL_ADDRESS) else {})
            found[app["id"]] = {**self._live(app, ctx.recorded_marathon), "tags": tags}
        return found

    def chosen_id(self, spec: dict[str, Any]) -> str | None:
        app_id = spec.get("id")
        return rules.absolute(app_id) if isinstance(app_id, str) and \
            not rules.id_errors(app_id) else None

    def read(self, ctx: Context, id: str) -> dict[str, Any] | None:
        app = recorded(ctx).get_app(id)
        return self._live(app, ctx.recorded_marathon) if app else None

    def _check_owned(self, ctx: Context, address: str, app: dict[str, Any],
                     adopting: bool = False) -> None:
        """Refuse to take over, change or delete an app this env did not deploy: its id may
        be another env's (two envs on one cluster), or someone's own app. Taken over at an
        address (adopting), it must also be labelled with that address, not another's."""
        labels = app.get("labels") or {}
        owner, said = labels.get(LABEL_ENV), labels.get(LABEL_ADDRESS)
        if owner == ctx.env and not (adopting and said and said != address):
            return
        made = (f"belongs to env {owner!r}, not env {ctx.env!r}" if owner != ctx.env else
                f"is address {said}'s") if owner else "was not deployed by ngp"
        shown = ", ".join(f"{k}={labels[k]}" for k in (LABEL_ADDRESS, LABEL_ENV) if k in labels)
        raise NotOwnedError(f"Marathon app {app['id']} {made}"
                            + (f" (labels {shown})" if shown else ""), where=address,
                            hint="Nothing was changed. Leave it to its owner (ngp changes only "
                            "its own apps), or delete it from Marathon if it is no longer used.")

    def find(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict] | None:
        app = at_endpoint(ctx, spec).get_app(spec["id"])
        if app is None:
            return None
        self._check_owned(ctx, address, app, adopting=True)
        return app["id"], self._live(app, spec.get(FIELD))

    def _apply(self, ctx: Context, address: str, spec: dict[str, Any]) -> dict[str, Any]:
        from ngp.resources.secretsmanager import reveal

        # No address label rather than an empty one (an update of an app found without it).
        env, labels = {}, {**spec.get("labels", {}), LABEL_ENV: ctx.env,
                           **({LABEL_ADDRESS: address} if address else {})}
        for name, value in spec.get("env", {}).items():
            if is_secret_ref(value):  # fetched now, sent to Marathon, kept nowhere else
                env[name] = reveal(ctx, value["secret"])
                labels[SECRET_LABEL + name] = value["secret"]
            else:
                env[name] = value
        app = at_endpoint(ctx, spec).apply({**definition(spec), "labels": labels, "env": env})
        return {"id": app["id"], "version": app["version"]}

    def create(self, ctx: Context, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
        # A PUT creates or replaces: look first, so another env's (or address's) app is
        # never overwritten, and ours, already as wanted, is not deployed again.
        if isinstance(spec.get("id"), str) and not rules.id_errors(spec["id"]):
            existing = at_endpoint(ctx, spec).get_app(spec["id"])
            if existing is not None:
                self._check_owned(ctx, address, existing, adopting=True)
                if self._as_wanted(existing, spec):
                    return existing["id"], {"id": existing["id"], "version": existing["version"]}
        outputs = self._apply(ctx, address, spec)
        return outputs["id"], outputs

    def _as_wanted(self, app: dict[str, Any], spec: dict[str, Any]) -> bool:
        """Whether a live app already is the spec (after Marathon's defaults; its labels
        less ngp's): a PUT would only make a new version of it. A secret is compared by
        its reference, as a plan compares it."""
        want, have = self.canonical(definition(spec)), self._live(app, None)
        return all(want.get(f.name) == have.get(f.name) for f in self.fields
                   if f.name != FIELD)

    def update(self, ctx: Context, id: str, old: dict, new: dict) -> dict:
        # At the new endpoint: a cluster with a new address may not have the app yet.
        # Its address label then comes from the endpoint it was at (update has no address),
        # so the app made at the new one is labelled as its refresh will check.
        there = at_endpoint(ctx, new).get_app(id)
        app = there or self._at_old(ctx, id, old, new) \
            or {"id": id, "labels": {LABEL_ENV: ctx.env}}
        address = app.get("labels", {}).get(LABEL_ADDRESS, "")
        self._check_owned(ctx, address or f"marathon app {id}", app)
        if there is not None and self._as_wanted(there, new):
            return {"id": id, "version": there["version"]}  # only its endpoint's name moved
        return self._apply(ctx, address, new)

    @staticmethod
    def _at_old(ctx: Context, id: str, old: dict[str, Any],
                new: dict[str, Any]) -> dict[str, Any] | None:
        if old.get(FIELD) == new.get(FIELD):
            return None  # the same endpoint: already asked
        try:
            return at_endpoint(ctx, old).get_app(id)
        except NgpError:  # the old cluster is gone: the app is labelled without an address
            return None

    def delete(self, ctx: Context, id: str) -> None:
        marathon = recorded(ctx)
        app = marathon.get_app(id)
        if app is None:
            return  # already gone
        self._check_owned(ctx, app.get("labels", {}).get(LABEL_ADDRESS) or
                          f"marathon app {id}", app)
        marathon.delete(id)
