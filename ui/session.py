"""Per-session state: the workspace key that owns private runs, and the run store.

Nothing here is module-level mutable state: Streamlit runs every session in the same process, so
anything a user uploads or runs lives in `st.session_state` (one per browser session) or in the run
store under the session's workspace key.
"""
from __future__ import annotations

import secrets

import streamlit as st

from core.store import RunStore, default_path

WORKSPACE = "_workspace_key"


def workspace() -> str:
    """This session's workspace key (random, unguessable); owner of the runs made here."""
    if WORKSPACE not in st.session_state:
        st.session_state[WORKSPACE] = secrets.token_urlsafe(16)
    return st.session_state[WORKSPACE]


def set_workspace(key: str) -> None:
    """Adopt another workspace key (to reopen one's private runs after a reload or restart)."""
    st.session_state[WORKSPACE] = key.strip()


@st.cache_resource(show_spinner=False)
def _store(path: str) -> RunStore:  # a path, no user data: safe to share between sessions
    return RunStore(path)


def store() -> RunStore:
    """The run store at `$ST_GIA_STORE` (default ~/.local/share/st-gia-lab/runs.sqlite)."""
    return _store(str(default_path()))
