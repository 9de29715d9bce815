"""Refresh, plan, apply and destroy: walks the graph, calls the kinds, saves the state.

Every mutating call is preceded by a saved intent (pending) and followed by a save, so a
run killed at any instant leaves a state the next run understands.
"""

from __future__ import annotations

import contextlib
import graphlib
import heapq
import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ngp.aws import Aws, error_code, error_message
from ngp.config import SANDBOX_ACCOUNT_ID, Project, Settings
from ngp.errors import ApplyError, NgpError, NotOwnedError, ResourceError
from ngp.graph import Graph, Ref, Resource, dependents, is_secret_ref, resolve
from ngp.marathon.ready import reach_recorded_cluster
from ngp.modules import MODULES, network
from ngp.modules.network import NetworkSettings
from ngp.permissions import with_boundary
from ngp.plan import Action, Change, Plan, make_plan
from ngp.resources import Context, get_kind
from ngp.resources.ec2 import region_zones
from ngp.state import LocalStore, Pending, Recorded, State, now
from ngp.state_s3 import DynamoLock, S3Lock, S3Store

PROGRESS_EVERY = 10.0  # seconds between "still creating" lines
SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class Reporter(Protocol):
    """What the engine tells the screen; render.py implements it."""

    def started(self, op: Op) -> None: ...
    def finished(self, op: Op, seconds: float) -> None: ...
    def failed(self, op: Op, error: NgpError) -> None: ...
    def still_running(self, ops: list[tuple[Op, float]]) -> None: ...
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...


@dataclass(frozen=True)
class Desired:
    """What the env's modules want: the graph and the env's outputs (values or Refs)."""

    graph: Graph
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # said with every plan


def build_desired(settings: Settings) -> Desired:
    resources: list[Resource] = []
    outputs: dict[str, Any] = {}
    warnings: list[str] = []
    for name in settings.modules:
        built = MODULES[name].build(settings)
        resources.extend(replace(res, module=name) for res in built.resources)
        outputs.update(built.outputs)
        warnings.extend(built.warnings)
    # Every role carries the env's permissions boundary, made here with them.
    resources = with_boundary(settings, resources)
    return Desired(Graph.of(resources), outputs, warnings)


@dataclass
class Run:
    """One command on one env: its settings, AWS access, state and where it reports."""

    settings: Settings
    desired: Desired
    aws: Aws
    store: LocalStore | S3Store
    state: State
    reporter: Reporter
    marathon: Any = None
    ctx: Context = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _writing: threading.Lock = field(default_factory=threading.Lock, init=False)
    _changes: int = field(default=0, init=False)  # changes made to the state in memory
    _saved: int = field(default=0, init=False)  # of which the store holds this many

    def __post_init__(self) -> None:
        if self.marathon is not None:
            reach_recorded_cluster(self.marathon, self.state)
        self.ctx = Context(aws=self.aws, env=self.settings.env, lineage=self.state.lineage,
                           marathon=self.marathon)

    @contextmanager
    def saving(self) -> Iterator[State]:
        """Change the state under the run's lock; return once the store holds the change.

        Group commit: steps that change the state while another writes it are saved
        together by the next write, so ten steps finishing at once cost about two writes,
        not ten; none goes on before its own change is durable. A write encodes the state
        under the lock (only the lines of what changed) and writes it outside, so steps go
        on changing the state while it is written."""
        with self._lock:
            yield self.state
            self._changes += 1
            mine = self._changes
        with self._writing:
            if self._saved >= mine:
                return  # a write made while we waited holds our change
            with self._lock:
                covered = self._changes
                self.state.serial += 1
                serial, data = self.state.serial, self.state.to_json()
            self.store.write(data, serial)
            self._saved = covered


def sandbox_info(project: Project, settings: Settings) -> dict[str, Any] | None:
    """For a sandbox env, the running sandbox (started if need be); None otherwise."""
    if not settings.core.sandbox:
        return None
    from ngp.sandbox import control

    return control.start(project)[0]


