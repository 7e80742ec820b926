"""What a stakeholder report says, per kind of result document — the one doc → report mapping.

`report_content(doc)` reads a result document (attack, compare-attacks, ablation,
compare-defenses, defense-maps) and returns a `Report`: a plain-words headline with its number,
then sections of paragraphs, figures, maps and small tables. Nothing here renders HTML
(`core.reports.html` does). Documents are read defensively: a missing field gives "–" rather than
an error, and a value may be a number or — for sweeps over seeds — a dict with "mean" (and "ci95"
as a half-width or [low, high]); `value` and `ci_text` are the only readers of such cells.
To support a new kind or field, extend `KINDS` and its builder here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import folium
import plotly.graph_objects as go

from core.viz import figures, maps

THRESHOLD_M = 500.0
GEO_DEFENSES = ("geoi", "geogi", "adaptive", "adaptive-prop")


# ---- reading documents -------------------------------------------------------------------------

def value(v: Any) -> float | None:
    """A number from a document cell: a plain number, or {"mean": x, ...} (sweeps over seeds)."""
    if isinstance(v, dict):
        v = v.get("mean", v.get("value"))
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if math.isnan(float(v)) else float(v)


def ci_text(v: Any, pct: bool = False) -> str:
    """' ± h' when a cell carries a 95 % interval ("ci95": half-width or [low, high]), else ''."""
    if not isinstance(v, dict):
        return ""
    ci = v.get("ci95", v.get("ci"))
    half = None
    if isinstance(ci, (int, float)):
        half = float(ci)
    elif isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
        half = (float(ci[1]) - float(ci[0])) / 2
    if half is None:
        return ""
    return f" ± {100 * half:.0f} %" if pct else f" ± {half:.3g}"


def pct(v: Any) -> str:
    """A share as a whole percentage ('93 %'), '–' when missing."""
    x = value(v)
    return "–" if x is None else f"{100 * x:.0f} %"


def num(v: Any, digits: int = 3) -> str:
    x = value(v)
    return "–" if x is None else f"{x:.{digits}f}"


def metres(v: Any) -> str:
    x = value(v)
    if x is None:
        return "–"
    return f"{x / 1000:,.1f} km" if x >= 10_000 else f"{x:,.0f} m"


def kind_of(doc: dict) -> str:
    """The document's kind from its fields (documents do not always say it)."""
    if not isinstance(doc, dict):
        raise ValueError("a result document is a JSON object")
    for key, kind in (("reconstructions", "attack"), ("attacks", "compare-attacks"),
                      ("variants", "ablation"), ("defenses", "compare-defenses"),
                      ("runs", "defense-maps")):
        if key in doc:
            return kind
    if "rounds" in doc and "summary" in doc:
        return "attack"
    raise ValueError("not an ST-GIA Lab result document: expected one of 'rounds', 'attacks', "
                     "'variants', 'defenses' or 'runs'")


# ---- the report's parts ------------------------------------------------------------------------

@dataclass
class Headline:
    text: str                 # the sentence, with "{number}" where the number goes
    number: float | None      # the value behind it (a share 0–1), for tests and for readers
    shown: str                # how the number is printed ('93 %')


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    figures: list[go.Figure] = field(default_factory=list)
    maps: list[tuple[str, folium.Map]] = field(default_factory=list)   # (caption, map)
    table: list[dict] | None = None


@dataclass
class Report:
    title: str
    kind: str
    headline: Headline
    sections: list[Section]


def _cfg(doc: dict) -> dict:
    c = doc.get("config")
    return c if isinstance(c, dict) else {}


def _threshold(doc: dict) -> float:
    return value(_cfg(doc).get("threshold_m")) or THRESHOLD_M


