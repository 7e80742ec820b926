"""The five baseline attacks as recipes for the one engine (paper Table 1, DESIGN.md §3).

All use Adam with the engine's shared step-decay schedule so that the 200-iteration budget means
the same for every attack (DLG's original L-BFGS would spend up to 20 evaluations per step).

Hyper-parameters were tuned per attack on the demo city (regression head, server_lr 0.1), each
at its best within 200 iterations: mean ASR over rounds 1–10 at W = 1 (20 clients), ties broken
by mean AIT, then by W = 3 (10 clients, rounds 1–5), which separates recipes that all reach
ASR 1.0 at W = 1. Numbers are mean ASR (W = 1 / W = 3).
"""
from core.attacks.spec import AttackSpec

# DLG (Zhu et al. 2019): squared L2, Gaussian dummies, label optimised jointly.
# lr: 0.03 → 0.55, 0.1 → 0.92, 0.3 → 0.97 / 0.29, 1.0 → 0.99 / 0.35, 3.0 → 0.94.
DLG = AttackSpec("dlg", distance="l2", init="gaussian", label="joint", lr=1.0)

# iDLG (Zhao et al. 2020): squared L2, uniform dummies, label inferred analytically.
# lr: W = 1 all 1.0 (AIT 4.9 at 0.1, 6.1 at 0.3, 11.3 at 1.0); W = 3: 0.1 → 0.70, 0.3 → 0.91,
# 1.0 → 0.88.
IDLG = AttackSpec("idlg", distance="l2", init="uniform", label="analytic", lr=0.3)

# InvGrad (Geiping et al. 2020): 1 − cosine, Gaussian dummies, inferred label, total variation
# along the window, signed Adam, box constraint to the bbox.
# lr: W = 1 all 1.0 at 0.01–0.1 (AIT 26 at 0.01, 6.3 at 0.1; 0.003 → 0.63). TV weight (W = 3,
# lr 0.1): 1e-4 → 0.66, 1e-5 → 0.81, 1e-6 → 0.97, 0 → 0.93 — signed Adam follows the sign of
# the total gradient, so a TV term above the tiny cosine gradient dominates every step.
INVGRAD = AttackSpec("invgrad", distance="cosine", init="gaussian", label="analytic",
                              regularizer="tv", reg_weight=1e-6, optimizer="signed-adam",
                              lr=0.1, box=True)

# CPL (Wei et al. 2020): squared L2 plus α‖F(x') − ŷ‖², "geometric" init (one random point
# repeated along the window), inferred label.
# W = 1 all 1.0 for α ≤ 1e-2 (median error 0–3 m at α ≤ 1e-3, 11–32 m at 1e-2; α = 0.1 → 0.64:
# the model's prediction is not the target, so a strong α biases x'). W = 3: lr 0.3, α 1e-3
# → 0.98; lr 0.1 → 0.94 (α 1e-3 or 1e-4); lr 1.0 → 0.98 with AIT 25 vs 13.
CPL = AttackSpec("cpl", distance="l2", init="geometric", label="analytic",
                          regularizer="cpl", reg_weight=1e-3, lr=0.3)

# SAPAG (Wang et al. 2020): Gaussian-kernel distance with per-layer σ and depth-decaying
# weights, constant init, label optimised jointly.
# lr: 0.03 → 0.69, 0.05 → 0.71, 0.1 → 0.72 / 0.71, 0.2 → 0.74 / 0.73, 0.3 → 0.73 / 0.68,
# 1.0 → 0.38 (the kernel saturates: far from the truth its gradient vanishes).
SAPAG = AttackSpec("sapag", distance="gaussian", init="constant", label="joint", lr=0.2)
