"""ST-GIA (paper §3, Algorithm 1) and an enhanced variant.

`st-gia` is the paper's attack exactly: dummies from N(0, 1) in round 1, then the previous
round's reconstruction slid by one point (Eq. 6); the label optimised jointly from N(0, 1);
squared-L2 gradient distance (Eq. 8); mapping onto the map prior after every step (line 11);
calibration over recoveries (Eq. 9). This is what Tables 3/4 and the ablation compare.

`st-gia+` adds what the gradient gives away in closed form (DESIGN.md §3): the target is
recovered analytically from the output layer (`core.attacks.analytic`), earlier rounds' targets
are chained into later windows as known points (they are the same trajectory points), a point
that was the only unknown of its window counts as solved, kept uploads of the last W−1 rounds are
re-attacked when later rounds pin down more of their points (retro), unknown
window points start at the recovered target (people move continuously), and 4 parallel restarts
per client keep the best matching loss. When an upload covers several windows (history protocol,
or streaming with B > 1) it subtracts the gradients of the windows it already reconstructed and
inverts the residual as the newest window alone (`subtract_known`), so each round leaks what a
single-window round leaks. Results name which one ran.
"""
from core.attacks.spec import AttackSpec

# lr 0.3: the best of {0.03, 0.1, 0.3} for round-1 ASR on Foursquare NYC (W = 1, 100 clients)
ST_GIA = AttackSpec("st-gia", distance="l2", init="gaussian", previous=True,
                    label="joint", lr=0.3, mapping=True, calibration=True)

ST_GIA_PLUS = AttackSpec("st-gia+", distance="l2", init="target", previous=True,
                         label="analytic", lr=0.1, mapping=True, calibration=True,
                         chain=True, retro=True, restarts=4, subtract_known=True,
                         closed_form=True)
