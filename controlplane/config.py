"""The control plane's configuration: one pydantic-settings model.

Precedence, highest first: CLI overrides > ``LOCALZURE_*`` environment > config file
(YAML or JSON) > defaults. Layers are deep-merged by pydantic-settings itself, so
``services.queue.port`` from the environment and ``services.queue.image`` from the
file both survive.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from controlplane.gateway.faults import FaultRule
from controlplane.gateway.ratelimit import RateLimitRule
from controlplane.logs import redact

logger = logging.getLogger(__name__)

WELL_KNOWN_ACCOUNT = "devstoreaccount1"
WELL_KNOWN_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LIVE_FIELDS: frozenset[str] = frozenset({"log_level", "log_levels", "accounts", "faults", "rate_limits"})
"""Top-level fields applied without a restart; every other change needs one."""

_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
_SECRET_NAME = re.compile(r"key|secret|password|passwd|token|credential|connection_?string|sas", re.I)


class ConfigError(Exception):
    """Invalid configuration: one line per problem, naming the field, the value and why."""


def _check_level(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def _check_account_name(name: str) -> str:
    if not _ACCOUNT_NAME.fullmatch(name):
        raise ValueError("account name must be 3-24 lowercase letters and digits")
    return name


def _check_account_key(key: str) -> str:
    try:
        base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("account key must be base64") from None
    if not key:
        raise ValueError("account key must not be empty")
    return key


def _check_route(destination: str) -> str:
    if "://" in destination:
        url = urlsplit(destination)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("a route URL must be http:// or https:// with a host")
        return destination
    service, _, account = destination.partition("/")
    if not service or (account and not _ACCOUNT_NAME.fullmatch(account)):
        raise ValueError("a route is 'service', 'service/account' or an http(s) URL")
    return destination


LevelName = Annotated[str, AfterValidator(_check_level)]
RouteDestination = Annotated[str, AfterValidator(_check_route)]
AccountName = Annotated[str, AfterValidator(_check_account_name)]
AccountKey = Annotated[str, AfterValidator(_check_account_key)]
# 0 asks the OS for any free port (tests, several instances side by side).
Port = Annotated[int, Field(ge=0, le=65535)]


class ServiceSettings(BaseModel):
    """One service's settings, e.g. ``settings.services["queue"]``."""

    # Adapters read their own keys (e.g. ``strict_auth``) from the extras.
    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    port: Port | None = None
    """None means the adapter's default port."""
    image: str | None = None
    """Container image override (Docker mode)."""
    max_body_bytes: int | None = Field(default=None, gt=0)
    """Largest request body the gateway lets through (None: the service's own limits)."""


class TlsSettings(BaseModel):
    """The local CA and HTTPS listeners: ``settings.tls``."""

    model_config = ConfigDict(extra="forbid")

    edge_https_port: Port | None = None
    """An HTTPS-only edge listener on this port; None (the default) means none.
    The edge port itself accepts TLS and CONNECT either way."""
    dir: Path | None = None
    """Where the CA and the server certificate live; None means ``<data_dir>/tls``."""

    @field_validator("dir")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


@dataclass(frozen=True)
class _LoadRequest:
    config_file: Path | None
    env: Mapping[str, str] | None


# settings_customise_sources is a classmethod without per-call arguments, so the file
# and environment of one load_settings() call reach it through this variable.
_load_request: ContextVar[_LoadRequest | None] = ContextVar("_load_request", default=None)


def parse_azurite_accounts(text: str) -> dict[str, str]:
    """``name1:key1;name2:key2`` (Azurite's ``AZURITE_ACCOUNTS``) -> {name: key}."""
    accounts: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, key = part.partition(":")
        if not sep or not name.strip():
            raise ValueError("expected 'name1:key1;name2:key2'")
        accounts[name.strip()] = key.strip()
    return accounts


