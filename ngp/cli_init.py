"""`ngp init` and `ngp modules`: a new env's file, from a few questions, and what it can
turn on."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from ngp.cli_common import Json, err, find_project, out, say
from ngp.errors import NgpError

app = typer.Typer()


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
                                                           "given (the account id has none: "
                                                           "pass --account-ids).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write envs/<env>.toml from a few questions (what configure.sh asked), each checked as
    it is typed; flags answer them for scripts, --yes takes the defaults."""
    from ngp import init as wizard
    from ngp.config import check_env_name

    check_env_name(env)
    project = find_project()
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
                                                   show_default=bool(default))),
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
    say(f"Wrote {path}. Next: `ngp plan --env {env}`.")
    if needed:
        say("The modules you chose need these environment variables (secrets never go "
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
