"""`ngp import ADDRESS ID`: adopt an object made by hand (ngp/engine/importing.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngp.cli_common import (
    Env,
    LockTimeout,
    err,
    find_project,
    later,
    parse_duration,
    pick_env,
    say,
    warn,
)

if TYPE_CHECKING:
    from ngp import render
else:  # imported when the command runs (cli_common.later says why)
    render = later("ngp.render")

app = typer.Typer()


@app.command("import")
def import_(
    address: Annotated[str, typer.Argument(help="The address the env's graph has for it "
                                           "(network.vpc); see `ngp graph`.")],
    id: Annotated[str, typer.Argument(help="The object's id in AWS: a VPC's vpc-0a1b..., a "
                                      "bucket's or a group's name, a policy's ARN.")],
    env: Env = None,
    lock_timeout: LockTimeout = "0",
) -> None:
    """Adopt an object made by hand into the env's state at ADDRESS. Nothing is written to
    AWS: the next `ngp up` adds ngp's tags (and sets what differs from the spec) as an
    update; `ngp plan` shows it."""
    from ngp import engine
    from ngp.engine.importing import import_object

    env = pick_env(env)
    with engine.open_run(find_project(), env, "import", render.LineReporter(err),
                         lock_timeout=parse_duration(lock_timeout)) as run:
        done = import_object(run, address, id)
    say(f"Imported {done.kind} {done.id} at {done.address} into env {env!r}.")
    if done.replaces:
        warn(f"{', '.join(done.replaces)} differ{'s' * (len(done.replaces) == 1)} from the "
             f"spec and cannot change in place: the next `ngp up` would replace "
             f"{done.address} (`ngp state rm {done.address}` undoes this import)")
    if done.warning:
        warn(f"{done.address}: {done.warning}")
    if done.untagged:
        say("The next `ngp up` adds ngp's tags to it; `ngp plan` shows that and "
            "anything else that differs from the spec.")
