"""The sandbox process: moto's server on 127.0.0.1, optionally slowed down like AWS.

Run as `python -m ngp.sandbox serve --info PATH`; it writes PATH (pid, endpoint, the local
Marathon's URL) once it answers, and stops on SIGTERM. The local Marathon runs in the same
process, on a port of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ngp.sandbox.control import remove_own

# moto reads these at import: make wrong AMIs, instance types and key names fail as on AWS.
VALIDATION_FLAGS = {
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
}


class Latency:
    """WSGI middleware: every request waits `seconds` on the server side before moto
    answers, so a client cannot see or skip the delay."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        time.sleep(self.seconds)
        return self.app(environ, start_response)


class AwsStyleErrors:
    """WSGI middleware: when moto itself crashes, it answers an HTML page that botocore cannot
    parse (and so never retries). Answer as AWS does instead, a bare 500 that clients retry,
    and log it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        crashed: dict[str, bool] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            kind = dict((k.lower(), v) for k, v in headers).get("content-type", "")
            if status.startswith("500") and kind.startswith("text/html"):
                crashed["yes"] = True
                logging.getLogger("ngp.sandbox").error(
                    "moto failed on %s %s%s", environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"), environ.get("QUERY_STRING", "")[:200])
                return start_response("500 Internal Server Error",
                                      [("Content-Length", "0")], exc_info)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        except Exception:  # moto raised instead of answering: the same bare 500
            logging.getLogger("ngp.sandbox").exception(
                "moto failed on %s %s%s", environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"), environ.get("QUERY_STRING", "")[:200])
            start_response("500 Internal Server Error", [("Content-Length", "0")],
                           sys.exc_info())
            return [b""]
        if crashed:
            if hasattr(body, "close"):
                body.close()
            return [b""]
        return body


TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


def stand_for_tls() -> None:
    """moto ignores a bucket policy's conditions, so ngp's TLS-only statement (deny when
    aws:SecureTransport is false) denies every object write. The sandbox stands for AWS's
    endpoints, which ngp reaches over TLS, where that statement never applies: here it is
    left out when moto evaluates a bucket's policy (as moto's own get_permission does it).
    Every other statement stays."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(bucket: Any, action: str, resource: str) -> Any:
        if bucket.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(bucket.policy)
        kept = [s for s in policy.get("Statement", []) if s.get("Condition") != TLS_ONLY]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(
            action, resource)

    setattr(FakeBucket, "get_permission", get_permission)  # noqa: B010 (a patch: typed away)


