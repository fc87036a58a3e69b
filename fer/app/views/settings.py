import streamlit as st

from fer.app.common import defaults_panel, settings_controls

st.title("Settings")
st.caption("These apply to every page of this browser tab, and to a running live stream from its next frame.")
settings_controls()
defaults_panel()
