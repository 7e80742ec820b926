"""Links between pages that also work when a page script runs on its own (tests)."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException


def link(page: str, label: str, icon: str | None = None, container=None) -> None:
    target = container or st
    try:
        target.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:  # page run outside app.py's navigation
        target.markdown(f"**{label}**")
