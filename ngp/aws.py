"""AWS access: one session per run, clients built once and shared, every call counted.

Throttling is retried by botocore's adaptive mode; the eventual-consistency errors AWS is
known for right after a create are retried by `eventually`, with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from ngp import debug_log
from ngp.errors import NgpError

T = TypeVar("T")

# Errors AWS returns for a short while after a create, though nothing is wrong.
NOT_YET_VISIBLE = frozenset({
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "NatGatewayNotFound",
    "InvalidAllocationID.NotFound",
    "InvalidInstanceID.NotFound",
})
# Errors a delete meets while AWS still releases what used the object (ENIs, mappings).
STILL_IN_USE = frozenset({"DependencyViolation", "InvalidIPAddress.InUse"})


# botocore's service names where IAM's action prefix differs.
IAM_PREFIXES = {"elb": "elasticloadbalancing", "elbv2": "elasticloadbalancing",
                "opensearch": "es"}
# The client of a kind's service (Kind.service is IAM's prefix), for Aws.prefetch.
CLIENT_OF = {"elasticloadbalancing": "elb", "es": "opensearch"}
# API Gateway's management actions are HTTP verbs on its resources.
APIGATEWAY_VERBS = (("Get", "GET"), ("Create", "POST"), ("Put", "PUT"), ("Tag", "PUT"),
                    ("Update", "PATCH"), ("Delete", "DELETE"), ("Untag", "DELETE"))


# API operations whose IAM action has another name.
IAM_ACTIONS = {
    "s3.ListBuckets": "s3:ListAllMyBuckets", "s3.HeadBucket": "s3:ListBucket",
    "s3.PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3.PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3.ListObjectVersions": "s3:ListBucketVersions", "s3.DeleteObjects": "s3:DeleteObject",
    "s3.PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "s3.DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    # s3.object: HEAD needs GetObject; a multipart upload's calls need PutObject.
    "s3.HeadObject": "s3:GetObject", "s3.CreateMultipartUpload": "s3:PutObject",
    "s3.UploadPart": "s3:PutObject", "s3.CompleteMultipartUpload": "s3:PutObject",
}


# The parameters that name what a call acts on, written to $NGP_CALL_LOG with each call (to
# check every call against ngp's policy: tests/e2e/test_permissions_calls.py); names and ARNs
# only, never a value (a secret's, a policy's document).
LOGGED_PARAMS = ("RoleName", "PolicyArn", "PermissionsBoundary", "AWSServiceName",
                 "InstanceProfileName", "PolicyName", "Path")


def iam_action(call: str) -> str:
    """The IAM action of a counted call: "elb.CreateLoadBalancer" ->
    "elasticloadbalancing:CreateLoadBalancer"."""
    if call in IAM_ACTIONS:
        return IAM_ACTIONS[call]
    service, operation = call.split(".", 1)
    if service == "apigateway":
        return "apigateway:" + next(verb for prefix, verb in APIGATEWAY_VERBS
                                    if operation.startswith(prefix))
    return f"{IAM_PREFIXES.get(service, service)}:{operation}"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".rstrip(": ")
    return str(exc)


def eventually(
    call: Callable[[], T],
    *,
    codes: Iterable[str] = NOT_YET_VISIBLE,
    also: Callable[[BaseException], bool] | None = None,
    deadline: float = 120.0,
) -> T:
    """Run call, retrying (with jittered backoff) while it fails with one of codes, or with
    an error `also` recognises (for errors known by their message, not only their code)."""
    retry_codes = frozenset(codes)

    def transient(exc: BaseException) -> bool:
        return error_code(exc) in retry_codes or (also is not None and also(exc))

    retrying = Retrying(
        retry=retry_if_exception(transient),
        stop=stop_after_delay(deadline),
        wait=wait_random_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    return retrying(call)


class _Loader(botocore.loaders.Loader):
    """botocore's loader, one model at a time: a run's first reads ask for a service's
    paginators on ten threads at once, and each thread would parse them (botocore caches a
    model once loaded, not while it loads)."""

    def __init__(self, extra_search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=extra_search_paths)
        self._one_at_a_time = threading.RLock()

    def load_service_model(self, *args: Any, **kwargs: Any) -> Any:
        with self._one_at_a_time:
            return super().load_service_model(*args, **kwargs)

    def load_data(self, *args: Any, **kwargs: Any) -> Any:
        with self._one_at_a_time:
            return super().load_data(*args, **kwargs)


# One loader for every session of the process: each service's model (EC2's is megabytes of
# JSON) is read once per process, not once per Aws. AWS_DATA_PATH as botocore reads it.
_LOADER = _Loader([os.path.expanduser(os.path.expandvars(path)) for path in
                   os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if path])


def _s3_transfer_methods(**kwargs: Any) -> None:
    from boto3.s3.inject import inject_s3_transfer_methods  # with the first S3 client only

    inject_s3_transfer_methods(**kwargs)


class Aws:
    """The run's botocore session and its clients, with call counts per service and operation.
    botocore's, not boto3's: boto3 adds nothing ngp uses (resources, S3 transfers) and its
    import (s3transfer, its resource and docs machinery) costs a tenth of a second."""

    def __init__(
        self,
        region: str,
        *,
        endpoint_url: str | None = None,
        credentials: dict[str, str] | None = None,
        max_attempts: int = 10,
        pool_size: int = 10,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._session = botocore.session.Session()
        self._session.register_component("data_loader", _LOADER)
        self._session.set_config_variable("region", region)
        # What boto3's session adds to S3 clients: upload_file (large files in parts).
        self._session.register("creating-client-class.s3", _s3_transfer_methods)
        if credentials:
            self._session.set_credentials(credentials["aws_access_key_id"],
                                          credentials["aws_secret_access_key"],
                                          credentials.get("aws_session_token"))
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": max_attempts},
            max_pool_connections=max(10, pool_size * 2),
            connect_timeout=10,
            read_timeout=60,
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self._step = threading.local()
        self._account: str | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        """The shared client of a service, in the run's region or another (a state bucket)."""
        key = service if region in (None, self.region) else f"{service}@{region}"
        made = self._clients.get(key)
        if made is not None:  # built: no wait behind a client being built (Aws.prefetch)
            return made
        with self._lock:
            if key not in self._clients:
                client = self._session.create_client(
                    service, endpoint_url=self.endpoint_url, config=self._config,
                    region_name=region or self.region)
                client.meta.events.register("before-call.*.*", self._count)
                if os.environ.get("NGP_CALL_LOG"):
                    client.meta.events.register("before-parameter-build.*.*", self._log)
                if debug_log.on():
                    debug_log.watch(client.meta.events)
                self._clients[key] = client
            return self._clients[key]

    def prefetch(self, services: list[str]) -> None:
        """Build these clients: the first now (the session's first client sets up what the
        others share), the others on a thread of their own while the caller goes on. Each
        parses its service's model (EC2's takes a tenth of a second), which then overlaps
        the run's first round trips. A failure is left to the caller's own client() call."""
        if not services:
            return
        self.client(services[0])

        def build() -> None:
            for service in services[1:]:
                with contextlib.suppress(Exception):
                    self.client(service)

        threading.Thread(target=build, name="ngp-clients", daemon=True).start()

    def _count(self, model: Any, **_: Any) -> None:
        # Counter += is not atomic across threads; the lock keeps the figures exact.
        call = f"{model.service_model.service_name}.{model.name}"
        with self._lock:
            self.calls[call] += 1
        log = getattr(self._step, "calls", None)
        if log is not None:
            log.append(call)

    def _log(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        call = f"{model.service_model.service_name}.{model.name}"
        named = {k: v for k, v in params.items() if k in LOGGED_PARAMS and isinstance(v, str)}
        with self._lock, open(os.environ["NGP_CALL_LOG"], "a") as log:
            log.write(json.dumps({"call": call, "params": named}) + "\n")

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[str]]:
        """The calls this thread makes in the block, in order (one step's calls)."""
        log: list[str] = []
        self._step.calls = log
        try:
            yield log
        finally:
            self._step.calls = None

    def account_id(self) -> str:
        """The account the credentials belong to (asked once per run)."""
        if self._account is None:
            self._account = self._ask_account()
        return self._account

    def _ask_account(self) -> str:
        try:
            return str(self.client("sts").get_caller_identity()["Account"])
        except NoCredentialsError:
            raise NgpError(
                "no AWS credentials found",
                hint="Set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or use --env sandbox.",
            ) from None
        except (ClientError, BotoCoreError) as exc:
            raise NgpError(
                f"cannot ask AWS who we are (sts:GetCallerIdentity): {error_message(exc)}",
                hint="Check the credentials and the endpoint.",
            ) from None


def wait_until(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    first_delay: float = 0.2,
    max_delay: float = 15.0,
    hint: str = "AWS may be slow or the object stuck: look at it in the console, then run "
    "the command again.",
) -> T:
    """Poll check with a growing delay until it returns something, or fail after timeout."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        result = check()
        if result is not None:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NgpError(
                f"timed out after {timeout:.0f}s waiting for {what}", hint=hint)
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.6, max_delay)
