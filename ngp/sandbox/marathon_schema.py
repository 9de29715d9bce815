"""Marathon's own validation of an app definition, for the local Marathon: the official
`AppDefinition.json`, found at run time (never copied into ngp), so that the definitions ngp
builds are checked against Marathon's rules and not against ngp's own (ngp/marathon/rules.py).

The folder comes from $NGP_MARATHON_SCHEMA (tests and CI point it at
../shared/reference/marathon/schema). The schema is Marathon 1.7's, the last one Marathon
published (shared/reference/marathon/README.md); the top-level fields Marathon added since
(raml/v2/types/app.raml of Marathon 1.11: check, resourceLimits, tty, role) are allowed on top
of it, since the local Marathon answers as 1.11 does.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA_VARIABLE = "NGP_MARATHON_SCHEMA"
# What Marathon 1.8 to 1.11 know at the top level that the 1.7 schema does not
# (raml/v2/types/app.raml, App: check, resourceLimits, tty, role with minLength 1).
NEWER_FIELDS: dict[str, Any] = {
    "check": {"type": "object"},
    "resourceLimits": {"type": "object"},
    "tty": {"type": "boolean"},
    "role": {"type": "string", "minLength": 1},
}
# play-json's codes for a value of the wrong type ("Invalid JSON", API-NOTES.md section 3).
EXPECTED = {"integer": "error.expected.jsnumber", "number": "error.expected.jsnumber",
            "string": "error.expected.jsstring", "array": "error.expected.jsarray",
            "object": "error.expected.jsobject", "boolean": "error.expected.jsboolean"}

log = logging.getLogger("ngp.sandbox")


class Schema:
    """The official app schema, as a validator giving Marathon's 422 details."""

    def __init__(self, folder: Path) -> None:
        import jsonschema

        schema = json.loads((folder / "AppDefinition.json").read_text())
        schema["properties"] = {**schema["properties"], **NEWER_FIELDS}
        self.folder = folder
        self.validator = jsonschema.Draft4Validator(schema)

    def errors(self, app: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The definition's faults as Marathon's {path, errors} details: (wrong types, for an
        "Invalid JSON" answer; the rest, for "Object is not valid")."""
        shape: dict[str, list[str]] = {}
        invalid: dict[str, list[str]] = {}
        for error in self.validator.iter_errors(app):
            path = _path(error.absolute_path)
            if error.validator == "type" and isinstance(error.validator_value, str):
                shape.setdefault(path, []).append(
                    EXPECTED.get(error.validator_value, error.message))
            else:
                invalid.setdefault(path, []).append(error.message)
        return ([{"path": p, "errors": e} for p, e in sorted(shape.items())],
                [{"path": p, "errors": e} for p, e in sorted(invalid.items())])


def _path(parts: Iterable[Any]) -> str:
    """A path as Marathon writes it: /healthChecks(0)/portIndex, indices in parentheses."""
    out = ""
    for part in parts:
        out += f"({part})" if isinstance(part, int) else f"/{part}"
    return out or "/"


def load(folder: str | Path | None = None) -> Schema | None:
    """The schema from `folder` (default $NGP_MARATHON_SCHEMA), or None (with a line in the
    sandbox's log) when there is none: the local Marathon then falls back to ngp's rules."""
    where = folder or os.environ.get(SCHEMA_VARIABLE)
    if not where or not (Path(where) / "AppDefinition.json").is_file():
        log.warning("local Marathon: no AppDefinition.json (set %s to Marathon's schema "
                    "folder); app definitions are checked with ngp's own rules only",
                    SCHEMA_VARIABLE)
        return None
    try:
        return Schema(Path(where).resolve())  # one name for the folder, however given
    except ImportError:
        log.warning("local Marathon: jsonschema is not installed; app definitions are "
                    "checked with ngp's own rules only")
        return None