class _EnvironmentSource(EnvSettingsSource):
    """``LOCALZURE_*`` from a given mapping (os.environ by default), plus ``AZURITE_ACCOUNTS``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str] | None) -> None:
        self._environ = os.environ if env is None else env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if field_name == "accounts" and isinstance(value, str) and not value.lstrip().startswith("{"):
            return parse_azurite_accounts(value)
        return super().decode_complex_value(field_name, field, value)

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        azurite = self.env_vars.get("azurite_accounts" if not self.case_sensitive else "AZURITE_ACCOUNTS")
        if azurite:
            try:
                extra = parse_azurite_accounts(azurite)
            except ValueError as exc:
                raise SettingsError(f"error parsing AZURITE_ACCOUNTS: {exc}") from exc
            # LOCALZURE_ACCOUNTS is the more specific setting: it wins on the same name.
            data["accounts"] = {**extra, **data.get("accounts", {})}
        return data


class _FileErrors:
    """Turns a config file's read and parse failures into ConfigError naming the file."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            data = super()._read_file(file_path)  # type: ignore[misc]
        except (OSError, UnicodeDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
            # YAML's messages span lines (problem, then position); keep the error on one line.
            message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise ConfigError(f"config file {file_path}: {message}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {file_path}: the top level must be a mapping, not {type(data).__name__}")
        return data


class _YamlFileSource(_FileErrors, YamlConfigSettingsSource):
    pass


class _JsonFileSource(_FileErrors, JsonConfigSettingsSource):
    pass


class _BuiltinAccountsSource(PydanticBaseSettingsSource):
    """The lowest layer: the well-known account, which other layers add to or override."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {"accounts": {WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY}}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOCALZURE_", env_nested_delimiter="__", case_sensitive=False, extra="forbid"
    )

    host: str = "127.0.0.1"
    port: Port = 8080
    """The gateway edge and admin port."""
    log_level: LevelName = "INFO"
    log_levels: dict[str, LevelName] = Field(default_factory=dict)
    """Per-logger levels, e.g. ``{"controlplane.gateway": "DEBUG"}``."""
    log_format: Literal["json", "text"] = "json"
    log_file: Path | None = None
    log_file_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    log_file_backups: int = Field(default=3, ge=0)
    data_dir: Path = Field(default_factory=lambda: Path("~/.localzure").expanduser())
    persistence: Literal["sqlite", "memory"] = "sqlite"
    # Every acknowledged write survives kill -9 either way; fsync also makes it survive a power cut.
    fsync: bool = False
    mode: Literal["auto", "host", "docker", "external"] = "auto"
    services: dict[str, ServiceSettings] = Field(default_factory=dict)
    accounts: dict[AccountName, AccountKey] = Field(default_factory=lambda: {WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY})
    """Storage account name -> base64 key."""
    auto_create_accounts: bool = False
    """Serve unknown (well-formed) account names as if configured with ``auto_create_key``:
    what a proxied app with a production connection string needs. Also ``accounts.auto_create``."""
    auto_create_key: AccountKey = WELL_KNOWN_KEY
    """The key every auto-created account has (a signature cannot be turned back into a key)."""
    tls: TlsSettings = Field(default_factory=TlsSettings)
    poll_window_us: int = Field(default=200, ge=0, le=10_000)
    """Microseconds the event loop polls before it sleeps while events keep coming (0: never;
    see ``controlplane.eventloop``): lower latency for request-response clients, paid in CPU."""
    shutdown_timeout: float = Field(default=30.0, gt=0)
    """Seconds allowed for draining in-flight requests and stopping services."""
    routes: dict[str, RouteDestination] = Field(default_factory=dict)
    """Custom edge hostnames: ``hostname -> service``, ``service/account`` or ``http(s)://backend``."""
    faults: list[FaultRule] = Field(default_factory=list)
    """Fault-injection rules (also settable at runtime: ``/_localzure/faults``)."""
    rate_limits: list[RateLimitRule] = Field(default_factory=list)
    """Rate limits per account, client or service; none means unlimited."""
    metrics: bool = True
    """Prometheus metrics at ``/_localzure/metrics``."""
    tracing: bool = True
    """Accept W3C ``traceparent`` and pass the trace on to backends."""
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    admin_token: str | None = None
    """Required by mutating admin endpoints when the edge is not bound to loopback (generated if unset)."""

    @field_validator("data_dir", "log_file")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="before")
    @classmethod
    def _accounts_auto_create(cls, data: Any) -> Any:
        # ``accounts.auto_create`` (the name the docs use) is not an account: lift it out.
        accounts = data.get("accounts") if isinstance(data, Mapping) else None
        if isinstance(accounts, Mapping) and "auto_create" in accounts:
            data, accounts = dict(data), dict(accounts)
            data.setdefault("auto_create_accounts", accounts.pop("auto_create"))
            data["accounts"] = accounts
        return data

    @field_validator("services", mode="before")
    @classmethod
    def _empty_service_entries(cls, value: Any) -> Any:
        # "queue:" with nothing under it in YAML means "defaults", not an error.
        if isinstance(value, Mapping):
            return {name: {} if entry is None else entry for name, entry in value.items()}
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        request = _load_request.get() or _LoadRequest(config_file=None, env=None)
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _EnvironmentSource(settings_cls, request.env),
        ]
        if request.config_file is not None:
            suffix = request.config_file.suffix.lower()
            if suffix in (".yaml", ".yml"):
                sources.append(_YamlFileSource(settings_cls, yaml_file=request.config_file))
            else:
                sources.append(_JsonFileSource(settings_cls, json_file=request.config_file))
        sources.append(_BuiltinAccountsSource(settings_cls))
        return tuple(sources)

    def service(self, name: str) -> ServiceSettings:
        """The service's entry, or the defaults when the config does not mention it."""
        return self.services.get(name) or ServiceSettings()

    def account_keys(self) -> Mapping[str, bytes]:
        keys = {name: base64.b64decode(key) for name, key in self.accounts.items()}
        if not self.auto_create_accounts:
            return keys
        from controlplane.gateway.authenticate import AutoCreatingKeys

        return AutoCreatingKeys(keys, base64.b64decode(self.auto_create_key))

    def tls_dir(self) -> Path:
        return self.tls.dir if self.tls.dir is not None else self.data_dir / "tls"


