"""A local Marathon: a real HTTP server that answers like Marathon 1.11 for what ngp uses.
(Over 400 lines as one thing: one API's emulator, its routes sharing one model of apps,
deployments and agents.)

Deployments take `deploy_seconds` before an app's tasks count as running (and healthy, when
it has health checks); while one runs, changing the app without force is a 409 naming it.
Tasks are placed on a model of the cluster's agents (`nodes`: a hostname and a Mesos role
each, resources plenty): a deployment finishes only if its tasks can be placed there, as
Marathon's would (see `place` and `replace`), and otherwise stays in /v2/deployments for good.
Definitions are checked against Marathon's official AppDefinition.json when its folder is
given ($NGP_MARATHON_SCHEMA, marathon_schema.py), else against ngp's own rules; then they get
Marathon's defaults. A wrong type is a 422 "Invalid JSON", any other fault a 422 "Object is
not valid" (Marathon's {path, errors} details), unparsable JSON a 400. With a token set,
every request but /ping needs `Authorization: token=<token>` (a 401 is HTML, as Admin
Router's is), and `POST /acs/api/v1/auth/login` hands the token out for the right uid and
password.
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ngp.errors import NgpError
from ngp.marathon import rules
from ngp.sandbox import marathon_schema

VERSION = "1.11.23"
PRIVATE, PUBLIC = "*", "slave_public"  # the Mesos roles of DC/OS's private and public agents
# DC/OS starts Marathon with MARATHON_ACCEPTED_RESOURCE_ROLES_DEFAULT_BEHAVIOR=unreserved: an
# app without acceptedResourceRoles takes unreserved ("*") resources, the private agents'
# (dcos/dcos packages/marathon/extra/marathon.sh; Marathon's app.raml acceptedResourceRoles).
DEFAULT_ROLES = [PRIVATE]


@dataclass(frozen=True)
class Node:
    """A DC/OS agent as Marathon sees it in offers: its hostname and its role. Its cpus and
    memory are not modelled (plenty)."""

    hostname: str
    role: str = PRIVATE


def cluster(private: int = 2, public: int = 1) -> tuple[Node, ...]:
    """The agents of a cluster like envs/sandbox.toml's (2 private, 1 public by default)."""
    return tuple(Node(f"10.0.1.{i + 1}") for i in range(private)) + \
        tuple(Node(f"10.0.2.{i + 1}", PUBLIC) for i in range(public))


def parse_nodes(text: str) -> tuple[int, int]:
    """`--marathon-nodes PRIVATE,PUBLIC` (e.g. "2,1") as two counts."""
    try:
        private, public = (int(x) for x in text.split(","))
    except ValueError:
        private = public = -1
    if private < 0 or public < 0 or private + public == 0:
        raise NgpError(f"--marathon-nodes {text!r} is not PRIVATE,PUBLIC agent counts",
                       hint="Give two counts, e.g. 2,1 (as the env's dcos private_agents "
                       "and public_agents).")
    return private, public


@dataclass(frozen=True)
class Task:
    id: str
    host: str
    version: str  # of the app definition it runs


def fits(node: Node, app: dict[str, Any], tasks: list[Task]) -> bool:
    """Whether Marathon would launch one more task of the app on the node, given the app's
    tasks already there, of every version (Marathon checks constraints against all of an app's
    instances, old ones too: d2iq-archive/marathon#1133, #689). Constraints on fields other
    than hostname are not modelled (the nodes have no attributes)."""
    if node.role not in (app.get("acceptedResourceRoles") or DEFAULT_ROLES):
        return False
    hosts = [t.host for t in tasks]
    for constraint in app.get("constraints", []):
        field_, operator = constraint[0], constraint[1]
        value = constraint[2] if len(constraint) > 2 else ""
        if field_ != "hostname":
            continue
        if operator == "UNIQUE" and node.hostname in hosts:
            return False
        if operator == "CLUSTER" and node.hostname != (value or (hosts or [node.hostname])[0]):
            return False
        if operator == "LIKE" and not re.fullmatch(value, node.hostname):
            return False
        if operator == "UNLIKE" and re.fullmatch(value, node.hostname):
            return False
        if operator == "MAX_PER" and value.isdigit() and hosts.count(node.hostname) >= \
                int(value):
            return False
    return True


