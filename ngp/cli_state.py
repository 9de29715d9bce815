"""`ngp state ...`: the env's state, its backend, versions and lock. The rules (lineage,
serial, --force) are in ngp/state_moves.py; these commands parse and render."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ngp.cli_common import Env, Json, find_project, later, out, pick_env, warn
from ngp.errors import NgpError

if TYPE_CHECKING:
    from ngp import engine, state_moves
    from ngp.state import LocalStore
    from ngp.state_s3 import S3Store
else:  # imported when a command runs (cli_common.later says why)
    engine, state_moves = later("ngp.engine"), later("ngp.state_moves")

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
    out.print(f"Made {', '.join(made)}." if made else "The state backend was there already; "
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
        out.print(f"{v['version']}  serial {v['serial']}  {v['modified']}  {v['size']} bytes"
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
    out.print(f"Version {version} is the current state of env {env!r} "
              f"(serial {restored.serial}).")


@app.command("push")
def state_push(env: Env = None, force: Force = False) -> None:
    """Move state/<env>.json to the env's S3 state, keeping lineage and serial."""
    env = pick_env(env)
    store = _s3_store(env)
    from ngp.state import LocalStore

    local = LocalStore(find_project().state_dir, env)
    state = state_moves.push(local, store, force=force, warn=warn)
    out.print(f"Pushed {local.path} (serial {state.serial}, lineage {state.lineage}) to "
              f"{store.where}.")


@app.command("pull")
def state_pull(env: Env = None, force: Force = False) -> None:
    """Copy the env's S3 state to state/<env>.json, keeping lineage and serial."""
    env = pick_env(env)
    store = _s3_store(env)
    from ngp.state import LocalStore

    local = LocalStore(find_project().state_dir, env)
    state = state_moves.pull(store, local, force=force)
    out.print(f"Pulled {store.where} (serial {state.serial}) to {local.path}.")


@app.command("list")
def state_list(env: Env = None) -> None:
    """The addresses in the env's state, with kind and id."""
    env = pick_env(env)
    state = _store(env).load()
    for address, rec in sorted(state.resources.items()):
        print(f"{address}\t{rec.kind}\t{rec.id}")
    for address, pending in sorted(state.pending.items()):
        print(f"{address}\t{pending.kind}\tpending {pending.op}")


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
        out.print(f"Env {env!r} is not locked.")
    else:
        out.print(f"Unlocked env {env!r}; the lock was held by {holder}.")
