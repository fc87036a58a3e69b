"""The fer web app: `streamlit run streamlit_app.py`. This file only routes to the pages."""

import streamlit as st

st.set_page_config(page_title="fer: facial expression recognition", page_icon="🙂", layout="wide")

pages = [
    st.Page("app_pages/live.py", title="Live", icon=":material/videocam:", default=True),
    st.Page("app_pages/image.py", title="Image", icon=":material/image:"),
    st.Page("app_pages/video.py", title="Video", icon=":material/movie:"),
    st.Page("app_pages/settings.py", title="Settings", icon=":material/tune:"),
    st.Page("app_pages/metrics.py", title="Metrics", icon=":material/analytics:"),
]
st.navigation(pages).run()