def connect(project: Project, settings: Settings,
            sandbox: dict[str, Any] | None = None) -> Aws:
    """The run's AWS access, checked against the env's allowed accounts."""
    if settings.core.sandbox:
        from ngp.sandbox import control

        info = sandbox or sandbox_info(project, settings)
        assert info is not None  # a sandbox env always has a sandbox
        # As the IAM user holding an env's policy if the sandbox enforces one, else as root.
        runner = control.runner(project)
        credentials = {k: runner[k] for k in SANDBOX_CREDENTIALS} if runner \
            else SANDBOX_CREDENTIALS
        aws = Aws(settings.core.region, endpoint_url=info["endpoint"],
                  credentials=credentials, pool_size=settings.core.parallelism)
        control.prepare(aws if runner is None else Aws(
            settings.core.region, endpoint_url=info["endpoint"],
            credentials=SANDBOX_CREDENTIALS), settings.core.domain)
        for name in settings.modules:
            for var in MODULES[name].required_env:
                os.environ.setdefault(var, f"sandbox-placeholder-{var.lower()}")
    else:
        aws = Aws(settings.core.region, endpoint_url=settings.core.endpoint_url,
                  pool_size=settings.core.parallelism)
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
                 force: bool = False) -> Any:
    """The env's Marathon client: the sandbox's local one, the env's marathon_url, or None."""
    from ngp.marathon.client import Marathon, token_source

    if sandbox is not None:
        token = sandbox.get("marathon_token")
        return Marathon(sandbox["marathon_url"], force=force,
                        login=(lambda: token) if token else None)
    url = settings.core.marathon_url
    if not url:
        # The env's own cluster: reached once it answers (see marathon.ready).
        return Marathon(None, force=force) if "dcos" in settings.modules else None
    dcos_url = url.split("/service/marathon")[0]
    return Marathon(url, login=token_source(dcos_url, os.environ), force=force)


Store = LocalStore | S3Store


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


def recorded_zones(state: State, net: NetworkSettings) -> dict[int, str]:
    """The zones of the network's subnets the state records, by slot: the subnet's place in
    the network's address plan (public slot i and private slot 8 + i share zone i). A zone
    keeps its slot, so a subnet never moves when others are missing (a run killed before it
    recorded them, whose subnets the next run adopts where they are)."""
    slots = network.subnet_slots(net)
    zones: dict[int, str] = {}
    for address, rec in sorted(state.resources.items()):
        if address.startswith("network.subnet.") and rec.kind == "ec2.subnet" and \
                "az" in rec.outputs and rec.outputs.get("cidr") in slots:
            zones.setdefault(slots[rec.outputs["cidr"]], rec.outputs["az"])
    return zones


def instance_types(graph: Graph) -> set[str]:
    """The instance types the env's machines and templates ask for."""
    return {res.spec["instance_type"] for res in graph.resources.values()
            if res.kind in ("ec2.instance", "ec2.launch_template")
            and isinstance(res.spec.get("instance_type"), str)}


def choose_zones(settings: Settings, aws: Aws, state: State,
                 types: set[str] | frozenset[str] = frozenset()) -> Settings:
    """The settings with the network's zones chosen: the zones the state's subnets are in,
    then the region's that offer every instance type the env uses (read only when more are
    needed, or to check zone_names): a subnet never moves, and a region's missing letters
    and its zones without the env's machines are skipped."""
    if "network" not in settings.modules:
        return settings
    net = settings.module("network")
    if net.existing_vpc_id:
        return settings
    recorded = recorded_zones(state, net)
    where = f"{settings.path.name}: network"
    if net.zone_names:
        if set(net.zone_names) <= set(recorded.values()):
            return settings
        region = region_zones(aws, types)
        for name in net.zone_names:
            if name not in region:
                raise NgpError(f"zone_names: {name!r} is not an Availability Zone of "
                               f"{settings.core.region} that offers "
                               f"{', '.join(sorted(types)) or 'subnets'} "
                               f"(those are {', '.join(region)})",
                               where=f"{where}.zone_names",
                               hint="List zones the region has, or remove zone_names to let "
                               "ngp choose.")
        return settings
    count = net.availability_zones
    if all(slot in recorded for slot in range(count)):
        return replace(settings, zones=tuple(recorded[slot] for slot in range(count)))
    free = [z for z in region_zones(aws, types) if z not in recorded.values()]
    if len(free) < count - sum(slot in recorded for slot in range(count)):
        offering = f" that offer {', '.join(sorted(types))}" if types else ""
        have = sorted(set(recorded.values()) | set(free))
        raise NgpError(f"availability_zones = {count}, but "
                       f"{settings.core.region} has {len(have)} Availability Zones"
                       f"{offering} ({', '.join(have)})", where=f"{where}.availability_zones",
                       hint=f"Set availability_zones to {len(have)} or fewer.")
    free.reverse()
    chosen = [recorded[slot] if slot in recorded else free.pop() for slot in range(count)]
    return replace(settings, zones=tuple(chosen))


