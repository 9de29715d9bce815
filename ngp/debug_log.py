"""The debug log, as Terraform's TF_LOG: with `--debug` or NGP_LOG=debug, every AWS request
(service, operation, parameters, status, time, retries) and every Marathon call (method, path,
status, time) goes to a file: $NGP_LOG_PATH, or state/logs/<env>-<time>.log (owner-only, as
the state is). Secrets never reach it: values under a secret-looking key (passwords,
SecretString, user data, tokens, Authorization) are replaced, and so is every secret value
this process knows (generated or revealed ones, the credentials and keys in its environment),
wherever it appears in a line. Off, it costs one check per client: no hook, no file.

A line:  2026-12-02T20:23:36.123Z aws ec2.DescribeVpcs 200 0.012s retries=0 {"VpcIds": [...]}
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ngp.errors import NgpError

LOGGER = logging.getLogger("ngp.debug")
LOGGER.propagate = False  # never to the screen, nor to botocore's or anyone's handlers
REDACTED = "(redacted)"
LEVELS_ON, LEVELS_OFF = {"debug", "trace"}, {"", "off", "0", "none"}

# Keys whose values are secrets, at any depth (normalised: lower case, no _ or -).
SECRET_KEY = re.compile(r"password|passwd|secretstring|secretbinary|secretaccesskey|"
                        r"^secret$|token|privatekey|userdata|authorization|apikey|credential")
# ...but these name pages and idempotency, not secrets.
NOT_SECRET_KEY = frozenset({"nexttoken", "clienttoken", "continuationtoken",
                            "startingtoken", "idempotencytoken", "paginationtoken"})
# Environment variables whose values are secrets wherever they turn up (AWS's and DC/OS's
# credentials; the modules' keys, ngp.modules.base.Module.required_env, are added at start).
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
              "DCOS_PASSWORD", "DCOS_ACS_TOKEN", "TYK_API_KEY", "TYK_ORG_ID",
              "SYSDIG_ACCESS_KEY")
MIN_SECRET = 8  # shorter values (the sandbox's "testing") would blank common words

_requested = False  # --debug
_secrets: set[str] = set()
_path: Path | None = None


def request() -> None:
    """`--debug`: log this command, as NGP_LOG=debug would."""
    global _requested
    _requested = True


def wanted() -> bool:
    """Whether this command logs: --debug, or NGP_LOG=debug (or trace)."""
    level = os.environ.get("NGP_LOG", "").strip().lower()
    if level not in LEVELS_ON | LEVELS_OFF:
        raise NgpError(f"NGP_LOG={level!r} is not a log level",
                       hint="Set NGP_LOG=debug to log every request, or unset it.")
    return _requested or level in LEVELS_ON


def on() -> bool:
    """Whether the log is open (clients made from now on are watched)."""
    return _path is not None


def start(state_dir: Path, env: str, secret_env: tuple[str, ...] = ()) -> Path | None:
    """Open the log if this command logs; its path the first time (to be said), else None."""
    global _path
    if _path is not None or not wanted():
        return None
    for var in (*SECRET_ENV, *secret_env):
        secret(os.environ.get(var))
    given = os.environ.get("NGP_LOG_PATH")
    path = Path(given) if given else state_dir / "logs" / \
        f"{env}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.log"
    try:
        if not given:
            state_dir.mkdir(mode=0o700, exist_ok=True)
            path.parent.mkdir(mode=0o700, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise NgpError(f"cannot write the debug log {path}: {exc.strerror}",
                       hint="Set NGP_LOG_PATH to a writable file, or unset NGP_LOG.") from None
    handler.setFormatter(_Redacting())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    _path = path
    LOGGER.debug("ngp %s (pid %d) env %s", " ".join(sys.argv[1:]), os.getpid(), env)
    return path


def stop() -> None:
    """Close the log (tests; a command's process simply ends)."""
    global _path, _requested
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
        handler.close()
    _path, _requested = None, False


def secret(value: Any) -> None:
    """A value never to be written, wherever it turns up (a generated or revealed secret)."""
    if isinstance(value, str) and len(value) >= MIN_SECRET:
        _secrets.add(value)
        # Also as base64, as in EC2 user data (which is redacted whole anyway).
        _secrets.add(base64.b64encode(value.encode()).decode().rstrip("="))


def redact(value: Any, key: str = "") -> Any:
    """value with secrets replaced: whole under a secret key, in place in any string."""
    norm = key.lower().replace("_", "").replace("-", "")
    if norm and SECRET_KEY.search(norm) and norm not in NOT_SECRET_KEY and value:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return f"({len(value)} bytes)"
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return f"({type(value).__name__})"  # a file being uploaded, a datetime...


def scrub(text: str) -> str:
    for known in _secrets:
        if known in text:
            text = text.replace(known, REDACTED)
    return text


class _Redacting(logging.Formatter):
    """UTC time to the millisecond, and the whole line scrubbed once more: the one place
    every line passes."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(message)s", "%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


# -- AWS: botocore's events, on each client ---------------------------------------------------


def watch(events: Any) -> None:
    """Log every call of a boto3 client: its parameters once, each failed attempt, the end."""
    events.register("before-parameter-build.*.*", _aws_params)
    events.register("needs-retry.*.*", _aws_attempt)
    events.register("after-call.*.*", _aws_done)
    events.register("after-call-error.*.*", _aws_error)


def _call(model: Any) -> str:
    return f"{model.service_model.service_name}.{model.name}"


def _aws_params(model: Any, params: dict[str, Any], context: dict[str, Any],
                **_: Any) -> None:
    context["ngp_debug"] = (time.monotonic(), json.dumps(redact(params), default=str))


def _aws_attempt(response: Any, operation: Any, attempts: int,
                 caught_exception: BaseException | None, **_: Any) -> None:
    if caught_exception is not None:
        LOGGER.debug("aws %s attempt %d: %s", _call(operation), attempts,
                     f"{type(caught_exception).__name__}: {caught_exception}")
    elif response is not None and response[0].status_code >= 300:
        code = (response[1] or {}).get("Error", {}).get("Code", "")
        LOGGER.debug("aws %s attempt %d: %s %s", _call(operation), attempts,
                     response[0].status_code, code)


def _aws_done(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
              **_: Any) -> None:
    started, params = context.get("ngp_debug", (time.monotonic(), "{}"))
    code = parsed.get("Error", {}).get("Code", "")
    retries = parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    LOGGER.debug("aws %s %s%s %.3fs retries=%s %s", _call(model), http_response.status_code,
                 f" {code}" if code else "", time.monotonic() - started, retries, params)


def _aws_error(model: Any, context: dict[str, Any], exception: BaseException,
               **_: Any) -> None:
    started, params = context.get("ngp_debug", (time.monotonic(), "{}"))
    LOGGER.debug("aws %s failed %.3fs %s: %s %s", _call(model), time.monotonic() - started,
                 type(exception).__name__, exception, params)


# -- Marathon: its client calls this around each request -----------------------------------

USERINFO = re.compile(r"//[^/@]+@")


def http(method: str, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str],
         status: int | str, seconds: float, attempt: int) -> None:
    """One Marathon (or DC/OS) HTTP request: no body is logged, and no header's value."""
    if _path is None:
        return
    query = "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""
    auth = " Authorization=" + REDACTED if "Authorization" in headers else ""
    LOGGER.debug("marathon %s %s%s %s %.3fs attempt=%d%s", method,
                 USERINFO.sub("//" + REDACTED + "@", url), query, status, seconds, attempt, auth)
