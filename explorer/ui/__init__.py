"""The only part of ``explorer`` that imports Streamlit: cached resources and shared widgets."""