def _run(settings: Settings, desired: Desired, aws: Aws, store: Store, reporter: Reporter,
         marathon: Any) -> Run:
    """The run, its graph built with the zones chosen for it (its own read of the state)."""
    state = store.load()
    chosen = choose_zones(settings, aws, state, instance_types(desired.graph))
    if chosen is not settings:
        desired = build_desired(chosen)
    return Run(chosen, desired, aws, store, state, reporter, marathon)


@contextmanager
def open_run(
    project: Project, env: str, command: str, reporter: Reporter, *, lock: bool = True,
    force: bool = False,
) -> Iterator[Run]:
    """Load settings and graph (no AWS call before both are valid), connect, lock, load
    the state, choose the zones (the graph is built again with them) and settle what an
    interrupted run left pending."""
    settings = project.load(env)
    desired = build_desired(settings)
    sandbox = sandbox_info(project, settings)
    aws = connect(project, settings, sandbox)
    marathon = marathon_for(settings, sandbox, force)
    store = store_for(project, settings, aws)
    try:
        if not lock:
            yield _run(settings, desired, aws, store, reporter, marathon)
            return
        with store.lock(command, reporter.warn):
            run = _run(settings, desired, aws, store, reporter, marathon)
            settle_pending(run)
            yield run
    finally:
        if marathon is not None:
            marathon.close()


def settle_pending(run: Run) -> None:
    """Resolve the intents a killed run left: adopt what it created, forget what it deleted."""
    for address, pending in sorted(run.state.pending.items()):
        kind = get_kind(pending.kind)
        try:
            if pending.op == "create":
                found = kind.find(run.ctx, address, pending.spec)
                taken = {(rec.kind, rec.id): a for a, rec in run.state.resources.items()}
                if found and (pending.kind, found[0]) in taken:
                    # Never record one object under two addresses: that is a kind's bug.
                    raise ResourceError(f"{pending.kind}.find returned {found[0]}, which is "
                                        f"already {taken[pending.kind, found[0]]}",
                                        where=address)
                with run.saving() as state:
                    if found:
                        id, live = found
                        # What a single create call set is known; anything else the next
                        # plan re-applies.
                        spec = pending.spec if kind.created_whole else {}
                        state.resources[address] = Recorded(
                            pending.kind, id, spec, kind.outputs_of(live), pending.deps,
                            pending.module)
                        run.reporter.note(f"{address}: adopted {id}, created by an "
                                          "interrupted run")
                    del state.pending[address]
            else:
                gone = pending.id is None or kind.read(run.ctx, pending.id) is None
                with run.saving() as state:
                    if gone:
                        state.resources.pop(address, None)
                    del state.pending[address]
        except ClientError as exc:
            raise ResourceError(f"cannot settle an interrupted {pending.op}: "
                                f"{error_message(exc)}", where=address) from None


