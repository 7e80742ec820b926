"""Readable names, tooltips and number formats of the metrics the documents carry.

One entry per field of the result documents: the label a table or chart shows instead of the raw
field name, what the metric measures and which way is better (the tooltip), and a format
(printf-style, as Streamlit's column_config takes it). Used by the dashboard's metrics, tables and
by the report.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    label: str
    help: str
    fmt: str | None = None   # printf-style, e.g. "%.3f"; None for text


_ASR = "share of attacked places the server reconstructed within the success radius (500 m)"
METRICS: dict[str, Metric] = {m_key: m for m_key, m in {
    "round": Metric("Round", "training round (each phone uploads one update per round)", "%d"),
    "asr": Metric("ASR", f"attack success rate: {_ASR}; lower is more private", "%.3f"),
    "asr_final": Metric("ASR (final estimates)",
                        f"{_ASR}, scored with the attacker's end-of-run estimates (averaged over "
                        "every round that saw a place); lower is more private", "%.3f"),
    "mean_asr": Metric("Mean ASR", f"mean over rounds of the ASR: {_ASR}; lower is more private",
                       "%.3f"),
    "ait": Metric("AIT", "attack iterations: mean number of search steps until a place is within "
                  "500 m (failures count as the full budget); lower = cheaper attack", "%.1f"),
    "mean_ait": Metric("Mean AIT", "mean over rounds of the attack iterations needed per place "
                       "(failures count as the budget); lower = cheaper attack", "%.1f"),
    "ait_success": Metric("AIT (successes)", "attack iterations averaged over the places that "
                          "were found only; lower = faster attack", "%.1f"),
    "median_error_m": Metric("Median error (m)", "median distance between a true place and its "
                             "reconstruction, in metres; lower = worse for privacy", "%.0f"),
    "median_error_final_m": Metric("Median error, final (m)", "median distance with the "
                                   "attacker's end-of-run estimates; lower = worse for privacy",
                                   "%.0f"),
    "recall_at_5": Metric("recall@5", "share of held-out next places among the model's top 5 "
                          "guesses; higher = more useful model", "%.3f"),
    "final_recall_at_5": Metric("recall@5 (final model)", "recall@5 of the global model after "
                                "the last round; higher = more useful", "%.3f"),
    "acc_at_1": Metric("accuracy@1", "share of held-out next places that are the model's first "
                       "guess; higher = more useful", "%.3f"),
    "final_acc_at_1": Metric("accuracy@1 (final model)", "accuracy@1 of the global model after "
                             "the last round; higher = more useful", "%.3f"),
    "median_pred_error_m": Metric("Prediction error (m)", "median distance between the model's "
                                  "predicted and the actual next place; lower = more useful",
                                  "%.0f"),
    "epsilon": Metric("ε", "privacy budget of the defense; smaller = more noise, more private",
                      "%g"),
    "epsilon_round": Metric("ε this round", "privacy budget spent in this round", "%.3g"),
    "epsilon_spent": Metric("ε spent", "privacy budget spent so far (composed); lower = more "
                            "private", "%.3g"),
    "epsilon_total": Metric("ε total", "privacy budget of the whole run per user (composed); "
                            "lower = more private", "%.3g"),
    "spent": Metric("ε spent", "privacy budget spent by the run (composed)", "%.3g"),
    "noise_multiplier": Metric("Noise multiplier σ", "DP-SGD: noise standard deviation relative "
                               "to the clipping norm; higher = more noise", "%.2f"),
    "seconds": Metric("Seconds", "wall time of the run", "%.1f"),
    "attack_seconds": Metric("Attack seconds", "wall time of the attack in this round", "%.1f"),
    "slot_accuracy": Metric("Time slots recovered", "embedding models (st-gia+): share of the "
                            "attacked input points whose time slot (hour, weekday or weekend) "
                            "the attack read correctly", "%.3f"),
    "defense": Metric("Defense", "the privacy defense applied on the phones"),
}.items()}


def label(key: str) -> str:
    """The display name of a document field (the field itself when unknown)."""
    m = METRICS.get(key)
    return m.label if m else key.replace("_", " ")


def help_text(key: str) -> str | None:
    m = METRICS.get(key)
    return m.help if m else None


def d3_format(key: str) -> str | None:
    """The metric's number format for plotly (d3), e.g. ",.0f" for metres, ".3f" for shares."""
    m = METRICS.get(key)
    if m is None or not m.fmt:
        return None
    spec = m.fmt.lstrip("%")
    return ",.0f" if spec == ".0f" else spec
