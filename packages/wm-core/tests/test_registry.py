"""The one Registry: clashes, helpful misses, listing, plugins and gin binding."""

from __future__ import annotations

import importlib.metadata
import sys
import types
import uuid

import gin
import pytest

import wm_core.plugins as plugins
from wm_core import Registry, RegistryClashError, UnknownNameError, did_you_mean, unknown_name


def fresh(**kwargs) -> Registry:
    return Registry(f"part_{uuid.uuid4().hex[:8]}", **kwargs)


def test_register_get_list_and_create() -> None:
    parts = fresh()

    @parts.register("huber")
    def huber(delta: float = 1.0) -> tuple[str, float]:
        return "huber", delta

    parts.register("l1", lambda: "l1")
    assert parts.names() == ["huber", "l1"] and parts.names("h*") == ["huber"]
    assert "huber" in parts and "l2" not in parts and len(parts) == 2
    assert parts.get("huber") is huber
    assert parts.create("huber") == ("huber", 1.0)
    assert parts.build("huber", delta=2.0) == ("huber", 2.0)
    obj = object()
    assert parts.create(obj) is obj  # objects pass through


def test_a_clash_is_an_error_unless_forced() -> None:
    parts = fresh()
    parts.register("a", int)
    parts.register("a", int)  # the same object again is harmless
    with pytest.raises(RegistryClashError, match=r"'a' is already registered.*force=True"):
        parts.register("a", float)
    parts.register("a", float, force=True)
    assert parts.get("a") is float


def test_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError, match="identifier"):
        fresh().register("my-part", int)


def test_a_miss_names_the_known_entries_and_the_closest() -> None:
    parts = fresh(what="losses")
    for name in ("jepa", "reconstruction", "reward"):
        parts.register(name, int)
    with pytest.raises(UnknownNameError) as info:
        parts.get("jepaa")
    msg = str(info.value)
    assert "Did you mean 'jepa'?" in msg and "Known losses: jepa, reconstruction, reward" in msg
    assert isinstance(info.value, KeyError) and info.value.known == [
        "jepa",
        "reconstruction",
        "reward",
    ]
    assert "Did you mean" not in str(parts.unknown("zzzz"))


def test_did_you_mean_and_unknown_name() -> None:
    assert did_you_mean("jepaa", ["jepa", "encoder_decoder"]) == " Did you mean 'jepa'?"
    assert did_you_mean("zzz", ["jepa"]) == ""
    err = unknown_name("role", "encodr", ["encoder", "predictor"])
    assert str(err) == "unknown role 'encodr'; known: encoder, predictor. Did you mean 'encoder'?"


def test_gin_module_makes_every_entry_bindable() -> None:
    module = f"parts_{uuid.uuid4().hex[:8]}"
    parts = Registry("part", gin_module=module)

    @parts.register("scaled")
    def scaled(x: int = 1, scale: int = 1) -> int:
        return x * scale

    gin.parse_config(f"{module}.scaled.scale = 10")
    assert parts.build("scaled", x=2) == 20
    assert parts.build("scaled", x=2, scale=3) == 6  # explicit arguments win
    assert parts.build("scaled", x=2, use_gin=False) == 2
    with pytest.raises(ValueError, match="already belongs to another registry"):
        Registry("other", gin_module=module)


def test_construct_hook_sees_registry_name_and_arguments() -> None:
    seen = []
    parts = fresh(construct=lambda reg, name, target, kw: seen.append((name, kw)) or target(**kw))
    parts.register("double", lambda x: 2 * x)
    assert parts.build("double", x=4) == 8 and seen == [("double", {"x": 4})]


def _fake_entry_points(monkeypatch, group: str, eps: list) -> None:
    real = importlib.metadata.entry_points

    def entry_points(group: str = group, **kw):
        return eps if group == entry_group else real(group=group)

    entry_group = group
    monkeypatch.setattr(plugins.importlib.metadata, "entry_points", entry_points)


def test_plugins_load_once_on_a_miss_and_report_failures(monkeypatch) -> None:
    group = f"wm_test_{uuid.uuid4().hex[:6]}.plugins"
    parts = fresh(plugin_group=group)
    calls = []

    def register() -> None:
        calls.append(1)
        parts.register("from_plugin", int)

    module = types.ModuleType("wm_core_test_plugin")
    module.register = register
    monkeypatch.setitem(sys.modules, "wm_core_test_plugin", module)
    good = importlib.metadata.EntryPoint("good", "wm_core_test_plugin:register", group)
    bad = importlib.metadata.EntryPoint("bad", "wm_no_such_module_anywhere", group)
    _fake_entry_points(monkeypatch, group, [good, bad])
    assert not parts.plugins.loaded
    with pytest.warns(RuntimeWarning, match="'bad'.*failed to load"):
        assert parts.get("from_plugin") is int  # a miss loads the group
    parts.names()
    assert calls == [1]  # once
    with pytest.raises(UnknownNameError, match="Plugins that failed to load: bad: "):
        parts.get("nope")


def test_plugin_autoload_can_be_switched_off(monkeypatch) -> None:
    group = f"wm_test_{uuid.uuid4().hex[:6]}.plugins"
    parts = fresh(plugin_group=group)
    _fake_entry_points(monkeypatch, group, [])
    monkeypatch.setenv(plugins.ALL_GROUPS_ENV, "1")
    with pytest.raises(UnknownNameError, match="auto-loading is off"):
        parts.get("x")
    assert not parts.plugins.loaded
    monkeypatch.setenv(plugins.ALL_GROUPS_ENV, "0")
    monkeypatch.setenv(parts.plugins.env, "yes")
    assert parts.plugins.autoload_disabled()
    assert plugins.load_all()[group] == []  # an explicit load still works
    assert parts.plugins.loaded