def place(app: dict[str, Any], nodes: tuple[Node, ...], tasks: list[Task], version: str,
          count: int) -> list[Task]:
    """Up to `count` new tasks, each on a node that fits (the least used first); fewer when
    no node fits: Marathon then waits for offers that never come."""
    placed: list[Task] = []
    for _ in range(count):
        every = tasks + placed
        free = [n for n in nodes if fits(n, app, every)]
        if not free:
            break
        node = min(free, key=lambda n: sum(t.host == n.hostname for t in every))
        placed.append(Task(f"{app['id'].strip('/').replace('/', '_')}.{uuid.uuid4()}",
                           node.hostname, version))
    return placed


def replace(app: dict[str, Any], nodes: tuple[Node, ...], current: list[Task],
            version: str) -> tuple[list[Task], list[Task], bool]:
    """A restart (a changed definition) as Marathon's TaskReplaceActor runs it: keep
    ceil(minimumHealthCapacity * instances) old tasks, kill the rest at once, run at most
    floor((1 + maximumOverCapacity) * instances) tasks in all (one more when those two are
    equal, so it can start), and kill one more old task each time a new one is healthy
    (mesosphere/marathon src/main/scala/mesosphere/marathon/core/deployment/impl/
    TaskReplaceActor.scala, computeRestartStrategy; docs/docs/deployments.md "Rolling
    Restarts"). Returns the tasks right away, the tasks at the end, and whether it finishes:
    it does not when a new task finds no node while the old ones hold theirs."""
    wanted = app["instances"]
    old = [t for t in current if t.version != version]
    new = [t for t in current if t.version == version]
    if wanted == 0:
        return new, new, True
    strategy = app["upgradeStrategy"]
    min_healthy = math.ceil(wanted * strategy["minimumHealthCapacity"])
    max_capacity = int(wanted * (1 + strategy["maximumOverCapacity"]))
    kill_now = max(0, len(old) - min_healthy)
    if min_healthy == max_capacity and max_capacity <= len(old):
        max_capacity += 1
    old = old[kill_now:]
    right_away = old + new
    started = len(new)  # new instances asked for: placed, or waiting for an offer
    while True:
        started += min(max(0, wanted - started),
                       max(0, max_capacity - len(old) - started))
        placed = place(app, nodes, old + new, version, started - len(new))
        new += placed
        killed, old = old[:len(placed)], old[len(placed):]  # one per new healthy task
        if not placed and not killed:
            break
    return right_away, old + new, len(new) == wanted and not old


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{datetime.now(UTC).microsecond // 1000:03d}Z"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


@dataclass
class Deployment:
    id: str
    version: str
    app_id: str
    action: str  # StartApplication, RestartApplication, ScaleApplication, StopApplication
    done_at: float
    outcome: list[Task] | None = None  # the app's tasks at done_at
    finishes: bool = True  # False: it cannot place its tasks, and stays until cancelled

    def info(self) -> dict[str, Any]:
        step = {"actions": [{"action": self.action, "app": self.app_id}]}
        return {"id": self.id, "version": self.version, "affectedApps": [self.app_id],
                "affectedPods": [], "steps": [step], "currentActions": step["actions"],
                "currentStep": 1, "totalSteps": 1}


@dataclass
class StoredApp:
    definition: dict[str, Any]
    version: str
    config_changed: str
    scaled: str
    tasks: list[Task] = field(default_factory=list)  # running, of any version


@dataclass
class LocalMarathon:
    deploy_seconds: float = 0.5
    token: str | None = None
    credentials: tuple[str, str] | None = None  # uid, password for the login endpoint
    failing: dict[str, int] = field(default_factory=dict)  # app id -> status of its writes
    nodes: tuple[Node, ...] = field(default_factory=cluster)  # the agents tasks run on
    # A cluster still installing: /v2/info answers 503 until this long after it was first
    # asked (the benchmark's model of DC/OS coming up).
    ready_after: float = 0.0
    first_asked: float | None = None
    # Marathon's own schema (None: ngp's rules stand in, with a line in the sandbox's log).
    schema: marathon_schema.Schema | None = field(default_factory=marathon_schema.load)
    apps: dict[str, StoredApp] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.urls = Map([
            Rule("/ping", endpoint="ping"),
            Rule("/v2/info", endpoint="info"),
            Rule("/v2/apps", endpoint="apps", methods=["GET", "POST"]),
            Rule("/v2/apps/<path:app_id>", endpoint="app", methods=["GET", "PUT", "DELETE"]),
            Rule("/v2/deployments", endpoint="deployments"),
            Rule("/v2/deployments/<dep_id>", endpoint="deployment", methods=["DELETE"]),
            Rule("/v2/groups", endpoint="groups"),
            Rule("/acs/api/v1/auth/login", endpoint="login", methods=["POST"]),
        ], strict_slashes=False)

    # -- WSGI --------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            adapter = self.urls.bind_to_environ(environ)
            endpoint, args = adapter.match()
            if self.token and endpoint not in ("ping", "login") and \
                    request.headers.get("Authorization") != f"token={self.token}":
                response = Response("<html><body><h1>401 Unauthorized</h1></body></html>",
                                    status=401, content_type="text/html",
                                    headers={"WWW-Authenticate": "oauthjwt"})
            elif endpoint == "app" and request.method != "GET" and \
                    "/" + args["app_id"].strip("/") in self.failing:
                status = self.failing["/" + args["app_id"].strip("/")]
                response = _json({"message": f"injected failure {status}"}, status)
            else:
                with self.lock:
                    self._settle()
                    response = getattr(self, f"on_{endpoint}")(request, **args)
        except NotFound:
            response = _json({"message": "Not Found"}, 404)
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

    # -- state -------------------------------------------------------------------------

    def _settle(self) -> None:
        """Finish deployments whose time has come; one that cannot place its tasks gets as
        far as it can and stays."""
        now = time.monotonic()
        for dep in [d for d in self.deployments.values() if d.done_at <= now]:
            stored = self.apps.get(dep.app_id)
            if stored is not None and dep.outcome is not None:
                stored.tasks, dep.outcome = dep.outcome, None
            if dep.finishes:
                del self.deployments[dep.id]

    def _blocking(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.app_id == app_id]

    def _deploy(self, app_id: str, version: str, action: str) -> Deployment:
        dep = Deployment(str(uuid.uuid4()), version, app_id, action,
                         time.monotonic() + self.deploy_seconds)
        stored = self.apps.get(app_id)
        if stored is not None and action != "StopApplication":
            app, tasks = stored.definition, stored.tasks
            wanted = app["instances"]
            if action == "RestartApplication":
                stored.tasks, dep.outcome, dep.finishes = replace(app, self.nodes, tasks,
                                                                  version)
            elif len(tasks) >= wanted:  # a start of nothing, or a scale down: at once
                stored.tasks = dep.outcome = tasks[:wanted]  # the youngest go first
            else:
                dep.outcome = tasks + place(app, self.nodes, tasks, version,
                                            wanted - len(tasks))
                dep.finishes = len(dep.outcome) == wanted
        self.deployments[dep.id] = dep
        return dep

    def _info(self, app_id: str) -> dict[str, Any]:
        stored = self.apps[app_id]
        app = copy.deepcopy(stored.definition)
        running = len(stored.tasks)
        healthy = running if app.get("healthChecks") else 0
        app.update({
            "version": stored.version,
            "versionInfo": {"lastConfigChangeAt": stored.config_changed,
                            "lastScalingAt": stored.scaled},
            "tasksStaged": 0, "tasksRunning": running, "tasksHealthy": healthy,
            "tasksUnhealthy": 0, "deployments": [{"id": d.id} for d in self._blocking(app_id)],
            "tasks": [{"id": t.id, "appId": app_id, "host": t.host, "version": t.version,
                       "state": "TASK_RUNNING"} for t in stored.tasks],
            "role": "slave_public",
        })
        return app

    @staticmethod
    def _body(request: Request) -> tuple[Any, Response | None]:
        try:
            return json.loads(request.get_data(as_text=True) or "null"), None
        except ValueError as exc:
            return None, _json({"message": "Invalid JSON", "details": str(exc)}, 400)

    def _invalid(self, app: Any) -> Response | None:
        invalid: list[dict[str, Any]]
        if self.schema is None or not isinstance(app, dict):
            shape, invalid = rules.shape_errors(app), []
        else:
            # A GET body sent back is fine: Marathon reads past its AppInfo fields.
            shape, invalid = self.schema.errors(
                {k: v for k, v in app.items() if k not in rules.READ_ONLY})
        if shape:
            return _json({"message": "Invalid JSON", "details": shape}, 422)
        # What Marathon's validators check beyond the schema (PathId.scala's segments, at
        # most one Mesos health check: API-NOTES.md sections 4 and 7).
        seen = {d["path"] for d in invalid}
        invalid += [d for d in rules.semantic_errors(app) if d["path"] not in seen]
        if invalid:
            return _json({"message": "Object is not valid", "details": invalid}, 422)
        return None

    def _locked(self, app_id: str) -> Response:
        blocking = self._blocking(app_id)
        return _json({"message": "App is locked by one or more deployments. Override with the "
                      "option '?force=true'. View details at '/v2/deployments/"
                      f"{blocking[0].id}'.", "deployments": [{"id": d.id} for d in blocking]},
                     409)

    def _store(self, app: dict[str, Any]) -> tuple[Deployment, bool]:
        """Store a complete definition and start its deployment; returns it and whether
        the app is new."""
        definition = rules.with_defaults({k: v for k, v in app.items()
                                          if k not in rules.READ_ONLY})
        app_id = definition["id"]
        version = _now()
        previous = self.apps.get(app_id)
        if previous is None:
            self.apps[app_id] = StoredApp(definition, version, version, version)
            return self._deploy(app_id, version, "StartApplication"), True
        old = {k: v for k, v in previous.definition.items() if k != "instances"}
        new = {k: v for k, v in definition.items() if k != "instances"}
        if old == new and previous.definition["instances"] == definition["instances"]:
            # Identical: an empty deployment that ends at once, no restart.
            return Deployment(str(uuid.uuid4()), previous.version, app_id, "None", 0), False
        config_changed = previous.config_changed if old == new else version
        self.apps[app_id] = StoredApp(definition, version, config_changed, version,
                                      tasks=previous.tasks)
        action = "ScaleApplication" if old == new else "RestartApplication"
        return self._deploy(app_id, version, action), False

    # -- endpoints ---------------------------------------------------------------------

    def on_ping(self, request: Request) -> Response:
        if "application/json" in request.headers.get("Accept", ""):
            return _json("pong")
        return Response("pong", content_type="text/plain")

    def on_info(self, request: Request) -> Response:
        now = time.monotonic()
        self.first_asked = self.first_asked or now
        if now - self.first_asked < self.ready_after:
            return _json({"message": "no leader yet"}, 503)
        return _json({"name": "marathon", "version": VERSION, "buildref": "ngp-local",
                      "elected": True, "leader": request.host, "frameworkId": "ngp-local",
                      "marathon_config": {"mesos_role": "slave_public"},
                      "zookeeper_config": {}, "http_config": {}})

    def on_login(self, request: Request) -> Response:
        body, bad = self._body(request)
        if bad:
            return bad
        given = (body or {}).get("uid"), (body or {}).get("password")
        if self.token and self.credentials and given == self.credentials:
            return _json({"token": self.token})
        return _json({"title": "Invalid credentials", "description": "Wrong uid or password",
                      "code": "ERR_INVALID_CREDENTIALS"}, 401)

    def on_apps(self, request: Request) -> Response:
        if request.method == "GET":
            wanted, selector = request.args.get("id", "").lower(), request.args.get("label")
            try:
                return _json({"apps": [self._info(i) for i in sorted(self.apps) if wanted in i
                                       and (selector is None or rules.selects(
                                           selector, self.apps[i].definition["labels"]))]})
            except ValueError as exc:
                return _json({"message": str(exc)}, 400)
        body, bad = self._body(request)
        if bad:
            return bad
        invalid = self._invalid(body)
        if invalid:
            return invalid
        app_id = rules.absolute(body["id"])
        if app_id in self.apps:
            return _json({"message": f"An app with id [{app_id}] already exists."}, 409)
        dep, _ = self._store(body)
        info = self._info(app_id)
        return _json(info, 201, {"Location": app_id, "Marathon-Deployment-Id": dep.id})

    def on_app(self, request: Request, app_id: str) -> Response:
        app_id = rules.absolute(app_id)
        force = request.args.get("force", "false" if request.method != "DELETE" else "true")
        force_on = force.lower() == "true"
        if request.method == "GET":
            if app_id not in self.apps:
                return _json({"message": f"App '{app_id}' does not exist"}, 404)
            return _json({"app": self._info(app_id)})
        if request.method == "DELETE":
            if app_id not in self.apps:
                return _json({"message": f"App '{app_id}' does not exist"}, 404)
            if self._blocking(app_id) and not force_on:
                return self._locked(app_id)
            for dep in self._blocking(app_id):
                del self.deployments[dep.id]
            del self.apps[app_id]
            dep = self._deploy(app_id, _now(), "StopApplication")
            dep.done_at = time.monotonic()  # nothing left to wait for
            return _json({"version": dep.version, "deploymentId": dep.id}, 200,
                         {"Marathon-Deployment-Id": dep.id})
        # PUT: create or update; partialUpdate defaults to true (a merge).
        body, bad = self._body(request)
        if bad:
            return bad
        if not isinstance(body, dict):
            return _json({"message": "Invalid JSON",
                          "details": [{"path": "/", "errors": ["error.expected.jsobject"]}]}, 422)
        partial = request.args.get("partialUpdate", "true").lower() != "false"
        if partial and "version" in body and set(body) - {"version", "id"}:
            return _json({"message": "Object is not valid", "details": [{"path": "/", "errors": [
                "The 'version' field may only be combined with the 'id' field."]}]}, 422)
        if self._blocking(app_id) and not force_on:
            return self._locked(app_id)
        if force_on:
            for dep in self._blocking(app_id):
                del self.deployments[dep.id]
        body = {k: v for k, v in body.items() if k != "version"}
        current = self.apps.get(app_id)
        if partial and current is not None:
            body = {**current.definition, **body}
        body["id"] = app_id  # the URL wins
        invalid = self._invalid(body)
        if invalid:
            return invalid
        dep, created = self._store(body)
        return _json({"version": dep.version, "deploymentId": dep.id}, 201 if created else 200,
                     {"Marathon-Deployment-Id": dep.id})

    def on_deployments(self, request: Request) -> Response:
        return _json([d.info() for d in self.deployments.values()])

    def on_deployment(self, request: Request, dep_id: str) -> Response:
        if dep_id not in self.deployments:
            return _json({"message": f"DeploymentPlan {dep_id} does not exist"}, 404)
        del self.deployments[dep_id]
        if request.args.get("force", "false").lower() == "true":
            return Response(status=202)
        rollback = self._deploy("/", _now(), "RollbackApplication")
        rollback.done_at = time.monotonic()
        return _json({"version": rollback.version, "deploymentId": rollback.id})

    def on_groups(self, request: Request) -> Response:
        return _json({"id": "/", "apps": [self._info(i) for i in sorted(self.apps)],
                      "groups": [], "pods": [], "dependencies": [], "version": _now(),
                      "enforceRole": False})
