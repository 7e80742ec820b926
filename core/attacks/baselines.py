"""The five baseline attacks as recipes for the one engine (paper Table 1, DESIGN.md §3).

All use Adam with the engine's shared step-decay schedule so that the 200-iteration budget means
the same for every attack (DLG's original L-BFGS would spend up to 20 evaluations per step).
"""
from core.attacks.registry import register
from core.attacks.spec import AttackSpec

# DLG (Zhu et al. 2019): squared L2, Gaussian dummies, label optimised jointly.
DLG = register(AttackSpec("dlg", distance="l2", init="gaussian", label="joint", lr=0.3))

# iDLG (Zhao et al. 2020): squared L2, uniform dummies, label inferred analytically.
IDLG = register(AttackSpec("idlg", distance="l2", init="uniform", label="analytic", lr=0.3))

# InvGrad (Geiping et al. 2020): 1 − cosine, Gaussian dummies, inferred label, total variation
# along the window, signed Adam, box constraint to the bbox.
INVGRAD = register(AttackSpec("invgrad", distance="cosine", init="gaussian", label="analytic",
                              regularizer="tv", reg_weight=1e-4, optimizer="signed-adam",
                              lr=0.01, box=True))

# CPL (Wei et al. 2020): squared L2 plus α‖F(x') − ŷ‖², "geometric" init (one random point
# repeated along the window), inferred label.
CPL = register(AttackSpec("cpl", distance="l2", init="geometric", label="analytic",
                          regularizer="cpl", reg_weight=1e-3, lr=0.3))

# SAPAG (Wang et al. 2020): Gaussian-kernel distance with per-layer σ and depth-decaying
# weights, constant init, label optimised jointly.
SAPAG = register(AttackSpec("sapag", distance="gaussian", init="constant", label="joint", lr=0.3))
