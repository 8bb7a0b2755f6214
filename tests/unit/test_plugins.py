"""The shared plugin registry and the one validation-error formatter."""

from __future__ import annotations

import sys

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from dl4hep.errors import ConfigError, format_validation_error
from dl4hep.plugins import Registry, modules_in, yaml_files_in


def test_registry_loads_lazily_and_once():
    calls = []
    reg: Registry[int] = Registry("widget", lambda: {"a": lambda: calls.append("a") or 1, "b": lambda: 2})
    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2
    assert calls == []  # listing loads nothing
    assert reg.get("a") == 1 and reg.get("a") == 1
    assert calls == ["a"]


def test_registry_unknown_name_names_where_and_nearest():
    reg: Registry[int] = Registry("widget", lambda: {"particlenet": lambda: 1, "pfn": lambda: 2})
    with pytest.raises(ConfigError, match=r"tasks\.t\.models\.x: unknown widget 'particlnet'\. Did you mean "
                                          r"'particlenet'\? Registered widgets: \['particlenet', 'pfn'\]"):
        reg.get("particlnet", where="tasks.t.models.x")


def test_registry_register_as_decorator_and_unregister():
    reg: Registry[type] = Registry("thing")

    @reg.register("toy")
    class Toy:
        pass

    assert reg.get("toy") is Toy
    reg.unregister("toy")
    assert "toy" not in reg


def test_modules_in_discovers_without_importing(tmp_path, monkeypatch):
    pkg = tmp_path / "toypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "alpha.py").write_text("PLUGIN = 'alpha!'\n")
    (pkg / "_helpers.py").write_text("raise RuntimeError('helpers are not plugins')\n")
    (pkg / "broken.py").write_text("OTHER = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[str] = Registry("toy", modules_in("toypkg", "PLUGIN"))
    assert reg.names() == ["alpha", "broken"]
    assert "toypkg.alpha" not in sys.modules
    assert reg.get("alpha") == "alpha!"
    with pytest.raises(ConfigError, match=r"toypkg\.broken does not define 'PLUGIN'"):
        reg.get("broken")


def test_yaml_files_in(tmp_path):
    (tmp_path / "one.yaml").write_text("x: 1\n")
    (tmp_path / "two.yaml").write_text("x: 2\n")
    reg: Registry[str] = Registry("schema", yaml_files_in(tmp_path, lambda p: p.read_text().strip()))
    assert reg.names() == ["one", "two"] and reg.get("two") == "x: 2"


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hidden: int = 1


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inner: _Inner = _Inner()
    lr: float = 0.1


def test_format_validation_error_names_full_path_and_allowed_keys_per_level():
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate({"inner": {"hiden": 3}, "lr": "fast"})

    def allowed(parent):
        return _Inner.model_fields if parent == ("inner",) else _Outer.model_fields

    msg = format_validation_error(info.value, "bad config x.yaml:", prefix="tasks.t", allowed=allowed)
    lines = msg.splitlines()
    assert lines[0] == "bad config x.yaml:"
    assert "  unknown key 'tasks.t.inner.hiden'. Did you mean 'hidden'? Allowed here: ['hidden']" in lines
    assert any(line.startswith("  tasks.t.lr: ") and "(got 'fast')" in line for line in lines)


def test_format_validation_error_top_level_and_kind_word():
    with pytest.raises(ValidationError) as info:
        _Inner.model_validate({"hiddn": 1})
    msg = format_validation_error(info.value, "h:", allowed=["hidden"], kind="option")
    assert "unknown option 'hiddn'. Did you mean 'hidden'?" in msg
    with pytest.raises(ValidationError) as info2:
        _Inner.model_validate(5)
    assert "  <top>: " in format_validation_error(info2.value, "h:")