def refresh(run: Run) -> dict[str, dict[str, Any] | None]:
    """What AWS has for every recorded (and every read-only desired) address: one batched
    read per kind, the kinds read in parallel."""
    wanted: dict[str, dict[str, str]] = {}  # kind -> address -> id
    lookups: dict[str, Resource] = {}  # read-only objects named by a query
    observed: dict[str, dict[str, Any] | None] = {}
    for address, rec in run.state.resources.items():
        if not get_kind(rec.kind).read_only:
            wanted.setdefault(rec.kind, {})[address] = rec.id
    for address, res in run.desired.graph.resources.items():
        kind = get_kind(res.kind)
        known = run.state.resources.get(address)
        if not kind.read_only:
            continue
        if kind.lookup_once and known and known.kind == res.kind and known.spec == res.spec:
            observed[address] = {"id": known.id, **known.outputs}  # kept until its spec changes
        elif "id" in res.spec:
            wanted.setdefault(res.kind, {})[address] = res.spec["id"]
        else:
            lookups[address] = res

    def read(kind_name: str) -> dict[str, dict[str, Any]]:
        try:
            return get_kind(kind_name).read_many(run.ctx, sorted(set(wanted[kind_name].values())))
        except ClientError as exc:
            raise ResourceError(f"cannot read: {error_message(exc)}", where=kind_name,
                                hint="Check the credentials' permissions.") from None

    def look_up(address: str) -> dict[str, Any] | None:
        res = lookups[address]
        try:
            return get_kind(res.kind).lookup(run.ctx, res.spec)
        except ClientError as exc:
            raise ResourceError(f"cannot look up: {error_message(exc)}", where=address) from None
        except NgpError as exc:
            exc.where = exc.where or address
            raise

    workers = max(1, min(run.settings.core.parallelism, len(wanted) + len(lookups)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        looked = dict(zip(lookups, pool.map(look_up, lookups), strict=True))
        found = dict(zip(wanted, pool.map(read, wanted), strict=True))
    observed.update(looked)
    for kind_name, addresses in wanted.items():
        for address, id in addresses.items():
            observed[address] = found[kind_name].get(id)
    return observed


def plan(run: Run, *, targets: list[str] | None = None, destroy: bool = False) -> Plan:
    for warning in run.desired.warnings:
        run.reporter.warn(warning)
    return make_plan(run.desired.graph, run.state, refresh(run), targets=targets, destroy=destroy)


@dataclass(frozen=True)
class Op:
    """One step of an apply: 'apply' (create, update, read) or 'delete' of an address."""

    phase: str
    change: Change
    service: str

    @property
    def address(self) -> str:
        return self.change.address

    @property
    def key(self) -> tuple[str, str]:
        return (self.phase, self.change.address)

    @property
    def verb(self) -> str:
        if self.phase == "delete":
            return "forgetting" if self.change.action == Action.FORGET else "deleting"
        return {Action.UPDATE: "updating", Action.READ: "reading"}.get(
            self.change.action, "creating")


@dataclass
class Summary:
    done: Counter[str] = field(default_factory=Counter)
    failures: dict[str, NgpError] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    # Each finished step's wall time and AWS calls, and what it waited for.
    steps: dict[tuple[str, str], tuple[float, list[str]]] = field(default_factory=dict)
    deps: dict[tuple, set[tuple]] = field(default_factory=dict)

    def critical_path(self) -> float:
        """The longest chain of the steps' own times: no schedule could finish sooner."""
        return longest_chain(self.deps, lambda key: self.steps.get(key, (0.0, []))[0])


def schedule(run: Run, plan: Plan) -> tuple[dict[tuple[str, str], Op], dict[tuple, set[tuple]]]:
    """The plan as a graph of steps. Creates and updates follow the config's references;
    deletes follow the recorded ones, reversed; a replaced object is deleted, then created."""
    ops: dict[tuple[str, str], Op] = {}
    for change in plan.actionable:
        service = get_kind(change.kind).service
        if change.action in (Action.REPLACE, Action.DELETE, Action.FORGET):
            ops[("delete", change.address)] = Op("delete", change, service)
        if change.action in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.READ):
            ops[("apply", change.address)] = Op("apply", change, service)
    deps: dict[tuple, set[tuple]] = {key: set() for key in ops}
    graph = run.desired.graph.resources
    for phase, address in ops:
        if phase == "apply":
            deps[(phase, address)] |= {("apply", d) for d in graph[address].deps()
                                       if ("apply", d) in ops}
            if ("delete", address) in ops:
                deps[(phase, address)].add(("delete", address))
            continue
        pure_delete = address not in graph
        for other, rec in run.state.resources.items():
            if address not in rec.deps:
                continue
            if ("delete", other) in ops:
                deps[(phase, address)].add(("delete", other))
            elif pure_delete and ("apply", other) in ops:
                deps[(phase, address)].add(("apply", other))  # it stops using us first
    return ops, deps


def heights(deps: dict[tuple, set[tuple]], weight: Callable[[tuple], float]
            ) -> dict[tuple, float]:
    """For each step, the longest chain of weights from it to the end (itself included)."""
    after = dependents(deps)
    found: dict[tuple, float] = {}
    # Dependents come first, so each step finds its dependents' heights known.
    for key in reversed(list(graphlib.TopologicalSorter(deps).static_order())):
        found[key] = weight(key) + max((found[d] for d in after.get(key, ())), default=0.0)
    return found


def longest_chain(deps: dict[tuple, set[tuple]], weight: Callable[[tuple], float]) -> float:
    return max(heights(deps, weight).values(), default=0.0)


def _priorities(run: Run, ops: dict[tuple[str, str], Op],
                deps: dict[tuple, set[tuple]]) -> dict[tuple, float]:
    """Which ready step starts first: the head of the longest chain of typical times (a
    NAT gateway or a search domain before a route), or, with scheduling = "ready_order",
    the first to become ready."""
    if run.settings.core.scheduling == "ready_order":
        return dict.fromkeys(ops, 0.0)

    def typical(key: tuple) -> float:
        kind = get_kind(ops[key].change.kind)
        return kind.typical_delete_seconds if key[0] == "delete" else kind.typical_seconds

    return heights(deps, typical)


def apply(run: Run, plan: Plan) -> Summary:
    """Carry out the plan: every ready step at once, bounded overall and per AWS service,
    longest chains first; a failure stops only what depends on it."""
    ops, deps = schedule(run, plan)
    priority = _priorities(run, ops, deps)
    order = itertools.count()  # ties (and ready_order) go first come, first served
    after = dependents(deps)
    waiting = {key: set(d) for key, d in deps.items()}
    ready = [(-priority[k], next(order), k) for k, d in waiting.items() if not d]
    heapq.heapify(ready)
    limit = run.settings.core.parallelism
    per_service = run.settings.core.service_parallelism
    busy: Counter[str] = Counter()
    running: dict[Future, tuple[Op, float]] = {}
    summary = Summary(deps=deps)
    started = time.monotonic()
    completed: set[tuple[str, str]] = set()
    stop = threading.Event()
    bugs: list[BaseException] = []

    def on_interrupt(signum: int, frame: Any) -> None:
        # The first Ctrl-C lets running steps finish and be saved; the second quits at once
        # (their intents are saved, so the next run settles them).
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        run.reporter.warn(f"interrupted: waiting for {len(running)} running step(s) to finish "
                          "and be saved (Ctrl-C again to quit at once)")

    def launch(pool: ThreadPoolExecutor) -> None:
        held = []
        while ready and len(running) < limit and not stop.is_set() and not bugs:
            item = heapq.heappop(ready)
            op = ops[item[-1]]
            if busy[op.service] >= per_service.get(op.service, 10):
                held.append(item)
                continue
            busy[op.service] += 1
            run.reporter.started(op)
            running[pool.submit(_recorded_step, run, op)] = (op, time.monotonic())
        for item in held:
            heapq.heappush(ready, item)

    def settle(future: Future) -> None:
        op, t0 = running.pop(future)
        busy[op.service] -= 1
        error = future.exception()
        if error is None:
            seconds = time.monotonic() - t0
            summary.steps[op.key] = (seconds, future.result())
            run.reporter.finished(op, seconds)
            if label := _done_label(op):
                summary.done[label] += 1
            completed.add(op.key)
            for nxt in after.get(op.key, set()):
                waiting[nxt].discard(op.key)
                if not waiting[nxt]:
                    heapq.heappush(ready, (-priority[nxt], next(order), nxt))
        elif isinstance(error, NgpError):
            summary.failures[op.address] = error
            run.reporter.failed(op, error)
        else:
            bugs.append(error)

    pool = ThreadPoolExecutor(max_workers=limit)
    try:
        with _handling_sigint(on_interrupt):
            last_progress = started
            while True:
                launch(pool)
                if not running:
                    break
                done, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
                if time.monotonic() - last_progress >= PROGRESS_EVERY:
                    last_progress = time.monotonic()
                    run.reporter.still_running(
                        [(op, time.monotonic() - t0) for op, t0 in running.values()])
                for future in done:
                    settle(future)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)  # quit now: do not wait for AWS
        raise
    pool.shutdown()
    if bugs:
        raise bugs[0]
    summary.interrupted = stop.is_set()
    summary.skipped = sorted({op.address for key, op in ops.items()
                              if key not in completed and op.address not in summary.failures})
    if not plan.destroy:
        _record_outputs(run)
    elif not run.state.resources and run.state.outputs:
        with run.saving() as state:
            state.outputs = {}
    summary.seconds = time.monotonic() - started
    return summary


