"""The ngp command. Thin: each command calls the engine and renders what it returns.
This is the only place that prints errors and picks exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ngp import engine, render
from ngp.config import Project, check_env_name
from ngp.errors import NgpError, Quit
from ngp.graph import is_secret_ref
from ngp.plan import Plan
from ngp.sandbox import control
from ngp.state import LocalStore, State, describe_holder
from ngp.state_s3 import S3Store

app = typer.Typer(
    name="ngp",
    help="Provision the Next Generation Platform on AWS: plan, up, status, down.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # a traceback with locals could show secrets
    add_completion=True,
)
elk_app = typer.Typer(help="The OpenSearch domain of the elk module.", no_args_is_help=True)
state_app = typer.Typer(help="The env's state: its backend, versions and lock.",
                        no_args_is_help=True)
sandbox_app = typer.Typer(help="The local AWS (moto's server) on loopback.",
                          no_args_is_help=True)
app.add_typer(state_app, name="state")
app.add_typer(elk_app, name="elk")
app.add_typer(sandbox_app, name="sandbox")

# Piped output is not cut at 80 columns: addresses and ids are read by scripts too.
out = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, emoji=False,
              width=None if sys.stderr.isatty() else 200)

Env = Annotated[str | None, typer.Option("--env", "-e", envvar="NGP_ENV", show_default=False,
                                         help="The env: envs/<env>.toml (or $NGP_ENV).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
Target = Annotated[list[str] | None, typer.Option(
    "--target", "-t", help="Only this address (or module, or prefix) and what it needs; "
    "repeatable.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Stats = Annotated[bool, typer.Option("--stats", help="Print wall time and API calls.")]


def _project() -> Project:
    return Project()


def _env(env: str | None) -> str:
    """The env named by --env or $NGP_ENV; a missing or malformed name is one clear line."""
    if not env:
        known = ", ".join(_project().env_names()) or "none in envs/"
        raise NgpError("no env given", hint=f"Pass --env NAME or set NGP_ENV (known: {known}).")
    return check_env_name(env)


def _confirm(plan: Plan, yes: bool, question: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise NgpError("no terminal to confirm the plan on",
                       hint="Pass --yes to apply without asking.")
    return typer.confirm(question, default=False)


def _apply(env: str, command: str, *, yes: bool, targets: list[str] | None, destroy: bool,
           stats: bool, force: bool = False) -> None:
    t0 = time.monotonic()
    reporter = render.LineReporter(err)
    with engine.open_run(_project(), env, command, reporter, force=force) as run:
        plan = engine.plan(run, targets=targets, destroy=destroy)
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


@app.command()
def up(
    env: Env = None, yes: Yes = False, target: Target = None, stats: Stats = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Cancel Marathon deployments that lock an app, instead of waiting "
        "for them.")] = False,
) -> None:
    """Create or change everything the env's modules want; shows the plan first."""
    env = _env(env)
    _apply(env, "up", yes=yes, targets=target, destroy=False, stats=stats, force=force)


@app.command()
def down(env: Env = None, yes: Yes = False, target: Target = None, stats: Stats = False) -> None:
    """Delete everything ngp made for the env, dependents first."""
    env = _env(env)
    _apply(env, "down", yes=yes, targets=target, destroy=True, stats=stats)


@app.command()
def plan(
    env: Env = None,
    target: Target = None,
    as_json: Json = False,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan `ngp down`.")] = False,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")] = False,
    stats: Stats = False,
) -> None:
    """Show what `ngp up` (or `ngp down`, with --destroy) would do; changes nothing in AWS."""
    env = _env(env)
    t0 = time.monotonic()
    with engine.open_run(_project(), env, "plan", render.LineReporter(err)) as run:
        result = engine.plan(run, targets=target, destroy=destroy)
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
def status(
    env: Env = None, as_json: Json = False, stats: Stats = False,
    probe: Annotated[bool, typer.Option(
        "--probe/--no-probe", help="Ask whether the env's URLs answer (a few seconds).")
    ] = True,
) -> None:
    """Every resource of the env with its id and live health, by module; and whether the
    env's URLs (DC/OS, VPN, Dashboards, ...) answer."""
    env = _env(env)
    t0 = time.monotonic()
    with engine.open_run(_project(), env, "status", render.LineReporter(err), lock=False) as run:
        rows = engine.status(run)
        urls = engine.probe_urls(run.state.outputs) if probe else {}
        if as_json:
            print(json.dumps({"env": env, "resources": rows, "outputs": run.state.outputs,
                              "urls": urls}, indent=2))
        else:
            render.print_status(out, rows, env, urls)
        if stats:
            render.print_stats(err if as_json else out, dict(run.aws.calls),
                               time.monotonic() - t0)


