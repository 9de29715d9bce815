"""`ngp snapshot` and `ngp restore`: the env's Marathon apps saved to and put back from its
snapshot bucket (what the marathon_snapshot module's functions do, run from here)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ngp.cli_common import Debug, Env, Json, Yes, err, find_project, later, out, pick_env, say
from ngp.errors import NgpError

if TYPE_CHECKING:
    from ngp import engine, render
else:  # imported when a command runs (cli_common.later says why)
    engine, render = later("ngp.engine"), later("ngp.render")

# Its commands are the main app's own (added without a group name).
app = typer.Typer()


@app.command()
def snapshot(
    env: Env = None,
    list_: Annotated[bool, typer.Option("--list", help="List the snapshots instead.")] = False,
    as_json: Json = False, debug: Debug = False,
) -> None:
    """Write a snapshot of every Marathon app and group to the env's snapshot bucket now
    (what the hourly function does); --list shows what exists."""
    from ngp import snapshots

    env = pick_env(env)
    with engine.open_run(find_project(), env, "snapshot", render.LineReporter(err),
                         lock=False) as run:
        if list_:
            found = snapshots.listing(run)
            if as_json:
                print(json.dumps(found, indent=2))
            else:
                for item in found:
                    say(f"{item['key']}  {item['size']:>9} bytes  {item['modified']}")
                if not found:
                    say("No snapshots yet.")
            return
        key = snapshots.take(run)
        print(json.dumps({"snapshot": key}) if as_json else f"Snapshot written: {key}")


@app.command()
def restore(
    env: Env = None,
    key: Annotated[str | None, typer.Option(
        "--snapshot", help="The snapshot's key (ngp snapshot --list); default the latest.")
    ] = None,
    status_of: Annotated[str | None, typer.Option(
        "--status", metavar="ID", help="Show how far restore ID got (its record in the "
        "snapshot bucket) instead of restoring.")] = None,
    yes: Yes = False,
    as_json: Json = False, debug: Debug = False,
) -> None:
    """Put the apps of a snapshot back in Marathon as they were (what POST /restore starts):
    it names the snapshot, lists the apps it would create or change (and the fields that
    differ), asks, and puts back only those; --status ID shows a restore's record (one of
    POST /restore's, or of this command)."""
    from ngp import snapshots

    env = pick_env(env)
    with engine.open_run(find_project(), env, "restore", render.LineReporter(err),
                         lock=False) as run:
        if status_of is not None:
            record = snapshots.status(run, status_of)
            if as_json:
                print(json.dumps(record, indent=2))
                return
            say(f"Restore {record['id']}: {record['status']}, snapshot "
                f"{record['snapshot'] or '(the latest)'}, started {record['started']}"
                + (f", finished {record['finished']}" if record["finished"] else ""))
            for what in ("done", "failed", "unchanged"):
                if record.get(what):
                    say(f"  {what}: " + ", ".join(record[what]))
            if record["error"]:
                out.print(f"  error: {escape(record['error'])}")
            return
        planned = snapshots.plan_restore(run, key)
        if not as_json:
            render.print_restore_plan(out, planned, env)
        if not planned.to_put:
            if as_json:
                print(json.dumps({"plan": planned.to_dict(), "restored": None}, indent=2))
            return
        if not yes:
            if not sys.stdin.isatty():
                raise NgpError("no terminal to confirm the restore on",
                               hint="Pass --yes to restore without asking.")
            if not typer.confirm(f"Put these {len(planned.to_put)} apps back in env {env!r}?",
                                 default=False):
                raise NgpError("cancelled; nothing was changed")
        result = snapshots.restore(run, planned, started=lambda id: err.print(
            f"Restore {id} started (ngp restore --status {id} --env {env})"))
        if as_json:
            print(json.dumps({"plan": planned.to_dict(), "restored": result}, indent=2))
        else:
            say(f"Restored {len(result['apps'])} apps from {result['snapshot']}: "
                + ", ".join(result["apps"])
                + (f"; {len(result['unchanged'])} left alone" if result["unchanged"]
                   else ""))
