"""Opening a run: settings and graph, AWS access, the state's store and its lock."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from botocore.exceptions import ClientError

from ngp import debug_log
from ngp.aws import CLIENT_OF, Aws
from ngp.config import MAX_PARALLELISM, SANDBOX_ACCOUNT_ID, Project, Settings
from ngp.engine.run import Desired, Reporter, Run, Store, build_desired, phase
from ngp.engine.settling import settle_pending
from ngp.engine.zones import choose_zones, instance_types
from ngp.errors import NgpError, StateError
from ngp.marathon.endpoints import Marathons
from ngp.modules import load
from ngp.resources import get_kind
from ngp.state import LocalStore, State, lock_waiting
from ngp.state_s3 import DynamoLock, S3Lock, S3Store

SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# The commands that change nothing: for a sandbox env they never start the sandbox nor make
# its hosted zone, and say what is missing instead.
READ_ONLY = frozenset({"plan", "status", "graph", "outputs"})


def _on_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sandbox_info(project: Project, settings: Settings, read_only: bool = False,
                 note: Callable[[str], None] | None = None,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """For a sandbox env, the running sandbox (started if need be, unless the command is
    read-only); None otherwise. Starting it is always said, before and after (on stderr
    when the caller gave nowhere to say it): a process left running is never a surprise."""
    if not settings.core.sandbox:
        return None
    from ngp.sandbox import control

    if read_only:
        info = control.status(project)
        if info is None:
            raise NgpError("the sandbox is not running",
                           where=f"{settings.path.name}: sandbox",
                           hint=f"`ngp up --env {settings.env}` (or `ngp sandbox start`) starts "
                           "it; read-only commands start nothing.")
        return info
    if control.status(project) is None:
        (progress or _on_stderr)("Starting the sandbox (a local AWS and Marathon, in the "
                                 "background)")
    info, started = control.start(project)
    if started:
        (note or _on_stderr)(f"started the sandbox at {info['endpoint']} (`ngp sandbox stop` "
                             "stops it)")
    return info


def start_debug_log(project: Project, settings: Settings,
                    note: Callable[[str], None] | None = None) -> None:
    """Open the debug log if asked for (--debug, NGP_LOG=debug), and say where it is."""
    keys = tuple(var for mod in load(settings.modules).values() for var in mod.required_env)
    path = debug_log.start(project.state_dir, settings.env, keys)
    if path is not None:
        (note or _on_stderr)(f"writing the debug log to {path} (secrets redacted)")


def connect(project: Project, settings: Settings, sandbox: dict[str, Any] | None = None,
            read_only: bool = False, note: Callable[[str], None] | None = None,
            desired: Desired | None = None) -> Aws:
    """The run's AWS access, checked against the env's allowed accounts. Given the desired
    graph, the clients its kinds use are built while the account is asked."""
    start_debug_log(project, settings, note)
    # STS's first: the account is asked on this thread meanwhile.
    services = ["sts", *sorted({CLIENT_OF.get(kind, kind) for kind in (
        get_kind(res.kind).service for res in desired.graph.resources.values())
        if kind != "marathon"})] if desired is not None else []
    if settings.core.sandbox:
        from ngp.sandbox import control

        info = sandbox or sandbox_info(project, settings, read_only, note)
        assert info is not None  # a sandbox env always has a sandbox
        # As the IAM user holding an env's policy if the sandbox enforces one, else as root.
        runner = control.runner(project)
        credentials = {k: runner[k] for k in SANDBOX_CREDENTIALS} if runner \
            else SANDBOX_CREDENTIALS
        aws = Aws(settings.core.region, endpoint_url=info["endpoint"],
                  credentials=credentials, pool_size=settings.core.parallelism)
        aws.prefetch(services)
        said = control.prepare(aws if runner is None else Aws(
            settings.core.region, endpoint_url=info["endpoint"],
            credentials=SANDBOX_CREDENTIALS), settings.core.domain, read_only=read_only)
        if said and note:
            note(said)
        for mod in load(settings.modules).values():
            for var in mod.required_env:
                os.environ.setdefault(var, f"sandbox-placeholder-{var.lower()}")
    else:
        aws = Aws(settings.core.region, endpoint_url=settings.core.endpoint_url,
                  pool_size=settings.core.parallelism)
        aws.prefetch(services)
    account = aws.account_id()
    if account not in settings.core.allowed_account_ids:
        allowed = ", ".join(settings.core.allowed_account_ids)
        raise NgpError(
            f"the AWS credentials are for account {account}, which the env does not allow "
            f"({allowed})", where=f"{settings.path.name}: allowed_account_ids",
            hint="Use the right credentials (AWS_PROFILE), or add the account if it is right.")
    if settings.core.sandbox and account != SANDBOX_ACCOUNT_ID:
        raise NgpError("the sandbox endpoint answered for a real account", hint="Stop it.")
    return aws


def marathon_for(settings: Settings, sandbox: dict[str, Any] | None,
                 force: bool = False) -> Marathons:
    """The run's Marathon clients, one per endpoint. The env's own Marathon is fixed in the
    sandbox (the local one, with its token) and at marathon_url; else it is the cluster's,
    at the address its ready gate gives (ngp.marathon.endpoints)."""
    if sandbox is not None:
        token = sandbox.get("marathon_token")
        return Marathons(sandbox["marathon_url"], lambda: token, force=force)
    return Marathons(settings.core.marathon_url, force=force)


def store_for(project: Project, settings: Settings, aws: Aws | None = None) -> Store:
    """Where the env's state lives: state/<env>.json, or its S3 object (which needs AWS)."""
    config = settings.core.state
    if config.backend == "local":
        return LocalStore(project.state_dir, settings.env)
    aws = aws or connect(project, settings)
    region = config.region or settings.core.region
    key = config.key or f"ngp/{settings.env}.json"
    s3 = aws.client("s3", region)
    lock: S3Lock | DynamoLock = (
        DynamoLock(aws.client("dynamodb", region), config.dynamodb_table, key)
        if config.lock == "dynamodb" and config.dynamodb_table
        else S3Lock(s3, config.bucket or "", f"{key}.lock"))
    return S3Store(s3, config.bucket or "", key, settings.env, lock=lock,
                   lease_seconds=config.lease_seconds, rescue_dir=project.state_dir)


