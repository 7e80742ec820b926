"""History: past runs — listed, reopened, compared, downloaded (JSON/CSV), shared and deleted."""
import json
from datetime import datetime

import streamlit as st

from core.store.export import points_csv, rounds_csv
from core.viz import figures
from core.viz.labels import METRICS
from ui import session
from ui.views import any_view, table as show_table

st.title("History")
if st.session_state.get("hist_flash"):
    st.success(st.session_state.pop("hist_flash"))
store = session.store()
me = session.workspace()

with st.expander("Your workspace key (private runs)"):
    st.markdown("Runs on your own data are private to this key, and only runs made with it can "
                "be deleted with it. This browser remembers it (a cookie of this site, never part "
                "of a link); keep a copy to open your private runs from another browser.")
    st.code(me, language=None)
    other = st.text_input("Switch to a saved key", key="ws_key", type="password")
    if st.button("Use this key", key="ws_use") and other.strip():
        if session.set_workspace(other):
            st.rerun()
        st.error("That is not a workspace key: it has 16 to 128 letters, digits, '-' or '_'.")

kinds = ["all", "attack", "compare-attacks", "ablation", "compare-defenses", "defense-maps"]
kind = st.segmented_control("Kind", kinds, default="all", key="hist_kind")
runs = store.list(me, None if kind in (None, "all") else kind)
if not runs:
    st.info("No runs yet. Finished (and stopped) runs from every page are kept here.")
    st.stop()


def sync_link(selected: list) -> None:
    """The selection is the address: ?run=ID per selected run, so the page can be linked;
    clearing the selection clears the link."""
    ids = [r.id for r in selected]
    was = st.session_state.get("hist_selected_ids", [])
    st.session_state["hist_selected_ids"] = ids
    if ids and st.query_params.get_all("run") != ids:
        st.query_params["run"] = ids
    elif not ids and was and "run" in st.query_params:
        del st.query_params["run"]


def forget_link(run_id: str) -> None:
    """After a delete: the address no longer names the deleted run."""
    rest = [i for i in st.query_params.get_all("run") if i != run_id]
    if rest:
        st.query_params["run"] = rest
    elif "run" in st.query_params:
        del st.query_params["run"]
    st.session_state["hist_selected_ids"] = []


def _asr(info) -> str:
    v = info.summary.get("mean_asr") if isinstance(info.summary, dict) else None
    return "" if v is None else f"{v:.3f}"


table = [{"when": datetime.fromtimestamp(r.created).strftime("%Y-%m-%d %H:%M:%S"),
          "kind": r.kind, "title": r.title, "mean ASR": _asr(r), "status": r.status,
          "visibility": ("private" + (", shared" if r.shared else "")) if r.private else "public",
          "mine": r.owner == me, "id": r.id} for r in runs]
sel = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="multi-row",
                   key=f"hist_table_{st.session_state.get('hist_table_gen', 0)}",
                   column_config={"mean ASR": st.column_config.TextColumn(
                       "mean ASR", help=METRICS["mean_asr"].help)})
picked = [runs[i] for i in (sel.selection.rows if sel else [])]
sync_link(picked)
if not picked:  # a link to runs: ?run=ID (repeat to compare)
    picked = [i for i in (store.info(r, me) for r in st.query_params.get_all("run")) if i]
    if st.query_params.get_all("run") and not picked:
        st.error("The run in the link does not exist, was deleted, or is private to another "
                 "session.")
if not picked:
    st.caption("Select one run to open it, or several attack runs to compare them.")
    st.stop()

if len(picked) > 1:
    attack_runs = [r for r in picked if r.kind == "attack"]
    st.subheader(f"Comparing {len(picked)} runs")
    if len(attack_runs) >= 2:
        series = {}
        for r in attack_runs:
            doc = store.get(r.id, me)
            if doc:
                series[f"{r.title} [{r.id[:6]}]"] = doc["rounds"]
        st.plotly_chart(figures.series_figure(series, "asr", "ASR per round"), key="hist_cmp_asr")
        st.plotly_chart(figures.series_figure(series, "median_error_m", "Median error (m) per round"),
                        key="hist_cmp_err")
    show_table([{"id": r.id, "title": r.title, **{k: v for k, v in r.summary.items()
                                             if not isinstance(v, (list, dict))}}
           for r in picked], key="hist_cmp_table")
    st.stop()

info = picked[0]
doc = store.get(info.id, me)
if doc is None:
    st.error("This run is no longer available.")
    st.stop()
st.subheader(info.title)
st.caption(f"run `{info.id}` (link: `?run={info.id}`) · {info.kind} · {info.status} · "
           + ("private to its workspace" + (" (shared)" if info.shared else "") if info.private
              else "public (demo data)"))
c1, c2, c3, c4 = st.columns(4)
c1.download_button("JSON", json.dumps(doc, indent=1), file_name=f"st-gia-{info.id}.json",
                   mime="application/json", icon=":material/download:", key="dl_json")
c2.download_button("CSV (rounds)", rounds_csv(doc), file_name=f"st-gia-{info.id}-rounds.csv",
                   mime="text/csv", icon=":material/download:", key="dl_csv")
if info.kind == "attack":
    c3.download_button("CSV (points)", points_csv(doc), file_name=f"st-gia-{info.id}-points.csv",
                       mime="text/csv", icon=":material/download:", key="dl_pts")
if info.owner == me and info.private:
    shared = c4.toggle("Share with other sessions", info.shared, key=f"share_{info.id}")
    if shared != info.shared:
        store.set_shared(info.id, me, shared)
        st.rerun()
if info.deletable_by(me):
    if st.button("Delete this run", icon=":material/delete:", key="hist_delete"):
        store.delete(info.id, me)
        forget_link(info.id)
        # a new table key: the old selection would point at another run now
        st.session_state["hist_table_gen"] = st.session_state.get("hist_table_gen", 0) + 1
        st.session_state["hist_flash"] = f"Deleted run {info.title} ({info.id})."
        st.rerun()
else:
    st.caption("Made in another workspace: only its maker can delete it.")
any_view(info.kind, doc, key="hist")
