"""A local Marathon: a real HTTP server that answers like Marathon 1.11 for what ngp uses.

Deployments take `deploy_seconds` before an app's tasks count as running (and healthy, when
it has health checks); while one runs, changing the app without force is a 409 naming it.
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
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ngp.marathon import rules
from ngp.sandbox import marathon_schema

VERSION = "1.11.23"


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
    running: int = 0  # tasks of the deployed version


@dataclass
class LocalMarathon:
    deploy_seconds: float = 0.5
    token: str | None = None
    credentials: tuple[str, str] | None = None  # uid, password for the login endpoint
    failing: dict[str, int] = field(default_factory=dict)  # app id -> status of its writes
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
        """Finish deployments whose time has come."""
        now = time.monotonic()
        for dep in [d for d in self.deployments.values() if d.done_at <= now]:
            stored = self.apps.get(dep.app_id)
            if stored is not None:
                stored.running = stored.definition["instances"]
            del self.deployments[dep.id]

    def _blocking(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.app_id == app_id]

    def _deploy(self, app_id: str, version: str, action: str) -> Deployment:
        dep = Deployment(str(uuid.uuid4()), version, app_id, action,
                         time.monotonic() + self.deploy_seconds)
        self.deployments[dep.id] = dep
        return dep

    def _info(self, app_id: str) -> dict[str, Any]:
        stored = self.apps[app_id]
        app = copy.deepcopy(stored.definition)
        running = stored.running
        healthy = running if app.get("healthChecks") else 0
        app.update({
            "version": stored.version,
            "versionInfo": {"lastConfigChangeAt": stored.config_changed,
                            "lastScalingAt": stored.scaled},
            "tasksStaged": 0, "tasksRunning": running, "tasksHealthy": healthy,
            "tasksUnhealthy": 0, "deployments": [{"id": d.id} for d in self._blocking(app_id)],
            "tasks": [], "role": "slave_public",
        })
        return app

    @staticmethod
    def _body(request: Request) -> tuple[Any, Response | None]:
        try:
            return json.loads(request.get_data(as_text=True) or "null"), None
        except ValueError as exc:
            return None, _json({"message": "Invalid JSON", "details": str(exc)}, 400)

    def _invalid(self, app: Any) -> Response | None:
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
                                      running=previous.running if old == new else 0)
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
            wanted = request.args.get("id", "").lower()
            return _json({"apps": [self._info(i) for i in sorted(self.apps) if wanted in i]})
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