def bootstrap_backend(project: Project, settings: Settings) -> list[str]:
    """Make the env's state bucket (versioned, encrypted, private, TLS-only) and its lock
    table, if they are not there yet; say what was made. They outlive `ngp down`."""
    from ngp.resources.s3 import create_bucket, secure

    config = settings.core.state
    if config.backend != "s3" or not config.bucket:
        raise NgpError("the env keeps its state locally; nothing to make",
                       where=f"{settings.path.name}: [state] backend",
                       hint='Set backend = "s3" and bucket first.')
    aws = connect(project, settings)
    region = config.region or settings.core.region
    s3, made = aws.client("s3", region), []
    tags = [{"Key": "ngp:state-of", "Value": settings.env}]
    try:
        s3.head_bucket(Bucket=config.bucket)
    except ClientError:
        create_bucket(s3, config.bucket, region)
        made.append(f"bucket {config.bucket}")
    secure(s3, config.bucket, versioning=True)
    s3.put_bucket_tagging(Bucket=config.bucket, Tagging={"TagSet": tags})
    if config.lock == "dynamodb" and config.dynamodb_table:
        db = aws.client("dynamodb", region)
        try:
            db.describe_table(TableName=config.dynamodb_table)
        except ClientError:
            db.create_table(TableName=config.dynamodb_table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "LockID",
                                                   "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                            SSESpecification={"Enabled": True}, Tags=tags)
            db.get_waiter("table_exists").wait(TableName=config.dynamodb_table)
            made.append(f"table {config.dynamodb_table}")
    return made


def with_parallelism(settings: Settings, parallelism: int | None) -> Settings:
    """The settings with `--parallelism N` in place of the env's [core] parallelism."""
    if parallelism is None:
        return settings
    if not 1 <= parallelism <= MAX_PARALLELISM:
        raise NgpError(f"--parallelism {parallelism} is out of range",
                       hint=f"Give a number from 1 to {MAX_PARALLELISM}.")
    return dataclasses.replace(settings, core=settings.core.model_copy(
        update={"parallelism": parallelism}))


def check_not_stranded(store: Store, state: State, local: LocalStore) -> None:
    """Refuse to run an env switched to the S3 backend while its S3 state is empty and
    state/<env>.json still records resources: every command would read the empty one (a plan
    to make everything again, a down that deletes nothing). A local file of the S3 state's
    own lineage is a copy (`ngp state pull`), not stranded."""
    if not isinstance(store, S3Store) or state.resources or state.pending:
        return
    try:
        held = local.load() if local.exists() else None
    except StateError:
        return  # not a state we can read: not one we can say holds anything either
    if held is None or not held.resources or held.lineage == state.lineage:
        return
    raise StateError(
        f"state/{local.env}.json holds {len(held.resources)} resources, but the env's S3 "
        f"state ({store.where}) is empty", hint=f"Run `ngp state push --env {local.env}` to "
        f"move it there (or, if those resources are gone, delete state/{local.env}.json).")


def _run(project: Project, settings: Settings, desired: Desired, aws: Aws, store: Store,
         reporter: Reporter, marathons: Marathons, lineage: str | None = None) -> Run:
    """The run, its graph built with the zones chosen for it (its own read of the state).
    A state never saved takes the lineage given (a saved plan's, made before it existed)."""
    state = store.load()
    check_not_stranded(store, state, LocalStore(project.state_dir, settings.env))
    if lineage and state.serial == 0 and not state.resources and not state.pending:
        state.lineage = lineage
    chosen = choose_zones(settings, aws, state, instance_types(desired.graph))
    if chosen is not settings:
        desired = build_desired(chosen)
    return Run(chosen, desired, aws, store, state, reporter, marathons)


@contextmanager
def open_run(
    project: Project, env: str, command: str, reporter: Reporter, *, lock: bool = True,
    force: bool = False, lineage: str | None = None, parallelism: int | None = None,
    lock_timeout: float = 0,
) -> Iterator[Run]:
    """Load settings and graph (no AWS call before both are valid), connect, lock, load
    the state, choose the zones (the graph is built again with them) and settle what an
    interrupted run left pending. `parallelism` overrides the env's (`--parallelism`); a
    lock held by another run is waited for up to `lock_timeout` seconds."""
    with phase(reporter, f"Reading envs/{env}.toml and building its graph"):
        settings = with_parallelism(project.load(env), parallelism)
        desired = build_desired(settings)
    read_only = command in READ_ONLY
    start_debug_log(project, settings, reporter.note)
    local = settings.core.state.backend == "local"
    with ExitStack() as held:
        store: Store
        if lock and local:
            # The env's lock before anything starts: two `ngp up --env sandbox` started
            # together then wait for each other (or the second names the first), instead of
            # each starting a sandbox (issue 19). An S3 lock needs AWS (the sandbox) first.
            store = LocalStore(project.state_dir, settings.env)
            held.enter_context(lock_waiting(lambda: store.lock(command, reporter.warn),
                                            lock_timeout, reporter.note))
        sandbox = sandbox_info(project, settings, read_only, reporter.note, reporter.progress)
        where = sandbox["endpoint"] if sandbox else settings.core.endpoint_url or \
            settings.core.region
        with phase(reporter, f"Connecting to AWS ({where})"):
            aws = connect(project, settings, sandbox, read_only, reporter.note, desired)
            marathons = marathon_for(settings, sandbox, force)
            held.callback(marathons.close)
            if not (lock and local):
                store = store_for(project, settings, aws)
        if lock and not local:
            held.enter_context(lock_waiting(lambda: store.lock(command, reporter.warn),
                                            lock_timeout, reporter.note))
        with phase(reporter, "Reading the state and the zones"):
            run = _run(project, settings, desired, aws, store, reporter, marathons,
                       lineage if lock else None)
        if lock and (left := len(run.state.pending)):
            with phase(reporter, f"Settling {left} step{'s' * (left != 1)} an "
                       "interrupted run left"):
                settle_pending(run)
        yield run