@app.command()
def outputs(
    env: Env = None,
    name: Annotated[str | None, typer.Argument(help="Print only this output.")] = None,
    as_json: Json = False,
    reveal: Annotated[bool, typer.Option(
        "--reveal", help="Fetch secret values (passwords, keys) from Secrets Manager.")] = False,
) -> None:
    """The env's outputs (URLs, ids) from its state; secrets stay hidden unless --reveal."""
    env = _env(env)
    project = _project()
    settings = project.load(env)
    state = engine.store_for(project, settings).load()
    values = state.outputs
    if name is not None:
        if name not in values:
            raise NgpError(f"no output named {name!r}",
                           hint=f"Known: {', '.join(sorted(values)) or 'none yet (run ngp up)'}.")
        values = {name: values[name]}
    if reveal and any(is_secret_ref(v) for v in values.values()):
        values = engine.reveal_outputs(engine.connect(project, settings), values)
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
        "--plan", help="Colour each resource by its planned action (reads AWS).")] = False,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Write to this file instead of standard output.")] = None,
) -> None:
    """The env's dependency graph, modules as clusters; no AWS call unless --plan."""
    env = _env(env)
    if fmt not in ("dot", "mermaid", "svg", "png"):
        raise NgpError(f"unknown format {fmt!r}", hint="Use dot, mermaid, svg or png.")
    if fmt == "png" and not shutil.which("dot"):
        raise NgpError("PNG needs Graphviz's `dot`, which is not installed",
                       hint="Install the graphviz package (apt install graphviz, brew install "
                       "graphviz), or use --format svg, which ngp draws itself.")
    project = _project()
    desired = engine.build_desired(project.load(env))
    actions: dict[str, str] | None = None
    if with_plan:
        with engine.open_run(project, env, "graph", render.LineReporter(err),
                             lock=False) as run:
            actions = {c.address: str(c.action) for c in engine.plan(run).changes}
            desired = run.desired  # built with the zones the run chose
    if fmt == "mermaid":
        data: bytes = render.mermaid(desired.graph).encode()
    elif fmt == "svg":
        data = render.svg(desired.graph, actions).encode()
    else:
        data = render.dot(desired.graph, actions).encode()
        if fmt == "png":
            data = subprocess.run(["dot", "-Tpng"], input=data, capture_output=True,
                                  check=True, timeout=120).stdout
    if output:
        Path(output).write_bytes(data)
        out.print(f"Wrote {output} ({len(desired.graph.resources)} resources).")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@app.command()
