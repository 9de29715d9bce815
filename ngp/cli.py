"""The ngp command. Thin: each command calls the engine and renders what it returns.
This is the only place that prints errors and picks exit codes. The `state`, `elk` and
`sandbox` groups and the snapshot commands are in ngp/cli_*.py, added to this app below."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from ngp import cli_common, cli_elk, cli_import, cli_init, cli_sandbox, cli_snapshots, cli_state
from ngp.cli_common import (
    Debug,
    Env,
    Json,
    LockTimeout,
    Parallelism,
    Yes,
    err,
    out,
    parse_duration,
    say,
    warn,
)
from ngp.cli_common import find_project as _project
from ngp.cli_common import pick_env as _env  # the names the commands below use
from ngp.errors import NgpError, Quit

if TYPE_CHECKING:
    from ngp import engine, plan_file, render
    from ngp.plan import Plan
else:  # imported by the first command that uses them, not by --help nor completion
    engine, plan_file, render = map(cli_common.later, ("ngp.engine", "ngp.plan_file", "ngp.render"))

app = typer.Typer(
    name="ngp",
    help="Provision the Next Generation Platform on AWS: plan, up, status, down.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # a traceback with locals could show secrets
    add_completion=True,
)


def _print_version(value: bool) -> None:
    if value:
        from ngp import __version__

        print(f"ngp {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print ngp's version and exit.")] = False) -> None:
    """Provision the Next Generation Platform on AWS: plan, up, status, down."""


app.add_typer(cli_snapshots.app)  # no name: `ngp snapshot`, `ngp restore`
app.add_typer(cli_init.app)  # `ngp init`, `ngp modules`
app.add_typer(cli_import.app)  # `ngp import`
app.add_typer(cli_state.app, name="state")
app.add_typer(cli_elk.app, name="elk")
app.add_typer(cli_sandbox.app, name="sandbox")

Target = Annotated[list[str] | None, typer.Option(
    "--target", "-t", help="Only this address (or module, or prefix) and what it needs; "
    "repeatable.")]
Stats = Annotated[bool, typer.Option("--stats", help="Print wall time and API calls.")]
Replace = Annotated[list[str] | None, typer.Option(
    "--replace", metavar="ADDR", show_default=False,
    help="Rebuild this object (delete, create) even if it matches; repeatable.")]
RefreshOnly = Annotated[bool, typer.Option(
    "--refresh-only", help="Record what AWS has in the state (accept drift); nothing in "
    "AWS changes.")]


def _confirm(plan: Plan, yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise NgpError("no terminal to confirm the plan on",
                       hint="Pass --yes to apply without asking.")
    return typer.confirm(question, default=False)


def _apply(env: str, command: str, *, yes: bool, targets: list[str] | None, destroy: bool,
           stats: bool, force: bool = False, parallelism: int | None = None,
           lock_timeout: str = "0", replace: list[str] | None = None,
           refresh_only: bool = False, keep_unknown: bool = False) -> None:
    t0 = time.monotonic()
    reporter = render.LineReporter(err)
    with engine.open_run(_project(), env, command, reporter, force=force,
                         parallelism=parallelism,
                         lock_timeout=parse_duration(lock_timeout)) as run:
        plan = engine.plan(run, targets=targets, destroy=destroy, replace=replace,
                           refresh_only=refresh_only, keep_unknown=keep_unknown)
        render.print_plan(out, plan)
        if plan.actionable:
            verb = "Destroy" if destroy else "Apply"
            if not _confirm(plan, yes, f"{verb} these changes to env {env!r}?"):
                raise NgpError("cancelled; nothing was changed")
            summary = engine.apply(run, plan)
            render.print_summary(out, summary, verb)
            if not destroy and run.state.outputs:
                out.print("\n[bold]Outputs:[/]")
                render.print_outputs(out, run.state.outputs)
        else:
            summary = None
        if stats:
            render.print_stats(out, dict(run.aws.calls), time.monotonic() - t0, summary)
        if summary is not None:
            engine.check(summary)


def _apply_saved(path: Path, env: str | None, *, targets: list[str] | None, stats: bool,
                 force: bool, parallelism: int | None, lock_timeout: str) -> None:
    """Apply a plan saved by `ngp plan --out` exactly, without asking (it was reviewed):
    refused if the state moved on or the env file changed since."""
    t0 = time.monotonic()
    saved = plan_file.load(path)
    plan = saved.plan
    if env and env != plan.env:
        raise NgpError(f"the plan is for env {plan.env!r}, not {env!r}", where=str(path),
                       hint="Drop --env: a saved plan names its env.")
    if targets:
        raise NgpError("--target cannot narrow a saved plan", where=str(path),
                       hint="Pass --target to `ngp plan --out` instead.")
    from ngp.config import check_env_name

    reporter = render.LineReporter(err)
    with engine.open_run(_project(), check_env_name(plan.env), "up", reporter,
                         force=force, lineage=plan.lineage, parallelism=parallelism,
                         lock_timeout=parse_duration(lock_timeout)) as run:
        saved.check_fresh(run.state, plan_file.settings_digest(run.settings.path))
        render.print_plan(out, plan)
        verb = "Destroy" if plan.destroy else "Apply"
        summary = engine.apply(run, plan) if plan.actionable else None
        if summary is not None:
            render.print_summary(out, summary, verb)
        if not plan.destroy and run.state.outputs:
            out.print("\n[bold]Outputs:[/]")
            render.print_outputs(out, run.state.outputs)
        if stats:
            render.print_stats(out, dict(run.aws.calls), time.monotonic() - t0, summary)
        if summary is not None:
            engine.check(summary)


@app.command()
def up(
    plan_path: Annotated[Path | None, typer.Argument(
        metavar="[PLAN]", show_default=False,
        help="A plan saved by `ngp plan --out`: apply exactly it, without asking.")] = None,
    env: Env = None, yes: Yes = False, target: Target = None, stats: Stats = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Cancel Marathon deployments that lock an app, instead of waiting "
        "for them.")] = False,
    parallelism: Parallelism = None, lock_timeout: LockTimeout = "0",
    replace: Replace = None, refresh_only: RefreshOnly = False, debug: Debug = False,
) -> None:
    """Create or change everything the env's modules want; shows the plan first."""
    if plan_path is not None and (replace or refresh_only):
        raise NgpError("--replace and --refresh-only cannot change a saved plan",
                       where=str(plan_path), hint="Pass them to `ngp plan --out` instead.")
    if plan_path is not None:
        _apply_saved(plan_path, env, targets=target, stats=stats, force=force,
                     parallelism=parallelism, lock_timeout=lock_timeout)
        return
    env = _env(env)
    _apply(env, "up", yes=yes, targets=target, destroy=False, stats=stats, force=force,
           parallelism=parallelism, lock_timeout=lock_timeout, replace=replace,
           refresh_only=refresh_only)


