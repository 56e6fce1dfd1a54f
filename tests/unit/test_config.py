"""Settings: layering, strict coercion, interpolation, merging and snapshots (CONF-1..5)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.config import (
    Secret,
    Settings,
    SettingsStore,
    deep_merge,
    interpolate,
    load_settings,
)
from datanexus.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datanexus.toml"
    path.write_text(text)
    return path


def test_conf1_defaults_then_file_then_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "workers = 2\ntenant = 'acme'\n")
    assert load_settings(env={}).workers == 1
    assert load_settings(path, env={}).workers == 2
    settings = load_settings(path, env={"DATANEXUS_WORKERS": "8"})
    assert settings.workers == 8
    assert settings.tenant == "acme"


def test_conf1_file_from_variable_and_nested_api_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9000\nhost = '0.0.0.0'\n")
    settings = load_settings(env={"DATANEXUS_CONFIG": str(path), "DATANEXUS_API__PORT": "9100"})
    assert settings.api.port == 9100
    assert settings.api.host == "0.0.0.0"


def test_conf2_numeric_strings_and_strict_booleans(tmp_path: Path) -> None:
    assert load_settings(env={"DATANEXUS_API__PORT": "8080"}).api.port == 8080
    with pytest.raises(ConfigError, match=r"DATANEXUS_WORKERS.*integer"):
        load_settings(env={"DATANEXUS_WORKERS": "eight"})
    with pytest.raises(ConfigError, match=r"datanexus.toml: workers must be an integer"):
        load_settings(write(tmp_path, "workers = true\n"), env={})


def test_conf2_unknown_keys_are_refused_naming_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"datanexus.toml: unknown key 'wrokers'"):
        load_settings(write(tmp_path, "wrokers = 2\n"), env={})
    with pytest.raises(ConfigError, match=r"unknown key 'api.prot'"):
        load_settings(write(tmp_path, "[api]\nprot = 1\n"), env={})


def test_conf2_invalid_value_names_its_origin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"DATANEXUS_WORKERS.*workers must be in 1..256"):
        load_settings(env={"DATANEXUS_WORKERS": "0"})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "workers = \n"), env={})


def test_conf3_interpolation_with_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'database_url = "postgresql://u:${PGPASS}@${PGHOST:-localhost}/db"\n'
        'tenant = "${TENANT:-demo}"\n',
    )
    settings = load_settings(path, env={"PGPASS": "s3cret"})
    assert settings.database_url is not None
    assert settings.database_url.reveal() == "postgresql://u:s3cret@localhost/db"
    assert settings.tenant == "demo"


def test_conf3_undefined_variable_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'redis_url = "redis://${REDIS_HOST}/0"\n')
    with pytest.raises(ConfigError, match=r"redis_url: environment variable REDIS_HOST"):
        load_settings(path, env={})


def test_conf3_cycles_name_the_chain() -> None:
    env = {"X": "${Y}", "Y": "${Z}", "Z": "${X}"}
    with pytest.raises(ConfigError, match=r"X → Y → Z → X"):
        interpolate("${X}", env, where="k")
    assert interpolate("${A}", {"A": "${B}-1", "B": "b"}, where="k") == "b-1"


def test_conf3_secrets_are_redacted(tmp_path: Path) -> None:
    settings = load_settings(env={"DATANEXUS_DATABASE_URL": "postgresql://u:hunter2@h/db"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.database_url)
    assert settings.database_url == Secret("postgresql://u:hunter2@h/db")


def test_conf4_deep_merge_rules() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": {"f": 1}}
    over = {"a": {"c": [3], "g": 2}, "d": None, "_x": 1, "e": {"_y": 2}}
    snapshot = repr((base, over))
    merged = deep_merge(base, over)
    assert merged == {"a": {"b": 1, "c": [3], "g": 2}, "d": None, "e": {"f": 1}}
    assert repr((base, over)) == snapshot  # inputs never mutated


def test_conf4_private_keys_never_reach_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "_class = 'x'\n[api]\n__init__ = 1\nport = 1234\n")
    settings = load_settings(path, env={})
    assert settings.api.port == 1234
    assert not hasattr(settings, "_class")


json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text(max_size=3), json_values),
    st.dictionaries(st.text(max_size=3), json_values),
)
def test_conf4_merge_laws(base: dict[str, object], over: dict[str, object]) -> None:
    merged = deep_merge(base, over)
    assert not any(isinstance(k, str) and k.startswith("_") for k in merged)
    for key, value in over.items():
        if key.startswith("_"):
            continue
        if not isinstance(value, dict):
            assert merged[key] == deep_merge({"v": value}, {})["v"]
    assert deep_merge(merged, {}) == merged


def test_conf5_readers_see_whole_snapshots() -> None:
    versions = iter(range(1, 10_000))

    def loader() -> Settings:
        n = next(versions)
        return Settings(workers=n % 200 + 1, tenant=f"t{n % 200 + 1}")

    store = SettingsStore(loader)
    mixed: list[Settings] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            s = store.current()
            if s.tenant != f"t{s.workers}":
                mixed.append(s)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    for _ in range(300):
        store.reload()
    stop.set()
    for r in readers:
        r.join()
    assert mixed == []
    assert store.current().workers == 301 % 200 + 1


def test_conf5_failed_reload_keeps_current() -> None:
    calls = {"n": 0}

    def loader() -> Settings:
        calls["n"] += 1
        if calls["n"] > 1:
            raise ConfigError("bad")
        return Settings(workers=3)

    store = SettingsStore(loader)
    seen: list[Settings] = []
    store.on_change(seen.append)
    with pytest.raises(ConfigError):
        store.reload()
    assert store.current().workers == 3
    assert seen == []


def test_conf6_a_burst_of_writes_reloads_once_with_the_final_content(tmp_path: Path) -> None:
    path = write(tmp_path, "workers = 1\n")
    store = SettingsStore(lambda: load_settings(path, env={}))
    seen: list[int] = []
    store.on_change(lambda s: seen.append(s.workers))
    stop = store.watch(path, debounce=0.2)
    try:
        for n in (2, 3, 4):  # three writes within 50 ms
            path.write_text(f"workers = {n}\n")
            time.sleep(0.015)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.4)  # room for a second (wrong) reload to show up
    finally:
        stop()
    assert seen == [4]
    assert store.current().workers == 4


def test_conf6_a_broken_file_keeps_the_current_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "workers = 3\n")
    store = SettingsStore(lambda: load_settings(path, env={}))
    stop = store.watch(path, debounce=0.05)
    try:
        path.write_text("workers = oops\n")
        time.sleep(0.5)
    finally:
        stop()
    assert store.current().workers == 3