def init(
    env: Annotated[str, typer.Option("--env", "-e", help="The new env's name.")],
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    account_ids: Annotated[str | None, typer.Option(
        "--account-ids", help="Comma-separated AWS account ids the env may touch.")] = None,
    modules: Annotated[str | None, typer.Option(help="Comma-separated modules.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Name prefix.")] = None,
    suffix: Annotated[str | None, typer.Option(help="Name suffix (default: the env).")] = None,
    dcos_version: Annotated[str | None, typer.Option("--dcos-version")] = None,
    masters: Annotated[str | None, typer.Option(help="DC/OS masters: 1, 3 or 5.")] = None,
    private_agents: Annotated[str | None, typer.Option("--private-agents")] = None,
    public_agents: Annotated[str | None, typer.Option("--public-agents")] = None,
    admin_cidrs: Annotated[str | None, typer.Option(
        "--admin-cidrs", help="Comma-separated CIDRs that may reach admin ports.")] = None,
    domain: Annotated[str | None, typer.Option(help="A Route53 domain, or empty.")] = None,
    manager_package: Annotated[str | None, typer.Option(
        "--manager-package", help="What the manager module installs: git+https://host/you/"
        "ngp@<40-hex commit>, or a .whl path.")] = None,
    sandbox: Annotated[bool, typer.Option(help="An env in the local sandbox.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Defaults for every answer not "
                                                           "given.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write envs/<env>.toml from a few questions (what configure.sh asked), each checked as
    it is typed; flags answer them for scripts, --yes takes the defaults."""
    from ngp import init as wizard
    check_env_name(env)
    project = _project()
    path = project.envs_dir / f"{env}.toml"
    if path.exists() and not force:
        raise NgpError(f"{path} exists", hint="Pass --force to replace it, or pick another "
                       "name.")
    if not yes and not sys.stdin.isatty():
        raise NgpError("no terminal to ask in", hint="Give the answers as flags and --yes.")
    given = {k: v for k, v in dict(
        region=region, account_ids=account_ids, modules=modules, prefix=prefix, suffix=suffix,
        dcos_version=dcos_version, masters=masters, private_agents=private_agents,
        public_agents=public_agents, admin_cidrs=admin_cidrs, domain=domain,
        manager_package=manager_package).items()
        if v is not None}
    answers = wizard.Answers(suffix=env, sandbox=sandbox,
                             admin_cidrs="127.0.0.1/32" if sandbox else "")
    for key, value in given.items():
        setattr(answers, key, value)
    if sandbox:
        answers.region = given.get("region", "us-east-1")
    try:
        wizard.ask_all(answers, set(given), None if yes else (
            lambda question, default: typer.prompt(question, default=default,
                                                   show_default=True)),
            lambda line: err.print(f"[yellow]{escape(line)}[/]"))
    except ValueError as exc:
        raise NgpError(str(exc), where="ngp init", hint="Fix the flag's value.") from None
    project.envs_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(wizard.render_env(env, answers))
    needed = wizard.needed_env(answers.modules)
    try:
        project.load(env, dict.fromkeys(needed, "set"))
    except NgpError:
        path.unlink()  # never leave a file that does not load
        raise
    out.print(f"Wrote {path}. Next: `ngp plan --env {env}`.")
    if needed:
        out.print("The modules you chose need these environment variables (secrets never go "
                  "in the file): " + ", ".join(needed))


@app.command("modules")
def list_modules(as_json: Json = False) -> None:
    """The modules an env can turn on: what each makes, what it needs, and its settings."""
    from ngp.modules import MODULES

    found: list[dict[str, Any]] = []
    for name, mod in sorted(MODULES.items()):
        settings = {key: (None if field.is_required() else field.get_default(
            call_default_factory=True)) for key, field in mod.settings_model.model_fields.items()}
        found.append({"name": name, "summary": mod.summary, "needs": list(mod.needs),
                      "environment": list(mod.required_env), "settings": settings})
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    for entry in found:
        needs = f" (needs {', '.join(entry['needs'])})" if entry["needs"] else ""
        env_vars = (f"; environment: {', '.join(entry['environment'])}"
                    if entry["environment"] else "")
        out.print(f"[bold]{entry['name']}[/]{escape(needs)}: {escape(entry['summary'])}"
                  f"{escape(env_vars)}")
        for key, value in entry["settings"].items():
            out.print(f"    {key} = {escape(json.dumps(value, default=str))}")


@app.command()
def permissions(env: Env = None) -> None:
    """The least-privilege IAM policy that running ngp for the env needs (JSON); attach it to
    the user or role you run ngp as, instead of administrator rights. No AWS call."""
    env = _env(env)
    from ngp.permissions import policy

    settings = _project().load(env)
    print(json.dumps(policy(settings, engine.build_desired(settings).graph), indent=2))


@app.command()
def snapshot(
    env: Env = None,
    list_: Annotated[bool, typer.Option("--list", help="List the snapshots instead.")] = False,
    as_json: Json = False,
) -> None:
    """Write a snapshot of every Marathon app and group to the env's snapshot bucket now
    (what the hourly function does); --list shows what exists."""
    from ngp import snapshots

    env = _env(env)
    with engine.open_run(_project(), env, "snapshot", render.LineReporter(err),
                         lock=False) as run:
        if list_:
            found = snapshots.listing(run)
            if as_json:
                print(json.dumps(found, indent=2))
            else:
                for item in found:
                    out.print(f"{item['key']}  {item['size']:>9} bytes  {item['modified']}")
                if not found:
                    out.print("No snapshots yet.")
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
    as_json: Json = False,
) -> None:
    """Put every app of a snapshot back in Marathon, as it was (what POST /restore starts);
    --status ID shows a restore's record (one of POST /restore's, or of this command)."""
    from ngp import snapshots

    env = _env(env)
    with engine.open_run(_project(), env, "restore", render.LineReporter(err),
                         lock=False) as run:
        if status_of is not None:
            record = snapshots.status(run, status_of)
            if as_json:
                print(json.dumps(record, indent=2))
                return
            out.print(f"Restore {record['id']}: {record['status']}, snapshot "
                      f"{record['snapshot'] or '(the latest)'}, started {record['started']}"
                      + (f", finished {record['finished']}" if record["finished"] else ""))
            for what in ("done", "failed"):
                if record[what]:
                    out.print(f"  {what}: " + ", ".join(record[what]))
            if record["error"]:
                out.print(f"  error: {escape(record['error'])}")
            return
        which = key or "the latest snapshot"
        if not yes:
            if not sys.stdin.isatty():
                raise NgpError("no terminal to confirm the restore on",
                               hint="Pass --yes to restore without asking.")
            if not typer.confirm(f"Put every app of {which} back in env {env!r}?",
                                 default=False):
                raise NgpError("cancelled; nothing was changed")
        result = snapshots.restore(run, key, started=lambda id: err.print(
            f"Restore {id} started (ngp restore --status {id} --env {env})"))
        if as_json:
            print(json.dumps(result, indent=2))
        else:
            out.print(f"Restored {len(result['apps'])} apps from {result['snapshot']}: "
                      + ", ".join(result["apps"]))
            if result.get("other_envs_apps"):
                out.print("Left to their own envs: " + ", ".join(result["other_envs_apps"]))


@elk_app.command("allow-ip")
def elk_allow_ip(
    address: Annotated[str, typer.Argument(help="An IPv4 address or CIDR.")],
    env: Env = None,
) -> None:
    """Let a network routed into the VPC reach the OpenSearch domain: adds it to [elk]
    allowed_cidrs in envs/<env>.toml; `ngp plan` then shows the security group change, `ngp
    up` applies it."""
    from ngp.modules.elk import allow_ip

    env = _env(env)
    project = _project()
    project.load(env)  # the file is valid before it is edited
    path = project.envs_dir / f"{env}.toml"
    before = path.read_text()
    cidr, added = allow_ip(path, address)
    try:
        project.load(env)
    except NgpError:
        path.write_text(before)  # never leave a file that does not load
        raise
    out.print(escape(f"{cidr} {'added to' if added else 'is already in'} [elk] "
                     f"allowed_cidrs of {path.name}; `ngp plan --env {env}` shows the change."))


def _store(env: str) -> engine.Store:
    project = _project()
    return engine.store_for(project, project.load(env))


def _s3_store(env: str) -> S3Store:
    store = _store(env)
    if not isinstance(store, S3Store):
        raise NgpError(f"env {env!r} keeps its state in state/{env}.json",
                       where=f"{env}.toml: [state] backend",
                       hint='Set backend = "s3" and bucket to share it (README, State).')
    return store


@state_app.command("bootstrap")
def state_bootstrap(env: Env = None) -> None:
    """Make the env's S3 state bucket (versioned, encrypted, private, TLS-only) and its
    DynamoDB lock table if it uses one; what exists is checked and secured."""
    env = _env(env)
    project = _project()
    made = engine.bootstrap_backend(project, project.load(env))
    out.print(f"Made {', '.join(made)}." if made else "The state backend was there already; "
              "its settings are checked.")


@state_app.command("history")
def state_history(env: Env = None, as_json: Json = False) -> None:
    """The versions of the env's S3 state, newest first (the bucket keeps every one)."""
    env = _env(env)
    versions = _s3_store(env).history()
    if as_json:
        print(json.dumps(versions, indent=2))
        return
    for v in versions:
        out.print(f"{v['version']}  serial {v['serial']}  {v['modified']}  {v['size']} bytes"
                  + ("  (current)" if v["latest"] else ""))


@state_app.command("restore")
def state_restore(
    version: Annotated[str, typer.Argument(help="A version id from `ngp state history`.")],
    env: Env = None,
    force: Annotated[bool, typer.Option("--force", help="Even from another lineage.")] = False,
) -> None:
    """Make an earlier version of the env's S3 state the current one (as a new version)."""
    env = _env(env)
    store = _s3_store(env)
    with store.lock("state restore", lambda m: err.print(f"[yellow]warning:[/] {escape(m)}")):
        current = store.load()
        old = store.version(version)
        if store.exists() and old.lineage != current.lineage and not force:
            raise NgpError(f"version {version} has lineage {old.lineage}, the current state "
                           f"{current.lineage}", hint="Pass --force if that is what you want.")
        old.serial = current.serial + 1
        store.write_exact(old)
    out.print(f"Version {version} is the current state of env {env!r} (serial {old.serial}).")


def _move(source: Any, target: Any, what: str, force: bool) -> State:
    state = source.load()
    if not source.exists():
        raise NgpError(f"there is no state to {what}")
    if target.exists():
        there = target.load()
        if there.lineage != state.lineage and not force:
            raise NgpError(f"the {what} target holds another lineage ({there.lineage}, not "
                           f"{state.lineage})", hint="Pass --force to replace it.")
        if there.serial > state.serial and not force:
            raise NgpError(f"the {what} target is newer (serial {there.serial} > "
                           f"{state.serial})", hint="Pass --force to replace it.")
    else:
        target.load()  # an empty target: remember that it is empty
    target.write_exact(state)
    return state


@state_app.command("push")
def state_push(
    env: Env = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a newer or other state.")
                     ] = False,
) -> None:
    """Move state/<env>.json to the env's S3 state, keeping lineage and serial."""
    env = _env(env)
    store = _s3_store(env)
    local = LocalStore(_project().state_dir, env)
    with store.lock("state push", lambda m: err.print(f"[yellow]warning:[/] {escape(m)}")):
        state = _move(local, store, "push", force)
    out.print(f"Pushed {local.path} (serial {state.serial}, lineage {state.lineage}) to "
              f"{store.where}.")


@state_app.command("pull")
def state_pull(
    env: Env = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a newer or other state.")
                     ] = False,
) -> None:
    """Copy the env's S3 state to state/<env>.json, keeping lineage and serial."""
    env = _env(env)
    store = _s3_store(env)
    local = LocalStore(_project().state_dir, env)
    state = _move(store, local, "pull", force)
    out.print(f"Pulled {store.where} (serial {state.serial}) to {local.path}.")


