"""`ngp sandbox ...`: the local AWS (moto's server) and the local Marathon on loopback."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from ngp.cli_common import Json, err, find_project, later, out, say
from ngp.errors import NgpError

if TYPE_CHECKING:
    from ngp import engine, render
    from ngp.sandbox import control
else:  # imported when a command runs (cli_common.later says why)
    engine, render, control = later("ngp.engine"), later("ngp.render"), later("ngp.sandbox.control")

app = typer.Typer(help="The local AWS (moto's server) on loopback.", no_args_is_help=True)


@app.command("start")
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

        settings = find_project().load(iam_policy_of)  # a wrong env fails before the sandbox starts
        document = policy(settings, engine.build_desired(settings).graph)
    info, started = control.start(find_project(), latency_ms, deploy_seconds, marathon_token,
                                  faults, model, tuple(off), nodes)
    if iam_policy_of:
        user = control.run_as_policy(find_project(), info, iam_policy_of, document)
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
    say(f"Sandbox {'started' if started else 'already running'}: AWS at "
        f"{info['endpoint']}, Marathon at {info.get('marathon_url')} (pid {info['pid']}).")


@app.command("rules")
def sandbox_rules(as_json: Json = False) -> None:
    """The AWS rules the sandbox enforces that moto alone does not, with their sources."""
    from ngp.sandbox.strict import all_rules

    rules = [{"name": cls.name, "summary": cls.summary, "source": cls.source}
             for _, cls in sorted(all_rules().items())]
    if as_json:
        print(json.dumps(rules, indent=2))
        return
    render.rules_table(out, rules)


@app.command("stop")
def sandbox_stop() -> None:
    """Stop the local AWS; everything in it is gone."""
    info = control.stop(find_project())
    say(f"Sandbox stopped (pid {info['pid']})." if info else "The sandbox was not running.")


@app.command("status")
def sandbox_status(as_json: Json = False) -> None:
    """Whether the local AWS runs, and where."""
    info = control.status(find_project())
    if as_json:
        print(json.dumps({"running": info is not None, **(info or {})}))
    elif info is None:
        say("The sandbox is not running (`ngp sandbox start`).")
    else:
        say(f"Sandbox running: AWS at {info['endpoint']}, pid {info['pid']}, "
            f"latency {info.get('latency_ms', 0)} ms, since {info.get('started', '?')}.")
        if info.get("marathon_url"):
            private, public = info.get("marathon_nodes", [2, 1])
            say(f"Marathon at {info['marathon_url']}, placing tasks on {private} "
                f"private and {public} public agents.")
        if info.get("lenient"):
            say(f"Lenient about {', '.join(info['lenient'])} (for diagnosis only).")
