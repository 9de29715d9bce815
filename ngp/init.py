"""`ngp init`: what configure.sh asked, asked again (or given as flags), checked as it is
typed, and written to envs/<env>.toml with a comment on every key."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ngp import config
from ngp.config import NAME_PART, SANDBOX_ACCOUNT_ID
from ngp.errors import NgpError
from ngp.modules import MODULES
from ngp.modules.dcos import MASTERS, PRIVATE_AGENTS, PUBLIC_AGENTS

REGION = re.compile(config.REGION)
DOMAIN = re.compile(config.DOMAIN)
DEFAULT_MODULES = "network,openvpn,dcos,docker_registry,jenkins"
# The manager's ngp in the sandbox, where nothing boots: any pinned commit will do. On AWS
# there is no default (the PyPI name `ngp` is another project).
SANDBOX_PACKAGE = "git+https://github.com/you/ngp@" + "0" * 40


@dataclass
class Answers:
    region: str = "us-east-1"
    # No default: a made-up id written as if it were real would pass every check and only
    # fail at the first AWS call (the sandbox's is filled in; --yes refuses without one).
    account_ids: str = ""
    modules: str = DEFAULT_MODULES
    prefix: str = "ngp"
    suffix: str = ""
    dcos_version: str = "2.2.0"
    masters: str = "3"
    private_agents: str = "2"
    public_agents: str = "1"
    admin_cidrs: str = ""
    domain: str = ""
    manager_package: str = ""
    sandbox: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# -- checks: each returns the answer in its written form, or raises ValueError(reason) -----


def check_region(value: str) -> str:
    if not REGION.match(value):
        raise ValueError("a region looks like us-east-1 or ap-northeast-1")
    return value


def check_accounts(value: str) -> str:
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids or not all(re.fullmatch(r"\d{12}", i) for i in ids):
        raise ValueError("give 12-digit AWS account ids, separated by commas")
    return ",".join(ids)


def check_modules(value: str) -> str:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in MODULES]
    if unknown or not names:
        raise ValueError(f"unknown module {unknown[0]!r}; known: {', '.join(sorted(MODULES))}"
                         if unknown else "choose at least one module")
    for name in names:
        missing = [n for n in MODULES[name].needs if n not in names]
        if missing:
            raise ValueError(f"{name} needs {', '.join(missing)} too")
    return ",".join(names)


def check_name_part(value: str) -> str:
    if value and not NAME_PART.match(value):
        raise ValueError("1-20 lower-case letters, digits or inner hyphens")
    return value


def check_version(value: str) -> str:
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", value):
        raise ValueError("a version looks like 2.2.0")
    return value


def check_count(low: int, high: int, odd: bool = False) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(f"a number from {low} to {high}")
        if odd and int(value) not in (1, 3, 5):
            raise ValueError("1, 3 or 5 (an odd number, so a majority survives a lost master)")
        return value
    return check


def check_cidrs(value: str) -> str:
    cidrs = []
    for item in (v.strip() for v in value.split(",") if v.strip()):
        try:
            cidr = ipaddress.IPv4Network(item)
        except ValueError as exc:
            raise ValueError(f"{item!r} is not a CIDR ({exc})") from None
        if cidr.prefixlen == 0:
            raise ValueError("0.0.0.0/0 would open the admin ports to the world; give your "
                             "own addresses (or edit open_admin_to_world in the file later)")
        cidrs.append(str(cidr))
    if not cidrs:
        raise ValueError("give at least one address range, e.g. 203.0.113.0/24")
    return ",".join(cidrs)


def check_domain(value: str) -> str:
    if value and not DOMAIN.match(value):
        raise ValueError("a domain looks like dev.example.com (or leave it empty)")
    return value


def check_manager_package(value: str) -> str:
    from ngp.modules.manager import check_package

    return check_package(value or None)


QUESTIONS: list[tuple[str, str, Callable[[str], str]]] = [
    ("region", "AWS region", check_region),
    ("account_ids", "AWS account id(s) this env may touch", check_accounts),
    ("modules", "Modules (comma-separated)", check_modules),
    ("prefix", "Name prefix (the old pre-tag)", check_name_part),
    ("suffix", "Name suffix (the old post-tag)", check_name_part),
    ("dcos_version", "DC/OS version", check_version),
    ("masters", "DC/OS masters (1, 3 or 5)", check_count(MASTERS[0], MASTERS[-1], odd=True)),
    ("private_agents", "DC/OS private agents", check_count(*PRIVATE_AGENTS)),
    ("public_agents", "DC/OS public agents", check_count(*PUBLIC_AGENTS)),
    ("admin_cidrs", "Admin CIDRs (who may reach ssh and the DC/OS UI)", check_cidrs),
    ("domain", "Route53 domain (empty for none)", check_domain),
    ("manager_package", "ngp for the manager: git+https://host/you/ngp@<40-hex commit>, or a "
     ".whl path", check_manager_package),
]
DCOS_ONLY = {"dcos_version", "masters", "private_agents", "public_agents"}


def ask_all(answers: Answers, given: set[str], ask: Callable[[str, str], str] | None,
            say: Callable[[str], None]) -> Answers:
    """Fill in every answer not given: asked (and asked again with the reason while it is
    wrong, offering the same default), or, with ask=None (--yes), the default, which is
    checked all the same. The account id has no default outside the sandbox: --yes without
    it is refused."""
    for key, question, check in QUESTIONS:
        if key in DCOS_ONLY and "dcos" not in answers.modules.split(","):
            continue
        if key == "manager_package" and "manager" not in answers.modules.split(","):
            continue
        if key == "manager_package" and answers.sandbox and key not in given:
            answers.manager_package = SANDBOX_PACKAGE
            continue
        if key == "account_ids" and answers.sandbox:
            answers.account_ids = SANDBOX_ACCOUNT_ID
            continue
        # The default offered stays the valid one: a rejected answer is never offered back
        # (Enter would only submit it again).
        default = getattr(answers, key)
        if key == "account_ids" and ask is None and not default:
            raise NgpError("the AWS account id has no default", where="ngp init --yes",
                           hint="Pass --account-ids (the 12-digit ids the env may touch), "
                           "or --sandbox.")
        while True:
            value = ask(question, default) if key not in given and ask is not None else default
            try:
                setattr(answers, key, check(value.strip()))
                break
            except ValueError as exc:
                if key in given or ask is None:
                    raise ValueError(f"{key}: {exc}") from None
                say(f"  {exc}")
    return answers


def toml_list(value: str) -> str:
    return "[" + ", ".join(f'"{v}"' for v in value.split(",") if v) + "]"


def render_env(env: str, a: Answers) -> str:
    """The env file, every key with its comment."""
    modules = a.modules.split(",")
    lines = [
        f"# The {env} env, written by `ngp init`. Every key is in the README (Settings).",
        f'region = "{a.region}"                  # the AWS region',
        f"allowed_account_ids = {toml_list(a.account_ids)}   # the only accounts it may touch",
    ]
    if a.sandbox:
        lines.append("sandbox = true                        # the local AWS (moto), no account")
    lines += [
        f'name_prefix = "{a.prefix}"                  # put before every AWS name',
        f'name_suffix = "{a.suffix}"                  # put after every AWS name',
    ]
    if a.domain:
        lines.append(f'domain = "{a.domain}"   # a public Route53 hosted zone of the account')
    lines += [f"modules = {toml_list(a.modules)}", "",
              "[network]",
              'cidr = "10.0.0.0/16"                  # the VPC, cut in 16 subnets',
              "availability_zones = 3               # public and private subnets in each",
              'nat = "single"                       # or "per_az", or "none"',
              f"admin_cidrs = {toml_list(a.admin_cidrs)}   # who may reach ssh and the UIs"]
    if "dcos" in modules:
        lines += ["", "[dcos]",
                  f'version = "{a.dcos_version}"               # the DC/OS release',
                  f"masters = {a.masters}                          # 1, 3 or 5",
                  f"private_agents = {a.private_agents}                   # resized in place",
                  f"public_agents = {a.public_agents}                    # behind apps.<domain>"]
        if a.sandbox:
            lines += ['image_owners = ["309956199498"]       # RHEL 7: the sandbox has no '
                      'CentOS', 'image_name = "RHEL-7.4_HVM_GA-*"']
    if a.sandbox and "openvpn" in modules:
        lines += ["", "[openvpn]", 'image_name = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-'
                  'amd64-server-*"   # an image the sandbox has']
    if a.sandbox and "manager" in modules:
        lines += ["", "[manager]", 'image_name = "amzn2-ami-hvm-*-x86_64-gp2"   # an image the '
                  'sandbox has']
    if "manager" in modules:
        lines += ([] if a.sandbox else ["", "[manager]"]) + [
            f'ngp_package = "{a.manager_package}"   # what the manager installs (pinned)']
    return "\n".join(lines) + "\n"


def needed_env(modules: str) -> list[str]:
    return sorted({var for name in modules.split(",") for var in MODULES[name].required_env})