@state_app.command("list")
def state_list(env: Env = None) -> None:
    """The addresses in the env's state, with kind and id."""
    env = _env(env)
    state = _store(env).load()
    for address, rec in sorted(state.resources.items()):
        print(f"{address}\t{rec.kind}\t{rec.id}")
    for address, pending in sorted(state.pending.items()):
        print(f"{address}\t{pending.kind}\tpending {pending.op}")


@state_app.command("show")
def state_show(address: Annotated[str, typer.Argument()], env: Env = None) -> None:
    """One recorded resource: kind, id, the spec last applied, outputs, dependencies."""
    env = _env(env)
    state = _store(env).load()
    rec = state.resources.get(address)
    if rec is None:
        raise NgpError(f"{address!r} is not in the state of env {env!r}",
                       hint="See `ngp state list`.")
    print(json.dumps({"address": address, **vars(rec)}, indent=2))


@state_app.command("unlock")
def state_unlock(
    env: Env = None,
    force: Annotated[bool, typer.Option("--force", help="Break a lock a live run holds.")] = False,
) -> None:
    """Break the env's lock and say whose it was."""
    env = _env(env)
    store = _store(env)
    note, alive = store.holder()
    if note is None and not alive:
        out.print(f"Env {env!r} is not locked.")
        return
    if alive and not force:
        raise NgpError(f"env {env!r} is locked by {describe_holder(note)}, which is running",
                       hint="Let it finish or stop it; --force breaks the lock anyway.")
    store.unlock()
    out.print(f"Unlocked env {env!r}; the lock was held by {describe_holder(note)}.")