@app.command()
def down(env: Env = None, yes: Yes = False, target: Target = None, stats: Stats = False,
         parallelism: Parallelism = None, lock_timeout: LockTimeout = "0",
         debug: Debug = False,
         keep_unknown: Annotated[bool, typer.Option(
             "--keep-unknown", help="Only list the objects tagged for the env that the state "
             "does not record; do not delete them.")] = False) -> None:
    """Delete everything ngp made for the env, dependents first: what the state records,
    then what is still tagged for the env."""
    env = _env(env)
    _apply(env, "down", yes=yes, targets=target, destroy=True, stats=stats,
           parallelism=parallelism, lock_timeout=lock_timeout, keep_unknown=keep_unknown)


@app.command()
def plan(
    env: Env = None,
    target: Target = None,
    as_json: Json = False,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan `ngp down`.")] = False,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")] = False,
    save_to: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE", show_default=False,
        help="Save the plan to FILE, for `ngp up FILE` to apply exactly it.")] = None,
    stats: Stats = False, parallelism: Parallelism = None, lock_timeout: LockTimeout = "0",
    replace: Replace = None, refresh_only: RefreshOnly = False, debug: Debug = False,
) -> None:
    """Show what `ngp up` (or `ngp down`, with --destroy) would do; changes nothing in AWS."""
    env = _env(env)
    t0 = time.monotonic()
    with engine.open_run(_project(), env, "plan", render.LineReporter(err),
                         parallelism=parallelism,
                         lock_timeout=parse_duration(lock_timeout)) as run:
        result = engine.plan(run, targets=target, destroy=destroy, replace=replace,
                             refresh_only=refresh_only)
        if save_to is not None:
            plan_file.save(result, save_to, plan_file.settings_digest(run.settings.path))
            err.print(escape(f"Saved the plan to {save_to}: `ngp up {save_to}` applies exactly "
                             "it."))
        if as_json:
            print(json.dumps(result.to_dict(), indent=2))
        else:
            render.print_plan(out, result)
        if stats:
            render.print_stats(err if as_json else out, dict(run.aws.calls),
                               time.monotonic() - t0)
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(2)


