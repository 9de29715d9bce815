"""What Marathon (1.5 to 1.11) does to an app definition, as data: the id rules, the fields
it adds on read, its defaults, and the fields it stores as sets. The client, the local
Marathon and the planner all use these, so they agree. Source: shared/reference/marathon."""

from __future__ import annotations

import copy
import re
from typing import Any

SEGMENT = re.compile(
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
RESERVED_LAST = {"restart", "tasks", "versions"}

# Keys a GET adds that are not part of the definition.
READ_ONLY = frozenset({
    "version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
    "deployments", "tasks", "lastTaskFailure", "readinessCheckResults", "tasksStats",
})

DEFAULTS: dict[str, Any] = {
    "instances": 1, "cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0,
    "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
    "executor": "", "requirePorts": False, "killSelection": "YOUNGEST_FIRST",
    "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
    "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
    "networks": [{"mode": "host"}], "labels": {}, "env": {}, "constraints": [], "fetch": [],
    "dependencies": [], "secrets": {}, "healthChecks": [], "readinessChecks": [],
}
HEALTH_CHECK_DEFAULTS = {"gracePeriodSeconds": 300, "intervalSeconds": 60,
                         "timeoutSeconds": 20, "maxConsecutiveFailures": 3,
                         "delaySeconds": 15, "ignoreHttp1xx": False}
DOCKER_DEFAULTS = {"privileged": False, "forcePullImage": False, "parameters": []}
MESOS_HEALTH = {"MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP", "COMMAND"}


def id_errors(app_id: Any) -> list[str]:
    """Why an app id would be refused (empty when it is valid)."""
    if not isinstance(app_id, str) or not app_id.strip("/"):
        return ["an app id is a non-empty path like /platform/registry"]
    segments = app_id.strip("/").split("/")
    errors = [f"segment {s!r} must be lower-case letters, digits, '-' and '.', and not start "
              "or end with '-'" for s in segments if not SEGMENT.match(s)]
    if segments[-1] in RESERVED_LAST:
        errors.append(f"the last segment may not be {segments[-1]!r}")
    return errors


def absolute(app_id: str) -> str:
    return "/" + app_id.strip("/")


def with_defaults(app: dict[str, Any]) -> dict[str, Any]:
    """The definition as Marathon stores it: defaults filled in, at every level ngp uses."""
    out = copy.deepcopy(app)
    out["id"] = absolute(out["id"])
    for key, value in DEFAULTS.items():
        out.setdefault(key, copy.deepcopy(value))
    out["healthChecks"] = [{**HEALTH_CHECK_DEFAULTS, **({"portIndex": 0} if "port" not in hc
                            and hc.get("protocol") not in ("COMMAND",) else {}), **hc}
                           for hc in out["healthChecks"]]
    out["dependencies"] = [absolute(d) for d in out["dependencies"]]
    container = out.get("container")
    if isinstance(container, dict):
        container.setdefault("volumes", [])
        if isinstance(container.get("docker"), dict):
            container["docker"] = {**DOCKER_DEFAULTS, **container["docker"]}
        container["portMappings"] = [{"hostPort": 0, "protocol": "tcp", "labels": {}, **pm}
                                     for pm in container.get("portMappings", [])]
        if not container["portMappings"]:
            del container["portMappings"]
    return out


def comparable(app: dict[str, Any]) -> dict[str, Any]:
    """A definition in a form where equal apps compare equal: defaults filled, read-only keys
    dropped, sets sorted, and ports Marathon assigns (service ports) left out."""
    out = {k: v for k, v in with_defaults(app).items() if k not in READ_ONLY}
    out["constraints"] = sorted([list(c[:2]) + [x for x in c[2:] if x != ""]
                                 for c in out["constraints"]], key=repr)
    for key in ("healthChecks", "dependencies", "acceptedResourceRoles"):
        if isinstance(out.get(key), list):
            out[key] = sorted(out[key], key=repr)
    container = out.get("container")
    if isinstance(container, dict):
        for pm in container.get("portMappings", []):
            pm.pop("servicePort", None)
    # Host networking: a port is Marathon's to assign, unless requirePorts makes the given
    # ports the host ports (marathon-lb's 80 and 443), which are then the definition.
    if not out.get("requirePorts"):
        for pd in out.get("portDefinitions", []) or []:
            pd.pop("port", None)
    out.pop("role", None)  # Marathon 1.9+ fills in its Mesos role
    return out


def semantic_errors(app: dict[str, Any]) -> list[dict[str, Any]]:
    """What Marathon's validation refuses with 422, in its own {path, errors} shape."""
    details = []
    if id_errors(app.get("id")):
        details.append({"path": "/id", "errors": id_errors(app.get("id"))})
    for key in ("instances", "cpus", "mem", "disk"):
        if isinstance(app.get(key), int | float) and app[key] < 0:
            details.append({"path": f"/{key}",
                            "errors": [f"got {app[key]}, expected 0 or more"]})
    strategy = app.get("upgradeStrategy") or {}
    for key in ("minimumHealthCapacity", "maximumOverCapacity"):
        value = strategy.get(key)
        if isinstance(value, int | float) and not 0 <= value <= 1:
            details.append({"path": f"/upgradeStrategy/{key}",
                            "errors": ["is greater than 1" if value > 1 else "is less than 0"]})
    mesos_checks = [hc for hc in app.get("healthChecks") or []
                    if isinstance(hc, dict) and hc.get("protocol") in MESOS_HEALTH]
    if len(mesos_checks) > 1:
        details.append({"path": "/healthChecks",
                        "errors": ["AppDefinition can contain at most one Mesos health check"]})
    for index, dep in enumerate(app.get("dependencies") or []):
        if id_errors(dep):
            details.append({"path": f"/dependencies({index})", "errors": id_errors(dep)})
    return details


TYPES: dict[str, type | tuple[type, ...]] = {
    "instances": int, "cpus": (int, float), "mem": (int, float), "disk": (int, float),
    "cmd": str, "args": list, "env": dict, "labels": dict, "constraints": list,
    "healthChecks": list, "dependencies": list, "fetch": list, "container": dict,
    "networks": list, "acceptedResourceRoles": list}
EXPECTED: dict[type, str] = {int: "error.expected.jsnumber", str: "error.expected.jsstring",
            list: "error.expected.jsarray", dict: "error.expected.jsobject"}


def shape_errors(app: Any) -> list[dict[str, Any]]:
    """What Marathon's JSON readers refuse (wrong types): its "Invalid JSON" details."""
    if not isinstance(app, dict):
        return [{"path": "/", "errors": ["error.expected.jsobject"]}]
    details = []
    for key, expected in TYPES.items():
        if key in app and (not isinstance(app[key], expected)
                           or isinstance(app[key], bool)):
            kind = expected[0] if isinstance(expected, tuple) else expected
            details.append({"path": f"/{key}", "errors": [EXPECTED[kind]]})
    if "labels" in app and isinstance(app["labels"], dict):
        for name, value in app["labels"].items():
            if not isinstance(value, str):
                details.append({"path": f"/labels/{name}", "errors": ["error.expected.jsstring"]})
    return details


# Label selectors (GET /v2/apps?label=, raml/v2/apps.raml): comma-separated, all must hold;
# a name or value outside -A-Za-z0-9_. has its other characters backslash-escaped.
_PLAIN = re.compile(r"[^-A-Za-z0-9_.]")
_TERM = r"(?:\\.|[-A-Za-z0-9_.])+"
_SELECTOR = re.compile(
    rf"^\s*(?P<key>{_TERM})\s*(?:(?P<op>==|!=)\s*(?P<value>{_TERM})"
    rf"|\s(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")


def label_equals(key: str, value: str) -> str:
    """The selector `key==value`, escaped as Marathon reads it."""
    def escape(text: str) -> str:
        return _PLAIN.sub(lambda m: "\\" + m.group(), text)
    return f"{escape(key)}=={escape(value)}"


def _split(text: str) -> list[str]:
    """Split on the commas outside parentheses and escapes."""
    parts, depth, current, escaped = [], 0, "", False
    for char in text:
        if escaped:
            current, escaped = current + char, False
            continue
        if char == "\\":
            escaped = True
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def selects(selector: str, labels: dict[str, str]) -> bool:
    """Whether labels satisfy a label selector; ValueError for one Marathon cannot parse."""
    def plain(term: str) -> str:
        return re.sub(r"\\(.)", r"\1", term.strip())

    for part in _split(selector):
        found = _SELECTOR.match(part)
        if found is None:
            raise ValueError(f"invalid label selector: {part!r}")
        key = plain(found["key"])
        if key not in labels:
            return False
        if found["op"] and (labels[key] == plain(found["value"])) != (found["op"] == "=="):
            return False
        if found["set"]:
            values = {plain(v) for v in _split(found["values"])}
            if (labels[key] in values) != (found["set"] == "in"):
                return False
    return True