@sandbox_app.command("start")
def sandbox_start(
    latency_ms: Annotated[float, typer.Option(
        "--latency-ms", help="Delay every AWS request by this much, on the server side.")] = 0.0,
    deploy_seconds: Annotated[float, typer.Option(
        "--marathon-deploy-seconds", help="How long a local Marathon deployment takes.")] = 0.5,
    marathon_token: Annotated[str | None, typer.Option(
        "--marathon-token", help="Make the local Marathon require this ACS token, as DC/OS's "
        "Admin Router does.")] = None,
    faults: Annotated[str, typer.Option(
        "--faults", help="AWS's hiccups on purpose, e.g. 'throttle=0.1,consistency,"
        "marathon-fail=/sandbox/platform/jenkins:503' (README, The sandbox).")] = "",
    model: Annotated[float, typer.Option(
        "--model", help="Make every AWS operation take its typical AWS time divided by this "
        "(200: a NAT gateway 0.55 s, a search domain 6 s), and Marathon as slow as DC/OS.")
    ] = 0.0,
    lenient: Annotated[list[str] | None, typer.Option(
        "--lenient", help="Turn one strict rule off, for diagnosis only (`ngp sandbox rules` "
        "lists them); repeat for more.")] = None,
    iam_policy_of: Annotated[str | None, typer.Option(
        "--iam-policy-of", help="Enforce ngp's own policy for this env (`ngp permissions "
        "--env ENV`): ngp signs as an IAM user holding it, and the sandbox refuses what it "
        "does not allow.")] = None,
    marathon_nodes: Annotated[str, typer.Option(
        "--marathon-nodes", help="The private and public agents the local Marathon places "
        "tasks on, as PRIVATE,PUBLIC (envs/sandbox.toml's dcos agents).")] = "2,1",
    as_json: Json = False,
) -> None:
    """Start the local AWS and the local Marathon on 127.0.0.1 (they keep running until
    `ngp sandbox stop`)."""
    from ngp.sandbox.faults import parse
    from ngp.sandbox.marathon import parse_nodes
    from ngp.sandbox.strict import check_lenient

    parse(faults)  # a wrong spec is one line here, not a sandbox that fails to start
    nodes = parse_nodes(marathon_nodes)
    off = check_lenient(lenient or [])
    if model < 0:
        raise NgpError("--model is a positive scale, e.g. 200")
    if iam_policy_of:
        from ngp.permissions import policy

        settings = _project().load(iam_policy_of)  # a wrong env fails before the sandbox starts
        document = policy(settings, engine.build_desired(settings).graph)
    info, started = control.start(_project(), latency_ms, deploy_seconds, marathon_token,
                                  faults, model, tuple(off), nodes)
    if iam_policy_of:
        user = control.run_as_policy(_project(), info, iam_policy_of, document)
        err.print(f"ngp signs as IAM user {user}, holding `ngp permissions --env "
                  f"{iam_policy_of}`: the sandbox refuses what that policy does not allow")
    if as_json:
        print(json.dumps({**info, "started_now": started}))
        return
    if not started and info.get("latency_ms", 0.0) != latency_ms:
        err.print(f"[yellow]warning:[/] the sandbox already runs with "
                  f"--latency-ms {info.get('latency_ms', 0)}; stop it to change that")
    if not started and info.get("marathon_nodes", [2, 1]) != list(nodes):
        err.print("[yellow]warning:[/] the sandbox's Marathon already runs with "
                  f"--marathon-nodes {','.join(map(str, info.get('marathon_nodes', [2, 1])))}; "
                  "stop it to change that")
    if not started and sorted(info.get("lenient", [])) != sorted(off):
        err.print("[yellow]warning:[/] the sandbox already runs with --lenient "
                  f"{','.join(info.get('lenient', [])) or '(none)'}; stop it to change that")
    if info.get("lenient"):
        err.print("[yellow]warning:[/] the sandbox is lenient about "
                  f"{', '.join(info['lenient'])}: AWS is not (for diagnosis only)")
    out.print(f"Sandbox {'started' if started else 'already running'}: AWS at "
              f"{info['endpoint']}, Marathon at {info.get('marathon_url')} (pid {info['pid']}).")


