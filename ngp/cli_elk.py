"""`ngp elk ...`: the elk module's OpenSearch domain, as settings of envs/<env>.toml."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ngp.cli_common import Env, find_project, out, pick_env
from ngp.errors import NgpError

app = typer.Typer(help="The OpenSearch domain of the elk module.", no_args_is_help=True)


@app.command("allow-ip")
def elk_allow_ip(
    address: Annotated[str, typer.Argument(help="An IPv4 address or CIDR.")],
    env: Env = None,
) -> None:
    """Let a network routed into the VPC reach the OpenSearch domain: adds it to [elk]
    allowed_cidrs in envs/<env>.toml; `ngp plan` then shows the security group change, `ngp
    up` applies it."""
    from ngp.modules.elk import allow_ip

    env = pick_env(env)
    project = find_project()
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
