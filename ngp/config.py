"""Load envs/<env>.toml into typed, validated settings, before any AWS call.

Every problem becomes one ConfigError naming the file and the key, and what to do.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ngp.errors import ConfigError
from ngp.modules import NAMES, load
from ngp.modules.base import MODULES as REGISTERED
from ngp.modules.base import ModuleSettings
from ngp.names import BUCKET_NAME_MAX, valid_bucket_name

SANDBOX_ACCOUNT_ID = "123456789012"  # the account moto serves
NAME_PART = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"  # us-east-1, us-gov-west-1
DOMAIN = r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"  # dev.example.com


def check_env_name(env: str) -> str:
    """An env's name, or one clear line: it names envs/<env>.toml, the state, every object."""
    if not ENV_NAME.match(env):
        raise ConfigError(f"{env!r} is not an env name",
                          hint="Use lower-case letters, digits and hyphens, as in "
                          "envs/<env>.toml.")
    return env


MAX_PARALLELISM = 64  # AWS calls at once; [core] parallelism and --parallelism


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateSettings(_Strict):
    """Where the env's state lives: state/<env>.json, or an S3 object shared by a team."""

    backend: Literal["local", "s3"] = "local"
    bucket: str | None = None
    key: str | None = Field(None, pattern=r"^[A-Za-z0-9!_.*'()/-]+\.json$")
    region: str | None = Field(None, pattern=REGION)
    lock: Literal["s3", "dynamodb"] = "s3"
    dynamodb_table: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    lease_seconds: int = Field(120, ge=10, le=3600)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, name: str | None) -> str | None:
        if name is not None and not valid_bucket_name(name):
            raise ValueError("not a valid S3 bucket name: 3-63 lower-case letters, digits, "
                             "dots or hyphens, a letter or digit at each end, not an IP "
                             "address, no reserved prefix or suffix")
        return name

    @model_validator(mode="after")
    def _complete(self) -> StateSettings:
        if self.backend == "s3" and not self.bucket:
            raise ValueError('backend = "s3" needs bucket (make it with `ngp state bootstrap`)')
        if self.lock == "dynamodb" and not self.dynamodb_table:
            raise ValueError('lock = "dynamodb" needs dynamodb_table')
        return self


