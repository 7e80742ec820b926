"""The defense registry (Opacus accountant-registry shape): a literal dict, duplicate refusal, a
factory that fails loudly, one display label per defense, and no import cycle."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from core.defenses import registry
from core.defenses.dpsgd import DPSGDDefense
from core.defenses.location import ProportionalAdaptiveDefense
from core.defenses.location import AdaptiveDefense, GeoGIDefense, GeoIDefense
from core.errors import ParameterError
from core.federated.defense_hook import ClientDefense


@pytest.fixture
def isolated(monkeypatch):
    """Registrations made by a test go to copies of the registry's dicts."""
    monkeypatch.setattr(registry, "DEFENSES", dict(registry.DEFENSES))
    monkeypatch.setattr(registry, "LABELS", dict(registry.LABELS))


def test_registry_is_the_literal_dict_in_table_5_order():
    assert registry.DEFENSES == {"none": ClientDefense, "dpsgd": DPSGDDefense,
                                 "geoi": GeoIDefense, "geogi": GeoGIDefense,
                                 "adaptive": AdaptiveDefense,
                                 "adaptive-prop": ProportionalAdaptiveDefense}
    assert registry.names() == ["none", "dpsgd", "geoi", "geogi", "adaptive", "adaptive-prop"]
    assert [registry.label(n) for n in registry.names()] == [
        "None", "DP-SGD", "Geo-I", "GeoGI", "Adaptive (paper)", "Adaptive, proportional (ST-GIA Lab)"]
    assert registry.label("unknown") == "unknown"


def test_register_refuses_duplicates_and_non_defenses(isolated):
    with pytest.raises(ValueError, match="already registered"):
        registry.register("geoi", GeoIDefense)
    with pytest.raises(TypeError):
        registry.register("thing", dict)
    registry.register("geoi-snap", GeoIDefense, label="Geo-I (snapped)")
    assert registry.names()[-1] == "geoi-snap" and registry.label("geoi-snap") == "Geo-I (snapped)"
    d = registry.make("geoi-snap", 1.0, snap=True)
    assert isinstance(d, GeoIDefense) and d.name == "geoi-snap" and d.snap


def test_make_fails_on_unknown_name_with_the_known_names():
    with pytest.raises(ParameterError) as err:
        registry.make("nope", 1.0)
    for n in registry.names():
        assert n in str(err.value)


def test_make_fails_on_unknown_option_with_the_classes_options():
    with pytest.raises(ParameterError) as err:
        registry.make("dpsgd", 1.0, clip=2.0)
    assert all(o in str(err.value) for o in ("clip_norm", "delta", "scope", "replace_adjacency"))
    with pytest.raises(ParameterError, match="reuse"):
        registry.make("adaptive", 1.0, profile=None)        # context, not an option
    assert registry.options("geoi") == ["scope", "reuse", "clip", "snap"]
    assert "roads" not in registry.options("geogi") and "sigma" not in registry.options("dpsgd")


def test_make_builds_with_epsilon_scope_and_options():
    d = registry.make("geogi", 2.5, scope="round", reuse=True)
    assert (d.name, d.epsilon, d.scope, d.reuse, d.allocation) == ("geogi", 2.5, "round", True, [])
    assert registry.make("dpsgd", 3).epsilon == 3.0 and registry.make("dpsgd", 3).scope == "total"
    none = registry.make("none", 7.0, scope="round")         # ε is ignored for no defense
    assert type(none) is ClientDefense and none.epsilon == math.inf
    with pytest.raises(ParameterError, match="epsilon"):
        registry.make("geoi", None)
    with pytest.raises(ParameterError, match="scope"):
        registry.make("geoi", 1.0, scope="epoch")


def test_registry_imports_first_in_a_fresh_interpreter_without_a_cycle():
    code = ("import core.defenses.registry as r, core.federated.rounds; "
            "assert r.names()[0] == 'none'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=".")
    assert res.returncode == 0, res.stderr
