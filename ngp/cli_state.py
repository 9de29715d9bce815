"""`ngp state ...`: the env's state, its backend, versions and lock. The rules (lineage,
serial, --force, what rm and mv refuse) are in ngp/state_moves.py; these commands parse and
render."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ngp.cli_common import (
    Env,
    Json,
    LockTimeout,
    err,
    find_project,
    later,
    parse_duration,
    pick_env,
    say,
    warn,
)
from ngp.errors import NgpError
from ngp.graph import matches

if TYPE_CHECKING:
    from ngp import engine, render, state_moves
    from ngp.state import LocalStore
    from ngp.state_s3 import S3Store
else:  # imported when a command runs (cli_common.later says why)
    engine, render, state_moves = (later("ngp.engine"), later("ngp.render"),
                                   later("ngp.state_moves"))

app = typer.Typer(help="The env's state: its backend, versions and lock.", no_args_is_help=True)

Force = Annotated[bool, typer.Option("--force", help="Replace a newer or other state.")]


def _store(env: str) -> LocalStore | S3Store:
    project = find_project()
    return engine.store_for(project, project.load(env))


def _s3_store(env: str) -> S3Store:
    return state_moves.versioned(_store(env), env)


@app.command("bootstrap")
def state_bootstrap(env: Env = None) -> None:
    """Make the env's S3 state bucket (versioned, encrypted, private, TLS-only) and its
    DynamoDB lock table if it uses one; what exists is checked and secured."""
    env = pick_env(env)
    project = find_project()
    made = engine.bootstrap_backend(project, project.load(env))
    say(f"Made {', '.join(made)}." if made else "The state backend was there already; "
        "its settings are checked.")


@app.command("history")
def state_history(env: Env = None, as_json: Json = False) -> None:
    """The versions of the env's S3 state, newest first (the bucket keeps every one)."""
    env = pick_env(env)
    versions = _s3_store(env).history()
    if as_json:
        print(json.dumps(versions, indent=2))
        return
    for v in versions:
        say(f"{v['version']}  serial {v['serial']}  {v['modified']}  {v['size']} bytes"
            + ("  (current)" if v["latest"] else ""))


@app.command("restore")
def state_restore(
    version: Annotated[str, typer.Argument(help="A version id from `ngp state history`.")],
    env: Env = None,
    force: Annotated[bool, typer.Option("--force", help="Even from another lineage.")] = False,
) -> None:
    """Make an earlier version of the env's S3 state the current one (as a new version)."""
    env = pick_env(env)
    restored = state_moves.restore(_s3_store(env), version, force=force, warn=warn)
    say(f"Version {version} is the current state of env {env!r} "
        f"(serial {restored.serial}).")


@app.command("push")
def state_push(env: Env = None, force: Force = False) -> None:
    """Move state/<env>.json to the env's S3 state, keeping lineage and serial (until it is
    pushed, runs refuse an empty S3 state while state/<env>.json holds resources)."""
    env = pick_env(env)
    store = _s3_store(env)
    from ngp.state import LocalStore

    local = LocalStore(find_project().state_dir, env)
    state = state_moves.push(local, store, force=force, warn=warn)
    say(f"Pushed {local.path} (serial {state.serial}, lineage {state.lineage}) to "
        f"{store.where}.")


@app.command("pull")
def state_pull(env: Env = None, force: Force = False) -> None:
    """Copy the env's S3 state to state/<env>.json, keeping lineage and serial."""
    env = pick_env(env)
    store = _s3_store(env)
    from ngp.state import LocalStore

    local = LocalStore(find_project().state_dir, env)
    state = state_moves.pull(store, local, force=force)
    say(f"Pulled {store.where} (serial {state.serial}) to {local.path}.")