def settings_section(doc: dict) -> Section:
    """The settings a reader needs to repeat the run, with what each means."""
    c = _cfg(doc)
    rows = [("Data", c.get("dataset"), "'demo' is a generated city; otherwise the trajectory file"),
            ("People (clients)", c.get("clients"), "phones that train the model together"),
            ("Training rounds", doc.get("rounds_run", c.get("rounds")),
             "each round every phone uploads one update"),
            ("Window", c.get("window"), "past locations the model sees to predict the next one"),
            ("Attack", doc.get("attack", c.get("attack")), "how the server reads the updates"),
            ("Attack iterations", c.get("iters"), "search steps per round"),
            ("Success radius", f"{_threshold(doc):g} m", "a place counts as found within this"),
            ("Defense", _defenses_of(doc) or c.get("defense", "none"), "noise added on the phone"),
            ("ε (privacy budget)", _epsilons_of(doc) or c.get("epsilon"),
             "smaller = more noise" + (", per round" if c.get("epsilon_scope") == "round"
                                       else ", for the whole run")),
            ("Seed", c.get("seed"), "random seed; the same seed repeats the run")]
    return Section("Settings", table=[{"setting": a, "value": "–" if b is None else str(b),
                                        "meaning": m} for a, b, m in rows])


def _defenses_of(doc: dict) -> str | None:
    """A sweep's defenses as its labels spell them (None for a single run)."""
    defs = doc.get("defenses")
    if not isinstance(defs, dict):
        return None
    labels = doc.get("labels") or {}
    return ", ".join(labels.get(n, n) for n in defs if n != "none") + " (and none, for reference)"


def _epsilons_of(doc: dict) -> str | None:
    defs = doc.get("defenses")
    if not isinstance(defs, dict):
        return None
    eps = sorted({k for n, cells in defs.items() if n != "none" and isinstance(cells, dict)
                  for k in cells if _float(k) is not None}, key=_float)
    return ", ".join(eps) or None


METHOD = (
    "In federated learning, phones train a shared next-location model without sending their "
    "locations: each round every phone computes how the model should change on its own recent "
    "locations (a gradient) and uploads only that. An honest-but-curious server can still search "
    "for the locations whose gradient matches an upload — a gradient inversion attack. ST-GIA, "
    "the attack studied here (Yang et al., 'Enhancing Privacy of Spatiotemporal Federated "
    "Learning against Gradient Inversion Attacks'), starts each search from the previous round's "
    "answer, snaps guesses onto the road network and averages the rounds that see the same "
    "place. A place counts as found (an attack success) when the reconstruction is within the "
    "success radius of the true location; the attack success rate (ASR) is the share found. "
    "Utility is recall@5: how often the trained model's five best guesses contain the person's "
    "actual next place. Differential-privacy defenses add noise on the phone: to the locations "
    "(Geo-indistinguishability and its variants) or to the update (DP-SGD).")

LIMITS = [
    "One run with one random seed unless stated: another seed gives somewhat different numbers.",
    "The attacker here is the server itself and sees every upload; an outside eavesdropper "
    "would see less.",
    "The model and data are small (a few dozen people, short windows); real deployments differ "
    "in size, and the paper's setting (one-point windows, plain gradients) is among the easiest "
    "to attack.",
    "A found place is within the success radius, not at the exact address; a missed place may "
    "still be close.",
    "The demo city is generated, not real people; results on it show the mechanism, not a "
    "measured risk for a population.",
]


def _seed_limit(doc: dict) -> list[str]:
    seeds = doc.get("seeds") or _cfg(doc).get("seeds")
    if isinstance(seeds, list) and len(seeds) > 1:
        return [f"Averaged over {len(seeds)} seeds; ± gives a 95 % interval of the mean."] \
            + LIMITS[1:]
    return LIMITS


def _closing(doc: dict) -> list[Section]:
    return [settings_section(doc), Section("How it works", [METHOD]),
            Section("Limits of this result", _seed_limit(doc))]


# ---- per kind ----------------------------------------------------------------------------------

