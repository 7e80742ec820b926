"""Register the built-in defenses (imported by `core.defenses.registry`; one entry per defense).

Each factory takes `epsilon` (the total per-user budget over the run) and the defense's options as
keyword arguments; an unknown option fails with the list of known ones.
"""
from __future__ import annotations

import dataclasses

from core.defenses.dpsgd import DPSGDDefense
from core.defenses.location import AdaptiveDefense, GeoGIDefense, GeoIDefense
from core.defenses.registry import register
from core.errors import ParameterError
from core.federated.defense_hook import ClientDefense

# name -> class; the order is the order tables list them in (the paper's Table 5)
BUILTIN: dict[str, type[ClientDefense]] = {
    "dpsgd": DPSGDDefense,
    "geoi": GeoIDefense,
    "geogi": GeoGIDefense,
    "adaptive": AdaptiveDefense,
}


def options_of(cls: type[ClientDefense]) -> list[str]:
    """Keyword options a defense class accepts (its init fields other than name/epsilon)."""
    return [f.name for f in dataclasses.fields(cls)
            if f.init and f.name not in ("name", "epsilon", "allocation")]


def _factory(cls: type[ClientDefense]):
    def make(epsilon: float | None = None, **options) -> ClientDefense:
        known = options_of(cls)
        for key in options:
            if key not in known:
                raise ParameterError(f"{cls.__name__} option", key, f"one of {', '.join(known)}")
        return cls(epsilon=float(epsilon), **options)
    make.__doc__ = cls.__doc__
    return make


for _name, _cls in BUILTIN.items():
    register(_name, _factory(_cls))