@app.command()
def validate(env: Env = None) -> None:
    """Check the env's settings and build its graph (references, cycles); no AWS call, and
    nothing is started."""
    env = _env(env)
    settings = _project().load(env)
    desired = engine.build_desired(settings)
    for warning in desired.warnings:
        warn(warning)
    count = len(settings.modules)
    out.print(f"envs/{escape(settings.path.name)} is valid: {len(desired.graph.resources)} "
              f"resources in {count} module{'s' * (count != 1)}")


@app.command()
def status(
    env: Env = None, as_json: Json = False, stats: Stats = False,
    probe: Annotated[bool, typer.Option(
        "--probe/--no-probe", help="Ask whether the env's URLs answer (a few seconds).")
    ] = True,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 when every resource is healthy, 2 when one is "
        "not, 1 on error (without it, 0 whenever the status was read).")] = False,
    debug: Debug = False,
) -> None:
    """Every resource of the env with its id and live health judged against its spec (a
    group's instances in service against its desired capacity), by module; and whether the
    env's URLs (DC/OS, VPN, Dashboards, ...) answer."""
    env = _env(env)
    t0 = time.monotonic()
    with engine.open_run(_project(), env, "status", render.LineReporter(err), lock=False) as run:
        rows = engine.status(run)
        with engine.phase(run.reporter, "Asking whether the env's URLs answer"):
            urls = engine.probe_urls(run.state.outputs) if probe else {}
        if as_json:
            print(json.dumps({"env": env, "resources": rows, "outputs": run.state.outputs,
                              "urls": urls}, indent=2))
        else:
            render.print_status(out, rows, env, urls)
        if stats:
            render.print_stats(err if as_json else out, dict(run.aws.calls),
                               time.monotonic() - t0)
    if detailed_exitcode and not all(row["healthy"] for row in rows):
        raise typer.Exit(2)


@app.command()
def outputs(
    env: Env = None,
    name: Annotated[str | None, typer.Argument(help="Print only this output.")] = None,
    as_json: Json = False,
    reveal: Annotated[bool, typer.Option(
        "--reveal", help="Fetch secret values (passwords, keys) from Secrets Manager.")] = False,
    debug: Debug = False,
) -> None:
    """The env's outputs (URLs, ids) from its state; secrets stay hidden unless --reveal
    (one asked for by NAME without it is refused, exit 1)."""
    env = _env(env)
    project = _project()
    settings = project.load(env)
    state = engine.store_for(project, settings).load()
    from ngp.graph import is_secret_ref

    values = state.outputs
    if name is not None:
        if name not in values:
            raise NgpError(f"no output named {name!r}",
                           hint=f"Known: {', '.join(sorted(values)) or 'none yet (run ngp up)'}.")
        values = {name: values[name]}
        if is_secret_ref(values[name]) and not reveal:
            # A script asking for it by name must never capture a placeholder.
            raise NgpError(f"{name} is a secret: pass --reveal to print it")
    if reveal and any(is_secret_ref(v) for v in values.values()):
        values = engine.reveal_outputs(engine.connect(
            project, settings, read_only=True, note=render.LineReporter(err).note), values)
    if as_json:
        print(json.dumps(values, indent=2))
    elif name is not None:
        value = values[name]
        print(value if isinstance(value, str) else render.show(value))
    else:
        render.print_outputs(out, values)