@sandbox_app.command("rules")
def sandbox_rules(as_json: Json = False) -> None:
    """The AWS rules the sandbox enforces that moto alone does not, with their sources."""
    from ngp.sandbox.strict import all_rules

    rules = [{"name": cls.name, "summary": cls.summary, "source": cls.source}
             for _, cls in sorted(all_rules().items())]
    if as_json:
        print(json.dumps(rules, indent=2))
        return
    render.rules_table(out, rules)


@sandbox_app.command("stop")
def sandbox_stop() -> None:
    """Stop the local AWS; everything in it is gone."""
    info = control.stop(_project())
    out.print(f"Sandbox stopped (pid {info['pid']})." if info else "The sandbox was not running.")


@sandbox_app.command("status")
def sandbox_status(as_json: Json = False) -> None:
    """Whether the local AWS runs, and where."""
    info = control.status(_project())
    if as_json:
        print(json.dumps({"running": info is not None, **(info or {})}))
    elif info is None:
        out.print("The sandbox is not running (`ngp sandbox start`).")
    else:
        out.print(f"Sandbox running: AWS at {info['endpoint']}, pid {info['pid']}, "
                  f"latency {info.get('latency_ms', 0)} ms, since {info.get('started', '?')}.")
        if info.get("marathon_url"):
            private, public = info.get("marathon_nodes", [2, 1])
            out.print(f"Marathon at {info['marathon_url']}, placing tasks on {private} "
                      f"private and {public} public agents.")
        if info.get("lenient"):
            out.print(f"Lenient about {', '.join(info['lenient'])} (for diagnosis only).")


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
