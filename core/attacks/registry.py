"""Attack registry (Opacus accountant-registry style, DESIGN.md §8): a literal dict name -> recipe.

The recipes are plain module constants (`core.attacks.baselines`, `core.attacks.st_gia`); this
module only names them, so nothing registers itself on import and there is no import cycle.
`register` refuses duplicates; `get` fails loudly with the list of known names.
"""
from __future__ import annotations

from core.attacks.baselines import CPL, DLG, IDLG, INVGRAD, SAPAG
from core.attacks.spec import AttackSpec
from core.attacks.st_gia import ST_GIA, ST_GIA_PLUS
from core.errors import ParameterError

# The paper's order (Table 1 / Tables 3, 4): five baselines, then ST-GIA; then the enhanced one.
ATTACKS: dict[str, AttackSpec] = {
    "dlg": DLG,
    "idlg": IDLG,
    "invgrad": INVGRAD,
    "cpl": CPL,
    "sapag": SAPAG,
    "st-gia": ST_GIA,
    "st-gia+": ST_GIA_PLUS,
}


def register(spec: AttackSpec, attacks: dict[str, AttackSpec] = ATTACKS) -> AttackSpec:
    """Add an attack recipe; a second recipe under the same name is a bug."""
    if spec.name in attacks:
        raise ValueError(f"attack {spec.name!r} is already registered")
    attacks[spec.name] = spec
    return spec


def get(name: str) -> AttackSpec:
    """The attack recipe registered under `name` (ParameterError listing the known ones)."""
    if name not in ATTACKS:
        raise ParameterError("attack", name, f"one of {', '.join(ATTACKS)}")
    return ATTACKS[name]


def names() -> list[str]:
    return list(ATTACKS)


def is_st_gia(name: str) -> bool:
    """Whether the attack has ST-GIA's components (initialisation, mapping, calibration)."""
    spec = get(name)
    return spec.previous and spec.mapping and spec.calibration
