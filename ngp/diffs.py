"""Field values as lines, and line diffs of them with the unchanged runs folded (as
Terraform shows a policy or a script that changed). Plain strings in, (mark, line) pairs out;
the plan printer (ngp/render.py) colours them.

    >>> line_diff(["a", "b", "c"], ["a", "B", "c"], context=1)
    [(' ', 'a'), ('-', 'b'), ('+', 'B'), (' ', 'c')]
"""

from __future__ import annotations

import json
from typing import Any

from ngp.graph import UNKNOWN, Ref, is_secret_ref

SHORT = 80  # JSON shorter than this, on one line, stays on one line
CONTEXT = 3  # unchanged lines shown around each change
CREATE_LINES = 8  # lines of a new value shown before the rest is folded

Line = tuple[str, str]  # (" " unchanged, "-" removed, "+" added, "…" a fold), text


def as_lines(value: Any) -> list[str] | None:
    """value over several lines, or None for a value one line shows (scalars, short JSON,
    lists of plain values, secrets, values known after apply).

    JSON (a dict, a list holding dicts or lists, text that is a JSON document) is
    pretty-printed with sorted keys, so the same document gives the same lines whatever
    order its keys came in; text with line breaks (user data, scripts) is split at them."""
    if value is UNKNOWN or isinstance(value, Ref) or is_secret_ref(value):
        return None
    if isinstance(value, str):
        if "\n" in value.rstrip("\n"):
            return value.splitlines()
        value = _json_text(value)
        if value is None:
            return None
    if isinstance(value, list) and (records(value) is not None
                                    or not any(isinstance(x, dict | list) for x in value)):
        return None  # plain values or short records: shown, and diffed, item by item
    if not isinstance(value, dict | list):
        return None
    if len(json.dumps(value, default=repr)) < SHORT:
        return None
    return json.dumps(value, indent=2, sort_keys=True, default=repr).splitlines()


def records(value: Any) -> list[str] | None:
    """A list of flat objects (security group rules: no object or list inside) as one line
    of JSON each; else None."""
    if not isinstance(value, list) or not value or not all(
            isinstance(x, dict) and not any(isinstance(v, dict | list) for v in x.values())
            for x in value):
        return None
    return [json.dumps(x, default=repr) for x in value]


def _json_text(text: str) -> Any:
    """The document a string holds, if it is a JSON object or array; else None."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def line_diff(old: list[str], new: list[str], context: int = CONTEXT) -> list[Line]:
    """The changed lines with `context` unchanged ones around each change; longer unchanged
    runs are one ("…", "N unchanged lines") entry (a run of one line is shown instead)."""
    import difflib  # only a plan with a changed block needs it

    out: list[Line] = []
    shown_to = 0  # old[:shown_to] is accounted for
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        out += _skipped(old, shown_to, group[0][1])
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [(" ", line) for line in old[i1:i2]]
                continue
            out += [("-", line) for line in old[i1:i2]]
            out += [("+", line) for line in new[j1:j2]]
        shown_to = group[-1][2]
    return out + _skipped(old, shown_to, len(old))


def _skipped(old: list[str], start: int, end: int) -> list[Line]:
    if end - start == 1:
        return [(" ", old[start])]
    return [("…", f"{end - start} unchanged lines")] if end > start else []


def fold(lines: list[str], keep: int = CREATE_LINES) -> list[Line]:
    """The first `keep` lines of a new value, then ("…", "(N more lines)")."""
    if len(lines) <= keep + 1:
        return [(" ", line) for line in lines]
    return [(" ", line) for line in lines[:keep]] + [("…", f"({len(lines) - keep} more lines)")]
