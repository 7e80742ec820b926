"""Defense registry, shaped like Opacus's accountant registry (`opacus/accountants/registry.py`,
DESIGN.md §8): a literal dict from name to class, a `register` that refuses duplicates, and a
factory `make` that fails loudly on an unknown name or option.

`names()` lists the defenses in the paper's Table 5 order after "none"; `label(name)` is the one
display spelling that CLI tables and the dashboard use.

    d = make("geoi", 5.0, scope="round", reuse=True)   # built, not started
    d.start(DefenseContext(rounds, population))         # or defense_setup.make_defense(...)
"""
from __future__ import annotations

import dataclasses

from core.defenses.dpsgd import DPSGDDefense
from core.defenses.location import (AdaptiveDefense, GeoGIDefense, GeoIDefense,
                                    ProportionalAdaptiveDefense)
from core.errors import ParameterError
from core.federated.defense_hook import ClientDefense, check_epsilon

DEFENSES: dict[str, type[ClientDefense]] = {
    "none": ClientDefense,
    "dpsgd": DPSGDDefense,
    "geoi": GeoIDefense,
    "geogi": GeoGIDefense,
    "adaptive": AdaptiveDefense,
    "adaptive-prop": ProportionalAdaptiveDefense,
}

LABELS: dict[str, str] = {
    "none": "None",
    "dpsgd": "DP-SGD",
    "geoi": "Geo-I",
    "geogi": "GeoGI",
    "adaptive": "Adaptive (paper)",
    "adaptive-prop": "Adaptive, proportional (ST-GIA Lab)",
}

_NOT_OPTIONS = ("name", "epsilon")  # set by `make` itself


def register(name: str, cls: type[ClientDefense], label: str | None = None) -> None:
    """Add a defense class under `name` (shown as `label`, default the name itself)."""
    if name in DEFENSES:
        raise ValueError(f"defense {name!r} is already registered")
    if not (isinstance(cls, type) and issubclass(cls, ClientDefense)):
        raise TypeError(f"defense {name!r}: {cls!r} is not a ClientDefense subclass")
    DEFENSES[name] = cls
    LABELS[name] = label if label is not None else name


def names() -> list[str]:
    """Registered names: "none", then the paper's Table 5 order, then any added later."""
    return list(DEFENSES)


def label(name: str) -> str:
    """The display spelling of a defense (its name when it has none)."""
    return LABELS.get(name, name)


def get(name: str) -> type[ClientDefense]:
    """The class registered under `name`."""
    if name not in DEFENSES:
        raise ParameterError("defense", name, f"one of {', '.join(DEFENSES)}")
    return DEFENSES[name]


def options_of(cls: type[ClientDefense]) -> list[str]:
    """Keyword options a defense class accepts (its init fields other than name and epsilon)."""
    return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in _NOT_OPTIONS]


def options(name: str) -> list[str]:
    """Keyword options `make(name, epsilon, **options)` accepts."""
    return options_of(get(name))


def make(name: str, epsilon: float | None = None, **opts: object) -> ClientDefense:
    """Build (not start) the named defense with budget `epsilon` (ignored for "none") and options.

    ε is per km for the location mechanisms and with δ for DP-SGD; whether it is per round or
    for the whole run is the `scope` option. Fails on an unknown name (listing the known names),
    an unknown option (listing the class's options) and an ε that is not a finite number > 0.
    """
    cls = get(name)
    known = options(name)
    for key in opts:
        if key not in known:
            raise ParameterError(f"{name} option", key, f"one of {', '.join(known)}")
    if name == "none":
        return cls(name=name, **opts)
    if epsilon is None:
        raise ParameterError("epsilon", epsilon, f"a finite number > 0 for defense {name!r}")
    return cls(name=name, epsilon=check_epsilon(epsilon), **opts)
