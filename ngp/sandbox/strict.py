"""The strict layer: AWS's rules that moto does not enforce, between botocore and moto.

moto accepts much that AWS refuses (a bucket name another account holds, a subnet in a zone
the region lacks, a role EC2 cannot see yet, ...), so a test that passes against moto alone
proves only that ngp agrees with moto. Each rule here is named, cites the AWS documentation
it follows, and refuses with AWS's own error code and message; `ngp sandbox rules` lists
them and `ngp sandbox start --lenient NAME` turns one off, for diagnosis only.

A rule sees each request before moto (`before`, which raises `Refusal` to answer as AWS
would) and may look at, or rewrite, moto's answer (`after`). Rules run in the sandbox's own
process, so they may read moto's backends directly (`backend`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs

from ngp.errors import NgpError
from ngp.sandbox.model import operation, request_body

DEFAULT_ACCOUNT = "123456789012"  # moto's account for any access key it does not know
CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class Refusal(Exception):
    """AWS's answer to a request it refuses: HTTP status, error code, message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass
class Call:
    """One AWS request as the rules see it."""

    service: str  # the SigV4 signing name: ec2, iam, s3, elasticloadbalancing, lambda, es ...
    region: str
    access_key: str
    operation: str  # CreateSubnet, CreateBucket (REST calls: as sandbox.model names them)
    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, Any]  # query-protocol form (flattened keys), or the JSON body
    headers: dict[str, str]
    body: bytes

    @property
    def account(self) -> str:
        try:
            from moto.iam.models import get_account_id_from

            return str(get_account_id_from(self.access_key))
        except Exception:  # moto moved it: its default account
            return DEFAULT_ACCOUNT

    def param(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name, default)
        return value[0] if isinstance(value, list) and len(value) == 1 else value

    def listed(self, prefix: str) -> list[str]:
        """A query-protocol list: Prefix.1, Prefix.2, ... (or Prefix.member.N)."""
        pattern = re.compile(re.escape(prefix) + r"(?:\.member)?\.(\d+)$")
        items = sorted((int(m.group(1)), self.param(k)) for k in self.params
                       if (m := pattern.match(k)))
        return [v for _, v in items]


@dataclass
class Answer:
    """moto's answer, which an `after` may rewrite."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


SYNTAX, AUTHORIZATION, STATE = 0, 1, 2


class Rule:
    """One rule AWS enforces and moto does not. Subclasses set the three class fields."""

    name: ClassVar[str]  # "<service>.<what>", e.g. "s3.global-bucket-names"
    summary: ClassVar[str]  # what AWS does, in one line
    source: ClassVar[str]  # the AWS document that says so
    # AWS checks a request's shape before whom it is from, and both before the state of
    # things: a malformed value is a ValidationException even for a role not yet seen.
    phase: ClassVar[int] = STATE  # or SYNTAX, AUTHORIZATION

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget what the rule remembered (moto's state was reset)."""

    def before(self, call: Call) -> None:
        """Raise Refusal to answer the request as AWS would, instead of moto."""

    def after(self, call: Call, answer: Answer) -> None:
        """Look at moto's answer (remember a creation time, say) or change it in place."""


RULES: dict[str, type[Rule]] = {}
R = TypeVar("R", bound=type[Rule])


def rule(cls: R) -> R:
    """Register a rule class under its name; a second registration is a bug."""
    if cls.name in RULES:
        raise RuntimeError(f"sandbox rule {cls.name!r} is registered twice")
    RULES[cls.name] = cls
    return cls


def all_rules() -> dict[str, type[Rule]]:
    import ngp.sandbox.rules  # noqa: F401  (each family registers its rules)

    return RULES


def check_lenient(names: Iterable[str]) -> list[str]:
    """The names given to --lenient, each checked to be a rule."""
    known = all_rules()
    names = [n for n in names if n]
    for name in names:
        if name not in known:
            raise NgpError(f"--lenient {name!r}: there is no such sandbox rule",
                           hint="`ngp sandbox rules` lists them.")
    return names


MODELLED = {"on": False}  # under --model (set by the sandbox): slow states take no time


def ends_at(seconds: float) -> float:
    """When a slow state (pending, processing, out of service) that lasts `seconds` here ends.
    Under --model the create call itself already took AWS's modelled time."""
    return time.monotonic() + (0.0 if MODELLED["on"] else seconds)


def backend(service: str, call: Call) -> Any:
    """moto's backend of a service for the call's account and region."""
    from moto.backends import get_backend

    backends = get_backend(service)  # type: ignore[call-overload]
    region = "global" if service in ("iam", "route53") else call.region
    return backends[call.account][region]


# -- how AWS's protocols say "error" ------------------------------------------------------

QUERY_XML = {"iam", "sts", "elasticloadbalancing", "autoscaling", "sns", "sqs", "rds"}
REST_XML = {"route53", "cloudfront"}


