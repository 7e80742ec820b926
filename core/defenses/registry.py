"""Defense registry: name -> factory(epsilon=..., **options) -> ClientDefense.

Like the attack registry, `register` refuses duplicates and `make` fails with the known names.
"""
from __future__ import annotations

from typing import Callable

from core.errors import ParameterError, check_range
from core.federated.defense_hook import ClientDefense

Factory = Callable[..., ClientDefense]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    if name in _REGISTRY:
        raise ValueError(f"defense {name!r} is already registered")
    _REGISTRY[name] = factory


def names() -> list[str]:
    _load_builtin()
    return list(_REGISTRY)


def make(name: str, epsilon: float | None = None, **options) -> ClientDefense:
    """Build the named defense with total per-user budget `epsilon` (None for 'none')."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ParameterError("defense", name, f"one of {', '.join(names())}")
    if name != "none":
        if epsilon is None:
            raise ParameterError("epsilon", epsilon, f"a number > 0 for defense {name!r}")
        check_range("epsilon", epsilon, 0.0, low_open=True)
    return _REGISTRY[name](epsilon=epsilon, **options)


def _none(epsilon: float | None = None, **_: object) -> ClientDefense:
    return ClientDefense()


def _load_builtin() -> None:
    if "none" not in _REGISTRY:
        register("none", _none)
    try:  # defenses land in their own modules; each registers itself on import
        import core.defenses.builtin  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "core.defenses.builtin":
            raise