def _expand_dotted(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"services.queue.port": 1}`` -> ``{"services": {"queue": {"port": 1}}}``; None = not given."""
    result: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return result


def _describe_value(path: tuple[Any, ...], value: Any) -> str:
    if path and path[0] == "accounts" and "[key]" not in path and isinstance(value, str):
        # An almost-right key is still a secret: show only enough to recognise it.
        return f"'{value[:4]}…' ({len(value)} chars)"
    return repr(value)


def _format_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        field = ".".join(str(part) for part in loc if part != "[key]")
        value = _describe_value(loc, item.get("input"))
        extra = item["type"] == "extra_forbidden"
        reason = "unknown setting" if extra else item["msg"].removeprefix("Value error, ")
        lines.append(f"{field} = {value}: {reason}")
    return "\n".join(lines)


def load_settings(
    cli: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Builds the effective settings; any invalid value raises ConfigError.

    ``cli`` keys may be dotted (``services.queue.port``); None values mean "not given".
    ``env`` defaults to ``os.environ``.
    """
    if config_file is not None:
        config_file = Path(config_file).expanduser()
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file}: not found or not a file")
        if config_file.suffix.lower() not in (".yaml", ".yml", ".json"):
            raise ConfigError(f"config file {config_file}: unknown format, use .yaml, .yml or .json")
    token = _load_request.set(_LoadRequest(config_file=config_file, env=env))
    try:
        return Settings(**_expand_dotted(cli or {}))
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc)) from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
        raise ConfigError(f"{exc}{cause}") from exc
    finally:
        _load_request.reset(token)


def _redact_tree(value: Any, name: str = "") -> Any:
    if isinstance(value, dict):
        return {key: _redact_tree(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_tree(item, name) for item in value]
    if isinstance(value, str):
        return "***" if value and _SECRET_NAME.search(name) else redact(value)
    return value


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective config as JSON-able data, with keys and anything secret-looking masked."""
    data = _redact_tree(settings.model_dump(mode="json"))
    data["accounts"] = {name: "***" for name in settings.accounts}
    return data


def diff_settings(old: Settings, new: Settings) -> tuple[set[str], set[str]]:
    """(live fields changed, fields changed that need a restart), as top-level field names."""
    changed = {name for name in Settings.model_fields if getattr(old, name) != getattr(new, name)}
    return changed & LIVE_FIELDS, changed - LIVE_FIELDS


class ConfigWatcher:
    """Re-loads the config file when it changes and applies what can be applied live.

    ``reload`` rebuilds the settings with the same CLI overrides and environment as at
    start; ``on_change`` gets the applied settings and the live fields that changed.
    Restart-only fields keep their running values in the applied settings, and a
    WARNING names them on every change while they differ. A broken edit is logged and
    the previous settings stay in force.
    """

    def __init__(
        self,
        path: Path,
        reload: Callable[[], Settings],
        on_change: Callable[[Settings, set[str]], None],
        *,
        current: Settings | None = None,
        debounce_ms: int = 300,
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        self.reload = reload
        self.on_change = on_change
        self.current = current
        self.debounce_ms = debounce_ms
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        from watchfiles import awatch

        if self.current is None:
            self.current = self._load()
        # The directory, not the file: editors that save by rename replace the watched inode.
        # Names, not whole paths, are compared: the OS may report the directory resolved.
        async for _changes in awatch(
            self.path.parent,
            watch_filter=lambda _change, changed: Path(changed).name == self.path.name,
            stop_event=self._stop,
            debounce=self.debounce_ms,
            recursive=False,
        ):
            self.apply()

    def apply(self) -> None:
        """One reload-diff-notify step (what run() does on each change)."""
        new = self._load()
        if new is None:
            return
        if self.current is None:
            live, restart = set(LIVE_FIELDS), set[str]()
            applied = new
        else:
            live, restart = diff_settings(self.current, new)
            applied = self.current.model_copy(update={name: getattr(new, name) for name in live})
        if restart:
            logger.warning(
                "config file %s changed %s; restart to apply",
                self.path,
                ", ".join(sorted(restart)),
                extra={"restart_fields": sorted(restart)},
            )
        self.current = applied
        if live:
            logger.info("config file %s: applying %s live", self.path, ", ".join(sorted(live)))
            try:
                self.on_change(applied, live)
            except Exception:
                logger.exception("applying the changed config failed")

    def _load(self) -> Settings | None:
        try:
            return self.reload()
        except ConfigError as exc:
            logger.error("config file %s is invalid, keeping the previous settings: %s", self.path, exc)
        except Exception:
            logger.exception("re-loading config file %s failed, keeping the previous settings", self.path)
        return None