def write_info(path: Path, info: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


def base_images(folder: Path) -> Path:
    """moto's own catalogue of ~50 images, without the thousands of per-region "latest"
    images it otherwise loads and scans on every DescribeImages (seconds of CPU each), and
    with the deprecation times AWS gives them (ngp/sandbox/rules/images.py)."""
    import gzip
    import importlib.resources

    from ngp.sandbox.rules.images import with_deprecation_times

    path = folder / "amis.json"
    # Found from moto's top package: importing moto.ec2 would load moto's images before
    # MOTO_AMIS_PATH points here.
    packed = importlib.resources.files("moto").joinpath("ec2/resources/amis.json.gz")
    catalogue = with_deprecation_times(json.loads(gzip.decompress(packed.read_bytes())))
    write_info(path, catalogue)  # whole or not at all: another process may be reading it
    return path


def accept_deprecation_times() -> None:
    """moto's images have no deprecation time: let the catalogue give them one, which moto
    then answers as DeprecationTime (its answers take an object's snake_case attributes)."""
    from moto.ec2.models.amis import Ami

    if getattr(Ami.__init__, "takes_deprecation_time", False):
        return
    init = Ami.__init__

    def __init__(self: Any, *args: Any, deprecation_time: str | None = None,
                 **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.deprecation_time = deprecation_time

    __init__.takes_deprecation_time = True  # type: ignore[attr-defined]
    Ami.__init__ = __init__  # type: ignore[method-assign]


# The services ngp calls (ngp/resources/, ngp/state_s3.py).
SERVICES = ("apigateway", "autoscaling", "dynamodb", "ec2", "ecr", "elb", "events", "iam",
            "lambda", "logs", "opensearch", "route53", "s3", "secretsmanager", "sts")


def load_services(dispatcher: Any) -> None:
    """On the first request to a service, moto imports it, makes its backend, builds its
    routes (under a lock every other request waits on) and loads botocore's model of it, up
    to a second of CPU for EC2 or Lambda. Done before the sandbox answers, no request pays
    for it. (Routers are moto internals: where they move, the first request builds them.)"""
    from moto.core.routing import get_service_router
    from moto.core.utils import get_service_model
    from moto.moto_server.werkzeug_app import create_backend_app

    for service in SERVICES:
        dispatcher.app_instances[service] = create_backend_app(service)  # type: ignore[arg-type]
        model = get_service_model(service)
        for protocol in model.metadata.get("protocols", [model.protocol]):
            with contextlib.suppress(Exception):
                get_service_router(service)._get_router(protocol)


def prepare_moto(folder: Path) -> None:
    """Set moto up as the sandbox needs it, before moto is imported: AWS's validations on,
    the small image catalogue, the TLS stand-in."""
    os.environ.update(VALIDATION_FLAGS)
    os.environ.setdefault("MOTO_AMIS_PATH", str(base_images(folder)))
    accept_deprecation_times()
    stand_for_tls()


def aws_app(*, faults: str = "", latency_ms: float = 0.0, model_scale: float = 0.0,
            lenient: frozenset[str] = frozenset()) -> Any:
    """The local AWS as one WSGI application: moto behind the strict rules (all but the
    lenient ones), then the faults, the latency and the model asked for."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from ngp.sandbox import model, strict
    from ngp.sandbox.faults import AwsFaults, parse
    from ngp.sandbox.strict import Strict

    plan = parse(faults)
    dispatcher = DomainDispatcherApplication(create_backend_app)
    if model_scale > 0:  # the model's times, and not moto's first-call imports, are measured
        load_services(dispatcher)
    app: Any = Strict(AwsStyleErrors(dispatcher), lenient=lenient)  # one request at a time
    if plan.throttle or plan.consistency:
        app = AwsFaults(app, plan)
    if latency_ms > 0:
        app = Latency(app, latency_ms / 1000.0)
    if model_scale > 0:
        app = model.AwsModel(app, model_scale)
    # The model's call times already hold the slow states' (one local AWS per process).
    strict.MODELLED["on"] = model_scale > 0
    return app


def serve(info_path: Path, port: int = 0, latency_ms: float = 0.0,
          marathon_deploy_seconds: float = 0.5, marathon_token: str | None = None,
          faults: str = "", model_scale: float = 0.0,
          lenient: frozenset[str] = frozenset(),
          marathon_nodes: tuple[int, int] = (2, 1)) -> None:
    from ngp.sandbox import model
    from ngp.sandbox.faults import parse

    plan = parse(faults)
    prepare_moto(info_path.parent)
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    app = aws_app(faults=faults, latency_ms=latency_ms, model_scale=model_scale,
                  lenient=lenient)
    if model_scale > 0:
        marathon_deploy_seconds = model.DEPLOY_SECONDS / model_scale
    server = make_server("127.0.0.1", port, app, threaded=True,
                         request_handler=MotoRequestHandler)
    host, bound = str(server.server_address[0]), server.server_address[1]

    from ngp.sandbox.marathon import LocalMarathon, cluster

    local_marathon = LocalMarathon(
        deploy_seconds=marathon_deploy_seconds, token=marathon_token,
        nodes=cluster(*marathon_nodes),
        credentials=("admin", marathon_token) if marathon_token else None,
        failing=dict(plan.marathon_fail),
        ready_after=model.DCOS_READY_SECONDS / model_scale if model_scale > 0 else 0.0)
    marathon_app: Any = local_marathon
    if latency_ms > 0:
        marathon_app = Latency(marathon_app, latency_ms / 1000.0)
    marathon = make_server("127.0.0.1", 0, marathon_app, threaded=True)
    threading.Thread(target=marathon.serve_forever, daemon=True).start()

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_info(info_path, {"pid": os.getpid(), "endpoint": f"http://{host}:{bound}",
                           "marathon_url": f"http://127.0.0.1:{marathon.server_address[1]}",
                           "marathon_token": marathon_token, "latency_ms": latency_ms,
                           "marathon_nodes": list(marathon_nodes),
                           "faults": faults, "model_scale": model_scale,
                           "lenient": sorted(lenient),
                           "marathon_schema": str(local_marathon.schema.folder)
                           if local_marathon.schema else None,
                           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    try:
        server.serve_forever()
    finally:
        remove_own(info_path, os.getpid())
    # Everything the sandbox holds is in memory and meant to go: skip the slow teardown
    # of moto's backends and of open connections.
    os._exit(0)