class CoreSettings(_Strict):
    """The keys every env file has at its top level."""

    region: str = Field(pattern=REGION)
    allowed_account_ids: list[str] = Field(min_length=1)
    name_prefix: str = "ngp"
    name_suffix: str = ""
    modules: list[str] = Field(min_length=1)
    sandbox: bool = False
    endpoint_url: str | None = None
    marathon_url: str | None = None
    domain: str | None = Field(None, pattern=DOMAIN)
    ssh_public_key_path: str | None = None
    parallelism: int = Field(10, ge=1, le=MAX_PARALLELISM)
    service_parallelism: dict[str, int] = Field(default_factory=dict)
    scheduling: Literal["longest_chain", "ready_order"] = "longest_chain"
    state: StateSettings = StateSettings()

    @field_validator("allowed_account_ids")
    @classmethod
    def _account_ids(cls, ids: list[str]) -> list[str]:
        for account in ids:
            if not re.fullmatch(r"\d{12}", account):
                raise ValueError(f"{account!r} is not a 12-digit AWS account id")
        return ids

    @field_validator("name_prefix", "name_suffix")
    @classmethod
    def _name_part(cls, part: str) -> str:
        if part and not NAME_PART.match(part):
            raise ValueError(
                f"{part!r} must be 1-20 lower-case letters, digits or inner hyphens"
            )
        return part

    @field_validator("endpoint_url", "marathon_url")
    @classmethod
    def _endpoint(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        return url

    @field_validator("service_parallelism")
    @classmethod
    def _limits(cls, limits: dict[str, int]) -> dict[str, int]:
        for service, limit in limits.items():
            if not 1 <= limit <= 64:
                raise ValueError(f"{service} = {limit}: a limit is between 1 and 64")
        return limits

    @model_validator(mode="after")
    def _one_endpoint(self) -> CoreSettings:
        if self.sandbox and self.endpoint_url:
            raise ValueError("set either sandbox = true or endpoint_url, not both")
        return self


@dataclass(frozen=True)
class Settings:
    """An env's validated settings: the core keys and one settings object per module on."""

    env: str
    path: Path
    core: CoreSettings
    module_settings: dict[str, ModuleSettings]
    ssh_public_key: str | None = None  # the content of core.ssh_public_key_path
    # The Availability Zones the run chose for the network (engine.choose_zones), or None
    # when no run chose them (`ngp graph`, `ngp permissions`: no AWS call).
    zones: tuple[str, ...] | None = None

    @property
    def modules(self) -> list[str]:
        return self.core.modules

    def module(self, name: str) -> Any:
        return self.module_settings[name]

    @property
    def account(self) -> str:
        """The env's account for ARNs in policies: the one allowed, or * if several are."""
        ids = self.core.allowed_account_ids
        return ids[0] if len(ids) == 1 else "*"

    def name(self, *parts: str) -> str:
        """The AWS name of a thing: prefix, parts, suffix (the old pre-tag and post-tag)."""
        return "-".join(p for p in (self.core.name_prefix, *parts, self.core.name_suffix) if p)

    def bucket_name(self, purpose: str) -> str:
        """A bucket's name: <prefix>-<purpose>-<suffix>-<account id>. Bucket names are one
        namespace for every account, and the short ones are taken: the env's account id
        (the first allowed, if several are) makes the name the env's own."""
        return f"{self.name(purpose)}-{self.core.allowed_account_ids[0]}"


class Project:
    """Where envs/ and state/ live: $NGP_HOME, or the current directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or Path(os.environ.get("NGP_HOME", "."))).resolve()
        self.envs_dir = self.root / "envs"
        self.state_dir = self.root / "state"

    def env_names(self) -> list[str]:
        return sorted(p.stem for p in self.envs_dir.glob("*.toml"))

    def env_file(self, env: str) -> Path:
        return self.envs_dir / f"{env}.toml"

    def load(self, env: str, environ: dict[str, str] | None = None) -> Settings:
        return load_settings(self, env, os.environ if environ is None else environ)


def _where(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _first_error(exc: ValidationError, prefix: tuple[str, ...]) -> tuple[str, str]:
    err = exc.errors()[0]
    key = _key(prefix + tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        return key, "unknown key; remove it or check its spelling (README, Settings)"
    if kind == "missing":
        return key, "required key is missing; add it (README, Settings)"
    msg = err["msg"].removeprefix("Value error, ")
    given = err.get("input")
    shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
    return key, f"{msg}{shown}; fix the value (README, Settings)"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds as a table ([state] in the core), if any."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unknown_keys(table: dict[str, Any], model: type[BaseModel], section: str,
                  also: Iterable[str] = ()) -> list[tuple[str, str, list[str]]]:
    """Every key of the table (and its nested tables) that the model does not know: the
    key, the section it is in ("" for the top level), and the keys known there."""
    known = [*model.model_fields, *also]
    found: list[tuple[str, str, list[str]]] = []
    for key, value in table.items():
        if key not in known:
            found.append((key, section, known))
            continue
        field = model.model_fields.get(key)
        nested = _nested_model(field.annotation) if field else None
        if nested is not None and isinstance(value, dict):
            found += _unknown_keys(value, nested, f"{section}.{key}" if section else key)
    return found


def _check_keys(raw: dict[str, Any], where: str, module_names: set[str]) -> None:
    """Unknown keys first, in every section, each with the nearest known one: a misspelt
    required key would otherwise be reported only as missing. Only the modules whose table
    the file has are imported for it."""
    unknown = _unknown_keys(raw, CoreSettings, "", also=sorted(module_names))
    tables = [name for name in sorted(module_names) if isinstance(raw.get(name), dict)]
    for name, mod in load(tables).items():
        unknown += _unknown_keys(raw[name], mod.settings_model, name)
    if not unknown:
        return

    def place(section: str) -> str:
        return f"in [{section}]" if section else "at the top level"

    key, section, known = unknown[0]
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    what = f"unknown key {key!r} {place(section)}; " + (
        f"did you mean {near[0]!r}?" if near
        else "remove it or check its spelling (README, Settings)")
    if len(unknown) > 1:
        what += " (also unknown: " + ", ".join(
            f"{k!r} {place(s)}" for k, s, _ in unknown[1:]) + ")"
    raise ConfigError(what, where=where)


def load_settings(project: Project, env: str, environ: Any) -> Settings:
    check_env_name(env)
    path = project.env_file(env)
    where = _where(path, project.root)
    if not path.is_file():
        known = ", ".join(project.env_names()) or "none"
        raise ConfigError(
            f"{where} not found",
            hint=f"Known envs: {known}. Create it (see envs/dev.toml) or pass another --env.",
        )
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=where, hint="Fix the syntax.") from None

    # Module names, their modules not imported: only the env's are (ngp.modules.load).
    module_names = set(NAMES) | set(REGISTERED)
    _check_keys(raw, where, module_names)
    core_raw = {k: v for k, v in raw.items() if k not in module_names}
    try:
        core = CoreSettings.model_validate(core_raw)
    except ValidationError as exc:
        key, what = _first_error(exc, ())
        raise ConfigError(what, where=f"{where}: {key}") from None

    for index, name in enumerate(core.modules):
        if name not in module_names:
            raise ConfigError(
                f"unknown module {name!r}; known modules: {', '.join(sorted(module_names))}",
                where=f"{where}: modules[{index}]",
            )
    # The env's modules, and those whose table the file has (checked even when off).
    modules = load([*core.modules, *(name for name in raw if name in module_names)])
    for name in core.modules:
        for needed in modules[name].needs:
            if needed not in core.modules:
                raise ConfigError(
                    f"module {name!r} needs module {needed!r}; add it to modules",
                    where=f"{where}: modules",
                )

    apps = [name for name in core.modules if modules[name].marathon]
    # Marathon is the sandbox's, the dcos module's own cluster's, or at marathon_url.
    if apps and not (core.sandbox or core.marathon_url or "dcos" in core.modules):
        raise ConfigError(
            f"module {apps[0]!r} pushes apps to Marathon, but the env does not say where it is",
            where=f"{where}: marathon_url",
            hint="Turn on the dcos module, or set marathon_url "
            "(https://<dcos>/service/marathon), or take the app modules out of modules.")

    module_settings: dict[str, ModuleSettings] = {}
    for name, mod in sorted(modules.items()):
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table", where=f"{where}: {name}")
        if name not in core.modules and name not in raw:
            continue
        try:
            module_settings[name] = mod.settings_model.model_validate(table)
        except ValidationError as exc:
            key, what = _first_error(exc, (name,))
            raise ConfigError(what, where=f"{where}: {key}") from None

    for name in core.modules:
        for var in modules[name].required_env:
            # The sandbox talks to no real Sysdig or Tyk: it makes do with a placeholder.
            if not environ.get(var) and not core.sandbox:
                raise ConfigError(
                    f"module {name!r} needs the environment variable {var}, which is not set",
                    where=f"{where}: modules",
                    hint=f"export {var}=... (README, Secrets) or take {name!r} out of modules.",
                )
    settings = Settings(env=env, path=path, core=core, module_settings=module_settings,
                        ssh_public_key=_public_key(project, core, where))
    for name in core.modules:
        for purpose in modules[name].buckets:
            bucket = settings.bucket_name(purpose)
            if not valid_bucket_name(bucket):
                too_long = len(bucket) > BUCKET_NAME_MAX
                raise ConfigError(
                    f"the {name} module's bucket name {bucket!r} is "
                    + (f"{len(bucket)} characters, more than S3's {BUCKET_NAME_MAX}"
                       if too_long else "not a valid S3 bucket name"),
                    where=f"{where}: name_prefix/name_suffix",
                    hint="Shorten name_prefix or name_suffix." if too_long else
                    "Change name_prefix or name_suffix (README, bucket naming rules).")
    return settings


def _public_key(project: Project, core: CoreSettings, where: str) -> str | None:
    if core.ssh_public_key_path is None:
        return None
    path = Path(core.ssh_public_key_path).expanduser()
    path = path if path.is_absolute() else project.root / path
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}",
                          where=f"{where}: ssh_public_key_path",
                          hint="Give the path of an SSH public key (.pub), or remove the key "
                          "to let ngp generate one.") from None
    if not re.match(r"^(ssh-(rsa|ed25519)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?$", key):
        raise ConfigError(f"{path} is not an SSH public key", where=f"{where}: "
                          "ssh_public_key_path", hint="Use the .pub file, not the private key.")
    return key
