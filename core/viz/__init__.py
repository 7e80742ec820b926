"""Builders of folium maps and plotly figures (no display: the dashboard shows what they return).

`core.viz` never imports Streamlit; `core.viz.offline` makes every map draw without internet.
"""
