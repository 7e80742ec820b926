"""An attack is a small frozen recipe of parts (DESIGN.md §3 table); one engine runs them all."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from core.errors import ParameterError, check_range

INITS = ("gaussian", "uniform", "constant", "geometric", "target")
LABELS = ("joint", "analytic")
OPTIMIZERS = ("adam", "signed-adam")
REGULARIZERS = (None, "tv", "cpl")


@dataclass(frozen=True)
class AttackSpec:
    """The parts an attack chooses.

    distance: key of `core.attacks.distances.DISTANCES`.
    init: how round-1 (or every round's) dummies start; `previous` adds ST-GIA's spatiotemporal
        initialisation (paper Eq. 6): the last reconstruction slid by one point.
    label: `joint` (dummy label optimised with the input, from N(0, 1)) or `analytic`
        (recovered in closed form from the output layer's gradient, `core.attacks.analytic`).
    regularizer: None, `tv` (total variation along the window) or `cpl` (α‖F(x') − ŷ‖²).
    mapping / calibration: ST-GIA's components (paper §3.2, Eq. 9).
    chain: enhanced: window points that were earlier rounds' analytic targets (or the only free
        point of an earlier window) are known and fixed; they override the calibrated mean.
    retro: enhanced, W > 1: re-attack the last W−1 rounds' kept uploads when later rounds have
        pinned down more of their points (the server keeps what it received).
    restarts: parallel random restarts per client; the best final matching loss wins.
    closed_form: enhanced: a one-point window (W = 1) with an analytic label is read off the
        first layer's gradients (`core.attacks.analytic.first_layer_input`), no optimisation.
    subtract_known: enhanced, for uploads covering several windows (history protocol): keep the
        reconstructions of a client's earlier windows, subtract their gradients at the current
        global model from the upload and invert the residual as the newest window alone
        (DESIGN.md §3, `core.attacks.session`). Off in the paper's ST-GIA (Algorithm 1).
    """

    name: str
    distance: str = "l2"
    init: str = "gaussian"
    previous: bool = False
    label: str = "joint"
    regularizer: str | None = None
    reg_weight: float = 0.0
    optimizer: str = "adam"
    lr: float = 0.1
    box: bool = False
    mapping: bool = False
    calibration: bool = False
    chain: bool = False
    retro: bool = False
    restarts: int = 1
    init_scale: float = 1.0
    subtract_known: bool = False
    closed_form: bool = False

    def __post_init__(self) -> None:
        """Every part must name something the engine implements (no silent fallback)."""
        from core.attacks.distances import DISTANCES

        for field_name, value, allowed in (("distance", self.distance, tuple(DISTANCES)),
                                           ("init", self.init, INITS),
                                           ("label", self.label, LABELS),
                                           ("optimizer", self.optimizer, OPTIMIZERS),
                                           ("regularizer", self.regularizer, REGULARIZERS)):
            if value not in allowed:
                raise ParameterError(f"attack {self.name!r} {field_name}", value,
                                     f"one of {', '.join(map(str, allowed))}")
        check_range("lr", self.lr, 0.0, low_open=True)
        check_range("reg_weight", self.reg_weight, 0.0)
        check_range("init_scale", self.init_scale, 0.0, low_open=True)
        check_range("restarts", self.restarts, 1, 1024)

    def to_dict(self) -> dict:
        """The recipe as plain data (stored in results: which attack ran, exactly)."""
        return asdict(self)

    def without(self, component: str) -> "AttackSpec":
        """The same attack with one ST-GIA component switched off (ablation, paper Fig. 4)."""
        off = {"initialisation": {"previous": False}, "mapping": {"mapping": False},
               "calibration": {"calibration": False}}
        if component not in off:
            raise ValueError(f"unknown component {component!r}; known: {sorted(off)}")
        return replace(self, name=f"{self.name}-no-{component}", **off[component])
