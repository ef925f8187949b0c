"""The yardstick for bench/ui.py: a plain Streamlit page that draws a title and a 20-row table,
and an uploader that only says how many bytes it got (the floor of an upload round trip)."""
import pandas as pd
import streamlit as st

st.title("Baseline")
st.dataframe(pd.DataFrame({"model": [f"net{i}" for i in range(20)], "year": range(1998, 2018),
                           "params": [i * 1_000_003 for i in range(20)]}), hide_index=True)
upload = st.file_uploader("Image")
if upload is not None:
    st.caption(f"Received {len(upload.getvalue())} bytes")
