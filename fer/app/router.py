"""The app's router: the pages, their titles and icons, in one place.

``streamlit run streamlit_app.py`` (from a checkout) and ``streamlit run`` on this file
(from an installed package) both end up in :func:`run`. With ``$FER_BOOTH=1`` (``fer
booth``) it serves the booth view alone. The pages are found next to this
file, so the app works wherever the package is installed: in ``views/``, not ``pages/``,
which Streamlit would also take for a page folder of its own, beside this script, and
serve on a fresh server's first request before this router ever ran (``/settings``
under ``fer booth`` showed the Settings page and a link to every page).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer.app.booth import booth_mode

PAGES = Path(__file__).resolve().parent / "views"  # not "pages": see above


def run() -> None:
    booth = booth_mode()
    st.set_page_config(page_title="fer: facial expression recognition", page_icon="🙂", layout="wide",
                       initial_sidebar_state="collapsed" if booth else "auto")
    booth_page = st.Page(PAGES / "booth.py", title="Booth", icon=":material/co_present:", url_path="booth")
    if booth:  # `fer booth`: the booth view only, and no way to another page
        st.navigation([booth_page], position="hidden").run()
        return
    pages = [
        st.Page(PAGES / "live.py", title="Live", icon=":material/videocam:", default=True),
        st.Page(PAGES / "image.py", title="Image", icon=":material/image:"),
        st.Page(PAGES / "video.py", title="Video", icon=":material/movie:"),
        st.Page(PAGES / "settings.py", title="Settings", icon=":material/tune:"),
        st.Page(PAGES / "metrics.py", title="Metrics", icon=":material/analytics:"),
        booth_page,
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    run()