def _median_client(recon: dict) -> int | None:
    """The client whose median error is the median among clients: a typical person, not the
    best or the worst case."""
    meds = []
    for c in recon.get("clients", []):
        errs = sorted(e for e in (value(p.get("error_m")) for p in c.get("points", [])) if e is not None)
        if errs:
            meds.append((errs[len(errs) // 2], c.get("client")))
    if not meds:
        return None
    meds.sort(key=lambda t: t[0])
    return meds[len(meds) // 2][1]


def _user_map(doc: dict, roads, tiles: str = "none") -> tuple[str, folium.Map] | None:
    recon = doc.get("reconstructions") or {}
    client = _median_client(recon)
    if client is None:
        return None
    c = next(c for c in recon["clients"] if c.get("client") == client)
    errs = [value(p.get("error_m")) for p in c.get("points", [])]
    errs = [e for e in errs if e is not None]
    thr = _threshold(doc)
    found = sum(e < thr for e in errs)
    m = maps.reconstruction_map(recon, roads, client=client, tiles=tiles)
    caption = (f"User {c.get('user_id')}: blue is where this person really was, red dashed is "
               f"what the server reconstructed from the uploads, grey dotted lines join each true "
               f"place to its reconstruction. {found} of {len(errs)} places were found within "
               f"{thr:g} m (this user's median error is typical of the run)."
               + (" Light grey: the road network." if roads is not None else
                  " No road network is drawn under this map."))
    return caption, m


def attack_report(doc: dict, roads=None, tiles: str = "none") -> Report:
    s = doc.get("summary") or {}
    rows = doc.get("rounds") or []
    thr = _threshold(doc)
    first = s.get("first_round_asr", rows[0].get("asr") if rows else None)
    c = _cfg(doc)
    defended = c.get("defense", "none") not in (None, "none")
    head = Headline(f"After one round of training, the server placed {{number}} of the visited "
                    f"places within {thr:g} m of where the person really was"
                    + (f", despite the {c.get('defense')} defense at ε = {c.get('epsilon')}"
                       if defended else "") + ".", value(first), pct(first))
    summary = [f"Over all {s.get('rounds_run', len(rows))} rounds the attack found "
               f"{pct(s.get('mean_asr'))}{ci_text(s.get('mean_asr'), True)} of the places on "
               f"average (last round: {pct(s.get('last_round_asr'))}). With the attacker's final "
               f"estimates, which average every round that saw a place, "
               f"{pct(s.get('mean_asr_final'))} were found."]
    base = s.get("baselines") or {}
    util = (f"The model the phones trained guesses a person's next place among its top five "
            f"{pct(s.get('final_recall_at_5'))} of the time (recall@5, higher is more useful)")
    if value(base.get("persistence")) is not None:
        util += (f"; a rule that needs no model at all — the five known places nearest the "
                 f"current one — reaches {pct(base.get('persistence'))}")
    summary.append(util + ".")
    if defended:
        summary.append(epsilon_in_metres(c.get("defense"), value(c.get("epsilon")),
                                         c.get("epsilon_scope", "round"),
                                         int(value(c.get("rounds")) or 1)))
    secs = [Section("What happened", summary)]
    um = _user_map(doc, roads, tiles)
    if um:
        secs.append(Section("One person's trajectory", maps=[um]))
    if rows:
        secs.append(Section("Attack and utility over training", [
            "Top: the share of places found (ASR, higher = worse for privacy) and the median "
            "distance between a true place and its reconstruction (lower = worse for privacy). "
            "Bottom: how useful the trained model is (recall@5)."],
            figures=[figures.rounds_figure(rows, thr), figures.utility_figure(rows)]))
    return Report(f"Location privacy report: {doc.get('attack', c.get('attack', 'attack'))} "
                  f"on {c.get('dataset', '?')}", "attack", head, secs + _closing(doc))


def epsilon_in_metres(defense: str | None, eps: float | None, scope: str, rounds: int) -> str:
    """ε in words a reader can picture: the mean displacement of a reported location."""
    if eps is None or defense in (None, "none"):
        return ""
    if defense == "dpsgd":
        return (f"ε = {eps:g} here is a DP-SGD budget: the phone clips its update and adds noise "
                "to it, not to locations, so it has no reading in metres; smaller ε means more "
                "noise.")
    per_round = eps if scope == "round" else eps / max(rounds, 1)
    where = "every round" if scope == "round" else f"each of the {rounds} rounds (ε/{rounds})"
    unit = f"ε = {eps:g} per km{' per round' if scope == 'round' else ' for the whole run'}"
    moved = metres(2000 / per_round)
    if defense == "geoi":
        text = (f"{unit}: the phone reports a location moved by {moved} on average in {where} "
                "(planar Laplace noise moves a point 2/ε km on average).")
    else:
        text = (f"{unit}: for scale, Geo-I's planar Laplace noise at this ε moves a reported "
                f"location by {moved} on average in {where} (2/ε km); {defense} instead picks "
                "the reported place among road nodes, less likely the farther it is by road.")
    if defense.startswith("adaptive"):
        text += " The adaptive defense spends this budget unevenly over rounds, so the noise varies."
    return text


def comparison_report(doc: dict, roads=None, tiles: str = "none") -> Report:
    group = "attacks" if "attacks" in doc else "variants"
    entries = {n: e for n, e in (doc.get(group) or {}).items() if isinstance(e, dict)}
    thr = _threshold(doc)
    c = _cfg(doc)
    means = {n: value((e.get("summary") or {}).get("mean_asr")) for n, e in entries.items()}
    main = next((n for n in entries if n.startswith("st-gia")), next(iter(entries), "the attack"))
    head = Headline(f"Averaged over {doc.get('rounds_run', c.get('rounds', '?'))} rounds, "
                    f"{main} placed {{number}} of the visited places within {thr:g} m.",
                    means.get(main), pct(means.get(main)))
    ranked = sorted(((v, n) for n, v in means.items() if v is not None), reverse=True)
    text = ["Share of places found (ASR, mean over rounds), highest first: "
            + "; ".join(f"{n} {pct(v)}" for v, n in ranked) + "."]
    if group == "attacks" and c.get("window") == 1 and any(n in means for n in ("idlg", "cpl")):
        text.append("With a one-point window the analytic label recovery (used by iDLG, InvGrad "
                    "and CPL) makes those attacks exact on the raw gradient, so they can match or "
                    "beat ST-GIA here; ST-GIA's road snapping can even move an exact answer "
                    "slightly. Longer windows or defended updates separate them.")
    if group == "variants":
        text.append("Each variant is ST-GIA with one component switched off; the drop from the "
                    "full attack is what that component contributes.")
    series = {n: e.get("rounds") or [] for n, e in entries.items()}
    figs = [figures.ablation_figure(doc)] if group == "variants" else []
    figs.append(figures.series_figure(series, "asr", "Share of places found (ASR) per round"))
    table = [{"attack" if group == "attacks" else "variant": n,
              "places found (mean ASR)": pct(e.get("summary", {}).get("mean_asr")),
              "iterations to succeed (mean AIT)": num(e.get("summary", {}).get("mean_ait"), 1)}
             for n, e in entries.items()]
    title = "Attack comparison" if group == "attacks" else "Ablation of ST-GIA"
    secs = [Section("What happened", text, figures=figs, table=table)]
    return Report(f"Location privacy report: {title.lower()} on {c.get('dataset', '?')}",
                  "compare-attacks" if group == "attacks" else "ablation", head,
                  secs + _closing(doc))


def defenses_report(doc: dict, roads=None, tiles: str = "none") -> Report:
    defs = doc.get("defenses") or {}
    labels = doc.get("labels") or {}
    base = defs.get("none") if isinstance(defs.get("none"), dict) else {}
    c = _cfg(doc)
    thr = _threshold(doc)
    head = Headline(f"Without a defense the server placed {{number}} of the visited places "
                    f"within {thr:g} m, averaged over the rounds.", value(base.get("asr")),
                    pct(base.get("asr")))
    rounds = int(value(c.get("rounds")) or 1)
    scope = c.get("epsilon_scope", "round")
    table, eps_lines = [], []
    for name, cells in defs.items():
        if name == "none" or not isinstance(cells, dict):
            continue
        for e in sorted(cells, key=lambda k: value(_float(k)) or 0.0):
            cell = cells[e]
            if not isinstance(cell, dict):
                continue
            table.append({"defense": labels.get(name, name), "ε": e,
                          "places found (ASR)": pct(cell.get("asr")) + ci_text(cell.get("asr"), True),
                          "model usefulness (recall@5)": num(cell.get("final_recall_at_5",
                                                                      cell.get("recall_at_5")))})
    geo = [n for n in defs if n in GEO_DEFENSES]
    eps_all = sorted({_float(e) for n in defs if n != "none" and isinstance(defs[n], dict)
                      for e in defs[n]} - {None})
    if geo and eps_all:
        eps_lines = [epsilon_in_metres(geo[0], e, scope, rounds) for e in (eps_all[0], eps_all[-1])]
    if "dpsgd" in defs:
        eps_lines.append(epsilon_in_metres("dpsgd", eps_all[0] if eps_all else 1.0, scope, rounds))
    text = [f"Without a defense the final model's recall@5 is "
            f"{num(base.get('final_recall_at_5', base.get('recall_at_5')))}."]
    try:
        from core.experiments.defenses import reading
        text += reading(doc)[1:]
    except Exception:  # noqa: BLE001 - an older or newer document: the table still says it
        pass
    secs = [Section("What each defense buys", text + [e for e in eps_lines if e],
                    figures=[figures.frontier_figure(doc)], table=table)]
    return Report(f"Location privacy report: defenses on {c.get('dataset', '?')}",
                  "compare-defenses", head, secs + _closing(doc))


def _float(k: Any) -> float | None:
    try:
        return float(k)
    except (TypeError, ValueError):
        return None


def defense_maps_report(doc: dict, roads=None, tiles: str = "none") -> Report:
    runs = {n: r for n, r in (doc.get("runs") or {}).items() if isinstance(r, dict)}
    base = runs.get("none", next(iter(runs.values()), {}))
    thr = _threshold(base)
    v = value((base.get("summary") or {}).get("mean_asr"))
    head = Headline(f"Without a defense the server placed {{number}} of the visited places "
                    f"within {thr:g} m, averaged over the rounds.", v, pct(v))
    client = _median_client(base.get("reconstructions") or {})
    frame = maps.client_bounds([r.get("reconstructions") or {} for r in runs.values()], client)
    map_list, text = [], []
    for name, r in runs.items():
        c = _cfg(r)
        label = "no defense" if name == "none" else f"{name}, ε = {c.get('epsilon')}"
        text.append(f"{label}: {pct((r.get('summary') or {}).get('mean_asr'))} of places found. "
                    + epsilon_in_metres(name, value(c.get("epsilon")), c.get("epsilon_scope", "round"),
                                        int(value(c.get("rounds")) or 1)))
        if client is not None and r.get("reconstructions"):
            map_list.append((label, maps.reconstruction_map(r["reconstructions"], roads,
                                                            client=client, tiles=tiles,
                                                            bounds=frame)))
    text.append("Every map shows the same area at the same zoom.")
    secs = [Section("The same person under each defense", text, maps=map_list)]
    return Report("Location privacy report: one person under each defense", "defense-maps",
                  head, secs + _closing(base))


KINDS: dict[str, Callable[..., Report]] = {
    "attack": attack_report,
    "compare-attacks": comparison_report,
    "ablation": comparison_report,
    "compare-defenses": defenses_report,
    "defense-maps": defense_maps_report,
}


def report_content(doc: dict, roads=None, tiles: str = "none") -> Report:
    """The report for any result document (see `KINDS`)."""
    return KINDS[kind_of(doc)](doc, roads, tiles)
