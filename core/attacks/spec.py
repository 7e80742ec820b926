"""An attack is a small frozen recipe of parts (DESIGN.md §3 table); one engine runs them all."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from core.attacks.calibration import MODES as CALIBRATE
from core.errors import ParameterError, check_range

INITS = ("gaussian", "uniform", "constant", "geometric", "target")
LABELS = ("joint", "analytic")
OPTIMIZERS = ("adam", "signed-adam", "lm")
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
    optimizer: `adam`, `signed-adam` (InvGrad), or `lm` (Levenberg–Marquardt on the gradient
        mismatch, for windows whose label is known: `core.attacks.levenberg`; a round whose
        label is optimised jointly falls back to Adam).
    mapping / calibration: ST-GIA's components (paper §3.2, Eq. 9).
    chain: enhanced: window points that were earlier rounds' analytic targets (or the only free
        point of an earlier window) are known and fixed; they override the calibrated mean.
    retro: enhanced, W > 1: re-attack the last W−1 rounds' kept uploads when later rounds have
        pinned down more of their points (the server keeps what it received).
    restarts: parallel random restarts per client; the best final matching loss wins.
    closed_form: enhanced: a one-point window (W = 1) with an analytic label is read off the
        first layer's gradients (`core.attacks.analytic.first_layer_input`), no optimisation.
    calibrate: how calibration combines a point's recoveries (`core.attacks.calibration`):
        `mean` (paper Eq. 9), `residual` (the recovery that best matched its upload) or
        `converged` (as `residual`, but only a recovery from a matched upload replaces one).
    init_gate: ST-GIA's initialisation reuses the previous round's reconstruction only when its
        relative matching residual (`core.attacks.residual`) was at most this; otherwise the
        round starts from the attack's random init, so a bad guess is not carried forward.
        None: always reuse (Eq. 6 read literally).
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
    calibrate: str = "mean"
    init_gate: float | None = None

    def __post_init__(self) -> None:
        """Every part must name something the engine implements (no silent fallback)."""
        from core.attacks.distances import DISTANCES

        for field_name, value, allowed in (("distance", self.distance, tuple(DISTANCES)),
                                           ("init", self.init, INITS),
                                           ("label", self.label, LABELS),
                                           ("optimizer", self.optimizer, OPTIMIZERS),
                                           ("regularizer", self.regularizer, REGULARIZERS),
                                           ("calibrate", self.calibrate, CALIBRATE)):
            if value not in allowed:
                raise ParameterError(f"attack {self.name!r} {field_name}", value,
                                     f"one of {', '.join(map(str, allowed))}")
        check_range("lr", self.lr, 0.0, low_open=True)
        check_range("reg_weight", self.reg_weight, 0.0)
        check_range("init_scale", self.init_scale, 0.0, low_open=True)
        check_range("restarts", self.restarts, 1, 1024)
        if self.init_gate is not None:
            check_range("init_gate", self.init_gate, 0.0)

    def to_dict(self) -> dict:
        """The recipe as plain data (stored in results: which attack ran, exactly)."""
        return asdict(self)

    def with_label(self, label: str) -> "AttackSpec":
        """The same attack told the label another way (`joint` or `analytic`), for tables that
        compare attacks like for like; `own` keeps the recipe. The name says which ran."""
        if label == "own":
            return self
        if label not in LABELS:
            raise ParameterError("label", label, f"one of own, {', '.join(LABELS)}")
        return replace(self, name=f"{self.name}:{label}", label=label)

    def with_calibration(self, rule: str) -> "AttackSpec":
        """The same attack calibrating by another rule (`core.attacks.calibration.MODES`); `own`
        keeps the recipe's, and an attack without calibration is left as it is."""
        if rule == "own" or not self.calibration or rule == self.calibrate:
            return self
        if rule not in CALIBRATE:
            raise ParameterError("calibration", rule, f"one of own, {', '.join(CALIBRATE)}")
        return replace(self, name=f"{self.name}:{rule}", calibrate=rule)

    def without(self, component: str) -> "AttackSpec":
        """The same attack with one ST-GIA component switched off (ablation, paper Fig. 4)."""
        off = {"initialisation": {"previous": False}, "mapping": {"mapping": False},
               "calibration": {"calibration": False}}
        if component not in off:
            raise ValueError(f"unknown component {component!r}; known: {sorted(off)}")
        return replace(self, name=f"{self.name}-no-{component}", **off[component])
