"""A saved plan: `ngp plan --out FILE` writes it, `ngp up FILE` applies exactly it.

The file holds every change with what apply needs (its spec template, its dependencies,
what the update starts from) and what it was planned against: the env, the state's lineage
and serial, the env file's digest and ngp's version. Applying it to a state that moved on,
or with an env file that changed, is refused, as Terraform refuses a stale plan ("Saved
plan is stale", https://developer.hashicorp.com/terraform/cli/commands/apply).

Values a step computes later stay symbolic: a Ref is {"$ref": [address, output]}, a Format
{"$format": template, "values": ...}, a Derived {"$derived": "module:function", "data": ...}
(only ngp's own module-level functions), a value known after apply {"$unknown": true}. No
secret value is in it: specs hold {"secret": ARN} references, as the state does.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ngp import __version__
from ngp.errors import NgpError
from ngp.graph import UNKNOWN, Derived, Format, Ref
from ngp.plan import Action, Change, FieldChange, Plan
from ngp.state import State

FORMAT = "ngp-plan/1"


def settings_digest(path: Path) -> str:
    """The env file's digest: a saved plan is applied with the settings it was made with."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encode(value: Any) -> Any:
    if value is UNKNOWN:
        return {"$unknown": True}
    if isinstance(value, Ref):
        return {"$ref": [value.address, value.output]}
    if isinstance(value, Format):
        return {"$format": value.template, "values": encode(value.values)}
    if isinstance(value, Derived):
        return {"$derived": _function_name(value.function), "data": encode(value.data)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()  # a live object's timestamp, shown, never compared
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$unknown" in value:
            return UNKNOWN
        if "$ref" in value:
            address, output = value["$ref"]
            return Ref(address, output)
        if "$format" in value:
            return Format(value["$format"], **decode(value["values"]))
        if "$derived" in value:
            return Derived(_function(value["$derived"]), decode(value["data"]))
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _function_name(function: Any) -> str:
    name = f"{function.__module__}:{function.__qualname__}"
    if not function.__module__.startswith("ngp.") or "<" in function.__qualname__:
        raise RuntimeError(f"a Derived value's function must be a module-level function of "
                           f"ngp to be saved in a plan, not {name}")
    return name


def _function(name: str) -> Any:
    module, _, qualname = name.partition(":")
    function = None
    if module.startswith("ngp.") and qualname.isidentifier():
        try:
            function = getattr(importlib.import_module(module), qualname, None)
        except ImportError:
            function = None
    if not callable(function):
        raise _damaged(f"it names a function ngp does not have ({name})")
    return function


def save(plan: Plan, path: Path, digest: str) -> None:
    """Write the plan to path, atomically (a half-written plan is never read)."""
    doc = {
        "format": FORMAT, "ngp_version": __version__, "env": plan.env,
        "lineage": plan.lineage, "serial": plan.serial, "settings_digest": digest,
        "destroy": plan.destroy, "refresh_only": plan.refresh_only,
        "outputs": encode(plan.outputs),
        "changes": [_encode_change(c) for c in plan.actionable],
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=1, sort_keys=False)
        out.write("\n")
    os.replace(tmp, path)


def _encode_change(change: Change) -> dict[str, Any]:
    return {
        "address": change.address, "kind": change.kind, "action": str(change.action),
        "id": change.id, "module": change.module, "reason": change.reason,
        "deps": list(change.deps), "spec": encode(change.spec),
        "before": encode(change.before), "adopted": encode(change.adopted),
        "fields": [{"name": f.name, "old": encode(f.old), "new": encode(f.new),
                    "forces_replacement": f.forces_replacement} for f in change.fields],
    }


class SavedPlan:
    """A plan read from a file, with what it was planned against."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.path = path
        self.digest: str = doc["settings_digest"]
        self.version: str = doc["ngp_version"]
        self.plan = Plan(
            env=doc["env"], destroy=bool(doc["destroy"]), lineage=doc["lineage"],
            serial=int(doc["serial"]), outputs=decode(doc["outputs"]),
            refresh_only=bool(doc.get("refresh_only", False)),
            changes=tuple(_decode_change(c) for c in doc["changes"]))

    def check_fresh(self, state: State, digest: str) -> None:
        """Refuse to apply the plan to anything but what it was made from."""
        plan, where = self.plan, str(self.path)
        again = f"Make a new plan: ngp plan --env {plan.env} --out {self.path.name}"
        if self.version != __version__:
            raise NgpError(f"the plan was made by ngp {self.version}, this is ngp "
                           f"{__version__}", where=where, hint=again)
        if state.lineage != plan.lineage:
            raise NgpError(f"the plan is for another state of env {plan.env!r} (lineage "
                           f"{plan.lineage}, the state's is {state.lineage})", where=where,
                           hint=again)
        if state.serial != plan.serial:
            raise NgpError(f"the plan is stale: the state moved on since it was made (serial "
                           f"{state.serial}, the plan's {plan.serial})", where=where,
                           hint=again)
        if digest != self.digest:
            raise NgpError(f"the plan is stale: envs/{plan.env}.toml changed since it was "
                           "made", where=where, hint=again)


def _decode_change(doc: dict[str, Any]) -> Change:
    return Change(
        address=doc["address"], kind=doc["kind"], action=Action(doc["action"]), id=doc["id"],
        module=doc["module"], reason=doc["reason"], deps=tuple(doc["deps"]),
        spec=decode(doc["spec"]), before=decode(doc["before"]),
        adopted=decode(doc.get("adopted", {})),
        fields=tuple(FieldChange(f["name"], decode(f["old"]), decode(f["new"]),
                                 bool(f["forces_replacement"])) for f in doc["fields"]))


def _damaged(why: str) -> NgpError:
    return NgpError(f"not a plan ngp can apply: {why}",
                    hint="Use a file written by `ngp plan --out FILE`, unchanged.")


def load(path: Path) -> SavedPlan:
    """Read a saved plan; anything else is one clear line naming the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise NgpError(f"no plan file {path}", hint="Write one with `ngp plan --out "
                       f"{path}`.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NgpError(f"{path} is not a saved plan ({exc})",
                       hint="Use a file written by `ngp plan --out FILE`.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NgpError(f"{path} is not a saved plan of this ngp (format "
                       f"{doc.get('format') if isinstance(doc, dict) else None!r}, want "
                       f"{FORMAT})", hint="Make it again with `ngp plan --out FILE`.")
    try:
        return SavedPlan(path, doc)
    except NgpError as exc:
        exc.where = str(path)
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise NgpError(f"{path} is damaged ({type(exc).__name__}: {exc})",
                       hint="Make it again with `ngp plan --out FILE`.") from None