@app.command("list")
def state_list(
    addresses: Annotated[list[str] | None, typer.Argument(
        metavar="ADDRESS", help="Only these addresses, or what is under them (a module, "
        "a prefix such as network.subnet).", show_default=False)] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only resources of this kind "
                                             "(ec2.vpc).", show_default=False)] = None,
    env: Env = None,
) -> None:
    """The addresses in the env's state, with kind and id."""
    env = pick_env(env)
    state = _store(env).load()

    def shown(address: str, of: str) -> bool:
        return (not addresses or any(matches(address, a) for a in addresses)) and \
            (kind is None or of == kind)

    for address, rec in sorted(state.resources.items()):
        if shown(address, rec.kind):
            print(f"{address}\t{rec.kind}\t{rec.id}")
    for address, pending in sorted(state.pending.items()):
        if shown(address, pending.kind):
            print(f"{address}\t{pending.kind}\tpending {pending.op}")


@app.command("rm")
def state_rm(
    addresses: Annotated[list[str], typer.Argument(
        metavar="ADDRESS", help="Addresses, or modules or prefixes (all under them).")],
    env: Env = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Even if a resource that stays depends on one of them.")] = False,
    lock_timeout: LockTimeout = "0",
) -> None:
    """Forget resources: the objects stay in AWS, and ngp no longer manages them (the next
    `up` makes a new one for each address the env still wants)."""
    env = pick_env(env)
    store = _store(env)
    wanted = engine.build_desired(find_project().load(env)).graph.resources
    gone = state_moves.edit(
        store, "state rm", lambda s: state_moves.remove(s, addresses, force=force,
                                                        where=store.where),
        lock_timeout=parse_duration(lock_timeout), warn=warn)
    for address in gone:
        say(f"Removed {address} from the state of env {env!r}; the object is left in AWS.")
    again = [a for a in gone if a in wanted]
    if again:
        warn(f"the env still wants {', '.join(again)}: the next `ngp up` adopts an object "
             "still tagged for it again (see `ngp plan`), or makes a new one; remove the "
             "object's ngp tags to let it go")


@app.command("mv")
def state_mv(
    source: Annotated[str, typer.Argument(help="The address (or module, or prefix) to move.")],
    target: Annotated[str, typer.Argument(help="Its new address (or module, or prefix).")],
    env: Env = None,
    lock_timeout: LockTimeout = "0",
) -> None:
    """Rename an address in the state (after a module or resource was renamed); the object
    in AWS is not touched. The new address must be free, and of the same kind if the env's
    graph has it."""
    env = pick_env(env)
    store = _store(env)
    graph = engine.build_desired(find_project().load(env)).graph
    kinds = {a: (r.kind, r.module) for a, r in graph.resources.items()}
    moves = state_moves.edit(
        store, "state mv", lambda s: state_moves.rename(s, source, target, kinds,
                                                        where=store.where),
        lock_timeout=parse_duration(lock_timeout), warn=warn)
    for old, new in moves:
        say(f"Moved {old} to {new} in the state of env {env!r}.")


@app.command("show")
def state_show(address: Annotated[str, typer.Argument()], env: Env = None) -> None:
    """One recorded resource: kind, id, the spec last applied, outputs, dependencies."""
    env = pick_env(env)
    state = _store(env).load()
    rec = state.resources.get(address)
    if rec is None:
        raise NgpError(f"{address!r} is not in the state of env {env!r}",
                       hint="See `ngp state list`.")
    print(json.dumps({"address": address, **vars(rec)}, indent=2))


@app.command("unlock")
def state_unlock(
    env: Env = None,
    force: Annotated[bool, typer.Option("--force", help="Break a lock a live run holds.")] = False,
) -> None:
    """Break the env's lock and say whose it was."""
    env = pick_env(env)
    holder = state_moves.break_lock(_store(env), env, force=force)
    if holder is None:
        say(f"Env {env!r} is not locked.")
    else:
        say(f"Unlocked env {env!r}; the lock was held by {holder}.")


@app.command("rebuild")
def state_rebuild(env: Env = None) -> None:
    """Make a lost state again from what is tagged for the env (its tags and labels);
    refused if the env has a state. Says what no read could show."""
    env = pick_env(env)
    with engine.open_run(find_project(), env, "rebuild", render.LineReporter(err)) as run:
        notes = engine.rebuild_state(run)
        count = len(run.state.resources)
    for note in notes:
        warn(note)
    say(f"Rebuilt the state of env {env!r} from its tags: {count} resource"
        f"{'' if count == 1 else 's'} recorded. `ngp plan` shows what differs.")
