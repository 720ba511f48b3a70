"""The Streamlit dashboard: `streamlit run dashboard/app.py` (pages live in `pages/`).

Modules: `gateway` (the one cached door to the engine), `data` (tidy frames, pure pandas), `charts` (pure
Plotly builders), `components` (shared widgets and page plumbing), `formatting` ($, %, ms).
"""