@app.command()
def graph(
    env: Env = None,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="dot, mermaid, svg (drawn by ngp) or png (needs Graphviz).")
    ] = "dot",
    with_plan: Annotated[bool, typer.Option(
        "--plan", help="Mark each resource's planned action: its border's colour and dashes, "
        "and the plan's symbol (reads AWS).")] = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write to this file instead of standard output.")] = None,
) -> None:
    """The env's dependency graph, modules as clusters of one colour each, with a legend; no
    AWS call unless --plan."""
    env = _env(env)
    if fmt not in ("dot", "mermaid", "svg", "png"):
        raise NgpError(f"unknown format {fmt!r}", hint="Use dot, mermaid, svg or png.")
    if fmt == "png" and not shutil.which("dot"):
        raise NgpError("PNG needs Graphviz's `dot`, which is not installed",
                       hint="Install the graphviz package (apt install graphviz, brew install "
                       "graphviz), or use --format svg, which ngp draws itself.")
    project = _project()
    desired = engine.build_desired(project.load(env))
    from ngp import render_graph

    drawn, actions = desired.graph, None
    if with_plan:
        with engine.open_run(project, env, "graph", render.LineReporter(err),
                             lock=False) as run:
            # Built with the zones the run chose; what the plan deletes is drawn too.
            drawn, actions = render_graph.with_plan(run.desired.graph, engine.plan(run).changes)

    if fmt == "mermaid":
        data: bytes = render_graph.mermaid(drawn, actions).encode()
    elif fmt == "svg":
        data = render_graph.svg(drawn, actions).encode()
    else:
        data = render_graph.dot(drawn, actions).encode()
        if fmt == "png":
            data = subprocess.run(["dot", "-Tpng"], input=data, capture_output=True,
                                  check=True, timeout=120).stdout
    if output:
        Path(output).write_bytes(data)
        say(f"Wrote {output} ({len(drawn.resources)} resources).")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@app.command()
def permissions(env: Env = None) -> None:
    """The least-privilege IAM policy that running ngp for the env needs (JSON); attach it to
    the user or role you run ngp as, instead of administrator rights. No AWS call."""
    env = _env(env)
    from ngp.permissions import policy

    settings = _project().load(env)
    print(json.dumps(policy(settings, engine.build_desired(settings).graph), indent=2))




def main() -> Any:
    """Console entry: ngp's own errors are one red line and their exit code (1; 130 for
    Ctrl-C); bugs keep tracebacks."""
    signal.signal(signal.SIGINT, _quit)  # an apply routes Ctrl-C to itself while it runs
    try:
        return app()
    except NgpError as exc:
        err.print(f"[red bold]error:[/] {escape(exc.line())}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except Quit as quit:
        err.print(f"[red bold]error:[/] {escape(quit.line())}", soft_wrap=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # not waiting for running AWS calls (threads): their intents are saved


def _quit(signum: int, frame: Any) -> None:
    # Ctrl-C outside an apply: one line and exit 130 (click would turn a KeyboardInterrupt
    # into exit 1 at a prompt, and into a silent exit 130 elsewhere).
    raise Quit("interrupted. What finished is saved; run the command again to continue")


cli_common.one_line_paragraphs(app)  # last: after every command and group is added
