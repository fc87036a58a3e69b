"""Helpers of the Streamlit app (``streamlit run streamlit_app.py``); the pages in
``app_pages/`` are thin layouts over these and over the engine in :mod:`fer`."""
