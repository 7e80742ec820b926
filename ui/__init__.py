"""Streamlit helpers shared by the dashboard pages (the only package besides the pages that
imports Streamlit; `core` never does)."""