def render(call: Call, refusal: Refusal) -> tuple[str, list[tuple[str, str]], bytes]:
    """The refusal in the protocol botocore expects from the call's service."""
    status = f"{refusal.status} {HTTPStatus(refusal.status).phrase}"
    code, message = refusal.code, _xml_escape(refusal.message)
    if call.headers.get("x-amz-target"):  # JSON protocol
        body = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1")], body
    if call.service == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>"
                f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>ngp-strict</RequestID></Response>").encode()
        return status, [("Content-Type", "text/xml")], body
    if call.service in QUERY_XML or call.service in REST_XML:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>ngp-strict</RequestId>"
                "</ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml")], body
    if call.service == "s3":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message><RequestId>ngp-strict</RequestId>"
                "</Error>").encode()
        return status, [("Content-Type", "application/xml")], body
    # REST-JSON (Lambda, OpenSearch, API Gateway, ...): the code in a header and the body.
    body = json.dumps({"message": refusal.message, "Message": refusal.message,
                       "Type": "User", "__type": refusal.code}).encode()
    return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", refusal.code)], \
        body


def _failed(r: Rule, call: Call) -> Refusal:
    """A rule that raised: logged with its traceback, answered as AWS answers its own
    failures (InternalError, 500), which botocore retries."""
    logging.getLogger("ngp.sandbox").exception(
        "strict rule %s failed on %s.%s", r.name, call.service, call.operation)
    return Refusal("InternalError", f"the sandbox's rule {r.name} failed; see its log",
                   status=500)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_call(environ: dict[str, Any]) -> Call | None:
    """The AWS request of a WSGI environ, or None for what is not one (moto's own API)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    found = CREDENTIAL.search(auth)
    if not found:
        return None
    body = request_body(environ)
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
               if k.startswith("HTTP_")}
    if "CONTENT_TYPE" in environ:
        headers["content-type"] = environ["CONTENT_TYPE"]
    params: dict[str, Any] = {}
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if headers.get("x-amz-target") or headers.get("content-type", "").startswith(
            "application/json") or body[:1] in (b"{", b"["):
        try:
            loaded = json.loads(body or b"{}")
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
    elif b"Action=" in body:
        params = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    elif "Action" in query:
        params = dict(query)
    return Call(service=found.group(3), region=found.group(2), access_key=found.group(1),
                operation=operation(environ, body), method=environ.get("REQUEST_METHOD", "GET"),
                path=environ.get("PATH_INFO", "/"), query=query, params=params,
                headers=headers, body=body)


@dataclass
class Strict:
    """WSGI middleware: every rule but the lenient ones, in front of moto."""

    app: Any
    lenient: frozenset[str] = frozenset()
    rules: list[Rule] = field(init=False)
    refused: dict[str, int] = field(init=False)  # rule -> requests it refused

    def __post_init__(self) -> None:
        self.rules = [cls() for cls in sorted(all_rules().values(),
                                              key=lambda c: (c.phase, c.name))
                      if cls.name not in self.lenient]
        self.refused = {}
        self._lock = threading.Lock()
        # One request at a time through the rules and moto. The rules read moto's backends
        # (instances, groups, balancers) while the server's other threads change them, and
        # moto's own models are not thread-safe either: iterating a dict another request
        # grows raised, and the request answered werkzeug's HTML page (CI found it). It also
        # makes S3's and DynamoDB's conditional writes atomic, as AWS guarantees. Latency,
        # faults and the model's call times wait outside, so calls still overlap in time.
        self._one_at_a_time = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._one_at_a_time:
            if environ.get("PATH_INFO") == "/moto-api/reset":
                for r in self.rules:
                    with r.lock:
                        r.reset()
                return list(self.app(environ, start_response))
            call = parse_call(environ)
            if call is None:
                return list(self.app(environ, start_response))
            try:
                return self._strictly(call, environ, start_response)
            except Refusal as refusal:  # a rule failed, not refused: AWS's bare 500, retried
                status, headers, body = render(call, refusal)
                start_response(status, [*headers, ("Content-Length", str(len(body)))])
                return [body]

    def _strictly(self, call: Call, environ: dict[str, Any], start_response: Any) -> Any:
        for r in self.rules:
            try:
                r.before(call)
            except Refusal as refusal:
                with self._lock:
                    self.refused[r.name] = self.refused.get(r.name, 0) + 1
                status, headers, body = render(call, refusal)
                start_response(status, [*headers, ("Content-Length", str(len(body))),
                                        ("x-ngp-strict-rule", r.name)])
                return [body]
            except Exception as exc:
                raise _failed(r, call) from exc
        captured: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None  # bodies are returned, not written

        chunks = self.app(environ, start)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        answer = Answer(int(captured["status"].split()[0]), list(captured["headers"]), body)
        for r in self.rules:
            try:
                r.after(call, answer)
            except Exception as exc:
                raise _failed(r, call) from exc
        headers = answer.headers
        if answer.body is not body:  # rewritten: its length changed (a HEAD keeps moto's)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(answer.body))))
        reason = captured["status"].split(" ", 1)[1] if " " in captured["status"] else ""
        start_response(f"{answer.status} {reason}".strip(), headers)
        return [answer.body]
