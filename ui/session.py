"""Per-session state: the workspace key that owns private runs, and the run store.

Nothing here is module-level mutable state: Streamlit runs every session in the same process, so
anything a user uploads or runs lives in `st.session_state` (one per browser session) or in the run
store under the session's workspace key.

The workspace key survives a reload (docs/workspaces.md): the browser keeps it in a first-party
cookie that this app writes and reads back from the WebSocket handshake (`st.context.cookies`). It
never appears in a URL, so a shared `?run=` link carries the run's id and nothing that opens the
sender's other private runs.
"""
from __future__ import annotations

import re
import secrets

import streamlit as st

from core.store import RunStore, default_path

WORKSPACE = "_workspace_key"
COOKIE = "st_gia_workspace"
COOKIE_DAYS = 365
# token_urlsafe(16) makes 22 such characters; a key pasted by hand may be longer
_KEY = re.compile(r"[A-Za-z0-9_-]{16,128}")


def valid_key(key: object) -> bool:
    """Whether `key` looks like a workspace key (the only keys ever written into a cookie)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


def _cookie_key() -> str | None:
    """The workspace key this browser sent with its connection, if it sent a valid one."""
    try:
        key = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser connection (AppTest, bare mode): no cookie
        return None
    return key if valid_key(key) else None


def workspace() -> str:
    """This session's workspace key (random, unguessable); owner of the runs made here.

    Taken from the browser's cookie when it has one, so a reload reopens the same workspace."""
    if WORKSPACE not in st.session_state:
        st.session_state[WORKSPACE] = _cookie_key() or secrets.token_urlsafe(16)
    return st.session_state[WORKSPACE]


def set_workspace(key: str) -> bool:
    """Adopt another workspace key (to reopen one's private runs in another browser); False,
    and nothing changes, when `key` is not a workspace key."""
    key = key.strip()
    if not valid_key(key):
        return False
    st.session_state[WORKSPACE] = key
    return True


def remember_workspace() -> None:
    """Have the browser keep this session's workspace key (a cookie for this origin only).

    Rendered on every run of the router while the cookie the browser sent differs from the key
    (a first visit, or after "Use this key"); the script is idempotent. The key is checked by
    `valid_key`, so nothing but [A-Za-z0-9_-] is ever written into the script."""
    key = workspace()
    if key == _cookie_key() or not valid_key(key):
        return
    script = (
        "<script>(function(){var s=location.protocol==='https:'?'; Secure':'';"
        f"document.cookie='{COOKIE}={key}; Path=/; Max-Age={COOKIE_DAYS * 86400}; "
        "SameSite=Strict'+s;})();</script>")
    st.sidebar.html(script, width="content", unsafe_allow_javascript=True)


@st.cache_resource(show_spinner=False)
def _store(path: str) -> RunStore:  # a path, no user data: safe to share between sessions
    return RunStore(path)


def store() -> RunStore:
    """The run store at `$ST_GIA_STORE` (default ~/.local/share/st-gia-lab/runs.sqlite)."""
    return _store(str(default_path()))
