"""Attack registry (Opacus accountant-registry style, DESIGN.md §8): name -> recipe.

`register` refuses duplicates; `get` fails loudly with the list of known names.
"""
from __future__ import annotations

from core.attacks.spec import AttackSpec
from core.errors import ParameterError

_REGISTRY: dict[str, AttackSpec] = {}


def register(spec: AttackSpec) -> AttackSpec:
    """Add an attack; a second attack under the same name is a bug."""
    if spec.name in _REGISTRY:
        raise ValueError(f"attack {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> AttackSpec:
    """The attack recipe registered under `name`."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ParameterError("attack", name, f"one of {', '.join(names())}")
    return _REGISTRY[name]


def names() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)


def _load_builtin() -> None:
    """Import the modules that register the built-in attacks (each registers on import)."""
    from core.attacks import baselines, st_gia  # noqa: F401