@contextmanager
def _handling_sigint(handler: Any) -> Iterator[None]:
    """Route Ctrl-C to handler for the block (only the main thread can take signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _done_label(op: Op) -> str | None:
    """How the summary counts a finished step; a replacement counts once, when created."""
    action = op.change.action
    if action == Action.REPLACE:
        return "replaced" if op.phase == "apply" else None
    return {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted",
            Action.READ: "read", Action.FORGET: "forgotten"}[action]


def _resolved_spec(run: Run, address: str) -> dict[str, Any]:
    res = run.desired.graph.resources[address]

    def lookup(ref: Ref) -> Any:
        rec = run.state.resources.get(ref.address)
        if rec is None or ref.output not in rec.outputs:
            raise RuntimeError(f"{address}: {ref} is not known yet (a scheduling bug)")
        return rec.outputs[ref.output]

    with run._lock:
        return get_kind(res.kind).canonical(resolve(res.spec, lookup))


def _recorded_step(run: Run, op: Op) -> list[str]:
    """One step in a worker thread; returns the AWS calls it made."""
    with run.aws.recording() as calls:
        _step(run, op)
    return calls


def _step(run: Run, op: Op) -> None:
    """One step, saved before (intent) and after (result). AWS errors become ResourceErrors
    naming the address; anything else is a bug and keeps its traceback."""
    try:
        if op.phase == "delete":
            _delete(run, op)
        else:
            _apply(run, op)
    except ClientError as exc:
        raise ResourceError(f"{op.verb} {op.change.kind} failed: {error_message(exc)}",
                            where=op.address,
                            hint="Fix the cause and run the command again; everything else "
                            "done so far is saved.") from None
    except BotoCoreError as exc:
        raise ResourceError(f"{op.verb} failed: {exc}", where=op.address,
                            hint="Check the network and the endpoint, then run the command "
                            "again.") from None
    except NgpError as exc:
        if not exc.where:
            exc.where = op.address
        raise


def _apply(run: Run, op: Op) -> None:
    address, change = op.address, op.change
    kind = get_kind(change.kind)
    res = run.desired.graph.resources[address]
    spec = _resolved_spec(run, address)
    deps = sorted(res.deps())
    if change.action == Action.READ:
        live = change.before or kind.lookup(run.ctx, spec)
        if live is None:
            raise ResourceError(f"{change.kind} {spec} matches nothing", where=address)
        with run.saving() as state:
            state.resources[address] = Recorded(change.kind, live["id"], spec,
                                                kind.outputs_of(live), deps, res.module)
        return
    if change.action == Action.UPDATE:
        rec = run.state.resources[address]
        outputs = kind.update(run.ctx, rec.id, change.before, spec)
        with run.saving() as state:
            state.resources[address] = Recorded(change.kind, rec.id, spec,
                                                {**rec.outputs, **outputs}, deps, res.module)
        return
    with run.saving() as state:
        state.pending[address] = Pending("create", change.kind, now(), spec, None, deps,
                                         res.module)
    try:
        id, outputs = _create(run, kind, address, spec)
    except NotOwnedError:
        # The name is another env's (or nobody's): nothing was made, so no intent is left to
        # settle, and the env can still go down.
        with run.saving() as state:
            state.pending.pop(address, None)
        raise
    with run.saving() as state:
        state.resources[address] = Recorded(change.kind, id, spec, outputs, deps, res.module)
        del state.pending[address]


# What AWS answers a create whose name is taken in the account and region (IAM, Secrets
# Manager, CloudWatch Logs and OpenSearch, ECR, Classic ELB, Auto Scaling, Lambda, EC2 key
# pairs, launch templates and security groups, S3 outside us-east-1): the kind's find then
# says whose the object is. One of this env's own is adopted by the next run's settling.
ALREADY_EXISTS = frozenset({
    "EntityAlreadyExists", "ResourceExistsException", "ResourceAlreadyExistsException",
    "RepositoryAlreadyExistsException", "DuplicateLoadBalancerName",
    "DuplicateAccessPointName", "AlreadyExists", "ResourceConflictException",
    "InvalidKeyPair.Duplicate", "InvalidLaunchTemplateName.AlreadyExistsException",
    "InvalidGroup.Duplicate", "BucketAlreadyOwnedByYou"})


def _create(run: Run, kind: Any, address: str, spec: dict[str, Any]) -> tuple[str, dict]:
    try:
        return kind.create(run.ctx, address, spec)
    except ClientError as exc:
        if error_code(exc) in ALREADY_EXISTS:
            with contextlib.suppress(ClientError):  # else the create's own error says more
                kind.find(run.ctx, address, spec)  # NotOwnedError if it is not this env's
        raise


def _delete(run: Run, op: Op) -> None:
    address = op.address
    rec = run.state.resources.get(address)
    if rec is None:
        return
    kind = get_kind(rec.kind)
    if kind.read_only:
        with run.saving() as state:
            del state.resources[address]
        return
    with run.saving() as state:
        state.pending[address] = Pending("delete", rec.kind, now(), id=rec.id, deps=rec.deps,
                                         module=rec.module)
    kind.delete(run.ctx, rec.id)
    with run.saving() as state:
        del state.resources[address]
        del state.pending[address]


def _record_outputs(run: Run) -> None:
    outputs: dict[str, Any] = {}
    missing = object()
    for name, value in run.desired.outputs.items():
        def lookup(ref: Ref) -> Any:
            rec = run.state.resources.get(ref.address)
            return rec.outputs.get(ref.output, missing) if rec else missing

        resolved = resolve(value, lookup)
        if not _contains(resolved, missing):
            outputs[name] = resolved
    if outputs != run.state.outputs:
        with run.saving() as state:
            state.outputs = outputs


def _contains(value: Any, marker: object) -> bool:
    if value is marker:
        return True
    if isinstance(value, dict):
        return any(_contains(v, marker) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, marker) for v in value)
    return False


def check(summary: Summary) -> None:
    """Raise what a finished apply left failed; the CLI shows it as one line."""
    if summary.failures:
        raise ApplyError(summary.failures, summary.skipped)
    if summary.interrupted:
        raise NgpError("interrupted", hint="What finished is saved; run the command again "
                       "to continue.")


def status(run: Run) -> list[dict[str, Any]]:
    """Every recorded resource with its live status (one batched read per kind)."""
    observed = refresh(run)
    rows: list[dict[str, Any]] = []
    for address, rec in sorted(run.state.resources.items()):
        live = observed.get(address)
        health = get_kind(rec.kind).health(run.ctx, rec.id) if live else None
        rows.append({"address": address, "kind": rec.kind, "id": rec.id, "module": rec.module,
                     "status": health or (str(live.get("status", "present")) if live
                                          else "missing")})
    for address, pending in sorted(run.state.pending.items()):
        rows.append({"address": address, "kind": pending.kind, "id": pending.id,
                     "module": pending.module, "status": f"pending {pending.op}"})
    return rows


PROBE_TIMEOUT = 3.0


def probe_urls(outputs: dict[str, Any]) -> dict[str, str]:
    """Whether the env's web addresses answer (the DC/OS UI, the VPN, Dashboards...):
    `answers (<status>)` or `no answer (<why>)`, all asked at once, a few seconds at most."""
    import httpx

    urls = {name: value for name, value in sorted(outputs.items())
            if name.endswith("_url") and isinstance(value, str)
            and value.startswith(("http://", "https://"))}

    def ask(url: str) -> str:
        try:
            # Self-signed certificates (DC/OS, OpenVPN) still answer: reachability is the
            # question here, not trust.
            answer = httpx.get(url, timeout=PROBE_TIMEOUT, verify=False)  # noqa: S501
            return f"answers ({answer.status_code})"
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"

    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        return dict(zip(urls, pool.map(ask, urls.values()), strict=True))


def reveal_outputs(aws: Aws, outputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs with each {"secret": ARN} replaced by the secret's value."""
    from ngp.resources.secretsmanager import reveal

    ctx = Context(aws=aws, env="", lineage="")
    revealed = {}
    for name, value in outputs.items():
        if is_secret_ref(value):
            try:
                value = reveal(ctx, value["secret"])
            except ClientError as exc:
                raise ResourceError(f"cannot read the secret: {error_message(exc)}",
                                    where=f"output {name}") from None
        revealed[name] = value
    return revealed
