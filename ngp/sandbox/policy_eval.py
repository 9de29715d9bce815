"""IAM's policy evaluation, for the parts ngp's policies use: Allow and Deny statements with
Action/NotAction, Resource/NotResource and the String and Arn condition operators, an identity's
policies capped by its permissions boundary.

moto can enforce identity policies (INITIAL_NO_AUTH_ACTION_COUNT), but not these: it checks
most requests against the resource "*" (so a statement scoped to the env's ARNs never
matches), and it answers a statement whose Condition it cannot verify with a Deny, even an
Allow's (moto/iam/access_control.py, 5.2.5). This follows AWS's logic instead:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- an explicit Deny in any policy wins; else an Allow in the identity's policies is needed, and
  (when the identity has a boundary) an Allow in the boundary too;
- the values of one condition key are ORed, the keys and operators of a statement ANDed; a
  key missing from the request makes a positive operator false and a negated one true, and
  an ...IfExists one true:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitly denied", "implicitly denied"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, case: bool = True) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _condition(operator: str, wanted: Any, value: Any) -> bool:
    negated = "Not" in operator
    if value is None:  # the key is not in the request: ...IfExists holds then
        return negated or operator.endswith("IfExists")
    base = operator.replace("Not", "").replace("IfExists", "")
    values = [str(v) for v in _listed(value)]
    if base in ("StringEquals", "ArnEquals"):
        hit = any(w == v for w in _listed(wanted) for v in values)
    elif base in ("StringLike", "ArnLike"):
        hit = any(_wildcard(w, v) for w in _listed(wanted) for v in values)
    else:
        raise ValueError(f"condition operator {operator} is not modelled")
    return not hit if negated else hit


@dataclass(frozen=True)
class Request:
    """What IAM decides on: the action, the resource's ARN, and the request's context keys."""

    action: str
    resource: str | None  # None: not known (the sandbox cannot name it): action only
    context: dict[str, Any] = field(default_factory=dict)


def _applies(statement: dict[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not any(_wildcard(a, request.action, case=False) for a in _listed(statement["Action"])):
            return False
    elif any(_wildcard(a, request.action, case=False) for a in _listed(statement["NotAction"])):
        return False
    if request.resource is None:  # judged by action: an Allow counts, a Deny cannot be placed
        return statement["Effect"] == "Allow"
    if "Resource" in statement:
        if not any(_wildcard(r, request.resource) for r in _listed(statement["Resource"])):
            return False
    elif any(_wildcard(r, request.resource) for r in _listed(statement["NotResource"])):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not _condition(operator, wanted, request.context.get(key)):
                return False
    return True


def _effects(documents: Iterable[dict[str, Any]], request: Request) -> set[str]:
    return {s["Effect"] for d in documents for s in _listed(d["Statement"]) if _applies(s, request)}


def decide(policies: Iterable[dict[str, Any]], request: Request,
           boundary: dict[str, Any] | None = None) -> str:
    """ALLOWED, EXPLICIT_DENY or IMPLICIT_DENY for an identity with these policies (and this
    permissions boundary) making the request."""
    identity = _effects(policies, request)
    capped = _effects([boundary], request) if boundary is not None else {"Allow"}
    if "Deny" in identity or "Deny" in capped:
        return EXPLICIT_DENY
    return ALLOWED if "Allow" in identity and "Allow" in capped else IMPLICIT_DENY
