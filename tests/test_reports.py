"""The stakeholder report: document kinds, defensive reading, the headline, self-contained HTML,
and `python -m core report`."""
from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import pytest

from core.cli.main import main
from core.reports import build_report, kind_of, report_content
from core.reports.content import ci_text, epsilon_in_metres, value

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "docs" / "results" / "def_demo_paper_round.json"


def attack_doc(asr1: float = 0.93) -> dict:
    pts = [{"index": i, "true": [41.87 + i * 1e-3, -87.68], "rec": [41.87 + i * 1e-3, -87.6805],
            "error_m": 41.5 + i, "first_round": 1} for i in range(3)]
    return {"config": {"dataset": "demo", "clients": 2, "rounds": 2, "window": 1, "iters": 30,
                       "threshold_m": 500.0, "defense": "geoi", "epsilon": 5.0,
                       "epsilon_scope": "round", "seed": 0},
            "attack": "st-gia",
            "rounds": [{"round": 1, "asr": asr1, "median_error_m": 40.0, "recall_at_5": 0.1},
                       {"round": 2, "asr": 0.8, "median_error_m": 4119.8764, "recall_at_5": 0.2}],
            "summary": {"rounds_run": 2, "mean_asr": 0.865, "first_round_asr": asr1,
                        "last_round_asr": 0.8, "final_recall_at_5": 0.2,
                        "baselines": {"persistence": 0.05}},
            "reconstructions": {"clients": [{"client": 0, "user_id": "u1", "points": pts}],
                                "by_round": []}}


def headline_value(html: str) -> float:
    return float(re.search(r'id="headline-number" data-value="([^"]+)"', html).group(1))


def test_kinds_of_documents():
    assert kind_of(attack_doc()) == "attack"
    assert kind_of({"attacks": {}}) == "compare-attacks"
    assert kind_of({"variants": {}}) == "ablation"
    assert kind_of({"defenses": {}}) == "compare-defenses"
    assert kind_of({"runs": {}}) == "defense-maps"
    with pytest.raises(ValueError):
        kind_of({"hello": 1})


def test_cells_may_carry_a_mean_and_an_interval():
    assert value(0.5) == 0.5 and value({"mean": 0.25, "ci95": 0.05}) == 0.25
    assert value(None) is None and value("x") is None and value(float("nan")) is None
    assert ci_text({"mean": 0.25, "ci95": 0.05}, pct=True) == " ± 5 %"
    assert ci_text({"mean": 0.25, "ci95": [0.2, 0.3]}, pct=True) == " ± 5 %"
    assert ci_text(0.25) == ""


def test_attack_report_headline_is_the_first_round_asr_and_self_contained():
    html = build_report(attack_doc(0.93))
    assert headline_value(html) == 0.93 and ">93 %<" in html
    assert html.count("plotly.js (basic") == 1                 # inlined once for both charts
    outside_scripts = html_lib.unescape(re.sub(r"<script>.*?</script>", "", html, flags=re.S))
    assert not re.findall(r"""(?:src|href)=["']https?://""", outside_scripts)  # maps' too
    assert "@media print" in html and "iframe" in html        # the map, inlined
    assert "on average" in html and "2/ε km" in html        # ε in metres: Geo-I at ε = 5 → 400 m


def test_epsilon_in_metres():
    assert "400 m on average in every round" in epsilon_in_metres("geoi", 5.0, "round", 10)
    assert "4,000 m" in epsilon_in_metres("geoi", 5.0, "total", 10)
    assert "40.0 km" in epsilon_in_metres("geoi", 0.5, "total", 10)
    assert "no reading in metres" in epsilon_in_metres("dpsgd", 5.0, "round", 10)
    assert epsilon_in_metres("none", 5.0, "round", 10) == ""


def test_sweep_report_reads_a_real_document_and_seed_cells():
    doc = json.loads(SWEEP.read_text())
    html = build_report(doc)
    assert headline_value(html) == doc["defenses"]["none"]["asr"]
    # a sweep over seeds: cells carry mean and ci95; the report reads the mean and shows ±
    seeded = json.loads(SWEEP.read_text())
    cell = seeded["defenses"]["geoi"]["5"]
    cell["asr"] = {"mean": cell["asr"], "ci95": 0.02, "per_seed": [cell["asr"]] * 3}
    seeded["defenses"]["none"]["asr"] = {"mean": 0.9, "ci95": [0.85, 0.95]}
    rep = report_content(seeded)
    assert rep.headline.number == 0.9
    assert any("± 2 %" in r["places found (ASR)"] for r in rep.sections[0].table)


def test_comparison_report_says_what_the_data_show():
    doc = {"config": {"dataset": "demo", "window": 1, "rounds": 3},
           "attacks": {"idlg": {"rounds": [{"round": 1, "asr": 1.0}], "summary": {"mean_asr": 1.0}},
                       "st-gia": {"rounds": [{"round": 1, "asr": 0.931}],
                                  "summary": {"mean_asr": 0.931}}}}
    rep = report_content(doc)
    assert rep.headline.number == 0.931
    text = " ".join(rep.sections[0].paragraphs)
    assert text.index("idlg 100 %") < text.index("st-gia 93 %") and "analytic" in text


def test_cli_report(tmp_path, capsys):
    src = tmp_path / "run.json"
    src.write_text(json.dumps(attack_doc()))
    assert main(["report", str(src), "--out", str(tmp_path / "r.html"), "--no-roads"]) == 0
    assert headline_value((tmp_path / "r.html").read_text()) == 0.93
    assert main(["report", str(src), "--no-roads"]) == 0      # default: next to the JSON
    assert (tmp_path / "run.html").exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    assert main(["report", str(bad)]) == 2
    assert "not an ST-GIA Lab result document" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2


def test_defense_maps_report_shares_one_frame():
    base = attack_doc()
    noisy = json.loads(json.dumps(base))
    for p in noisy["reconstructions"]["clients"][0]["points"]:
        p["rec"] = [p["rec"][0] + 0.05, p["rec"][1]]
    rep = report_content({"runs": {"none": base, "geoi": noisy}})
    (_, m1), (_, m2) = rep.sections[0].maps
    assert _bounds_of(m1) == _bounds_of(m2)   # the noisy map is not zoomed out on its own


def _bounds_of(m) -> str:
    html = m.get_root().render()
    return html[html.index("fitBounds("):].split(")", 1)[0]


def test_help_opens_with_what_the_tool_does(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m core")
    assert "ST-GIA Lab: how much of a person's movement" in out and "report" in out
    assert "registry" not in out.split("positional")[0]  # no developer docstring
