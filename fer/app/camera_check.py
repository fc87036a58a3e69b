"""Whether this browser can open a camera, asked once before the booth starts its stream.

Why ask first: streamlit-webrtc, asked to play (``desired_playing_state=True``), starts
again at once after each failure and leaks a connection object each time. With the camera
refused or missing, that is a tight loop in Chromium 156, and past about 500 live
connection objects Chromium refuses new ones, the operator's Start included, until a
reload. So the booth asks the browser for the camera once, with this component (Streamlit's
own ``st.components.v2``: inline JavaScript, nothing to build or download), and asks the
stream to play only when the camera opened.
"""

from __future__ import annotations

import streamlit as st

#: The component's answer when the camera opened (and was closed again at once).
CAMERA_OK = "ok"
#: Its answer where the page cannot ask for a camera at all (not localhost, not HTTPS).
INSECURE = "insecure"

_JS = f"""
export default function (component) {{
  const {{ parentElement, setStateValue }} = component;
  if (parentElement.ferCameraAsked) return;  // called again on every rerun: ask once per mount
  parentElement.ferCameraAsked = true;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {{
    setStateValue("access", "{INSECURE}");
    return;
  }}
  navigator.mediaDevices.getUserMedia({{ video: true, audio: false }}).then(
    (stream) => {{
      stream.getTracks().forEach((track) => track.stop());
      setStateValue("access", "{CAMERA_OK}");
    }},
    (error) => setStateValue("access", (error && error.name) || "Error"),
  );
}}
"""

_component = st.components.v2.component("fer.camera_check", js=_JS)

#: What the operator is told for each answer other than :data:`CAMERA_OK` (the browser's
#: error names, https://w3c.github.io/mediacapture-main/#dom-mediadevices-getusermedia).
PROBLEMS = {
    "NotAllowedError": "The camera was refused: allow it in the browser's site settings, then press Start.",
    "NotFoundError": "No camera found: connect one, then press Start.",
    "NotReadableError": "The camera is in use by another program: close it, then press Start.",
    "OverconstrainedError": "The camera cannot give a picture: try another one with Select Device.",
    INSECURE: "The browser opens the camera only on http://localhost or over HTTPS (see the README).",
}


def camera_access(key: str) -> str | None:
    """:data:`CAMERA_OK`, the browser's error name (``"NotAllowedError"``, ...), or None
    while the browser has not answered (it may be showing its permission prompt)."""
    return _component(key=key, default={"access": None}, on_access_change=lambda: None, height=0).access


def problem(access: str) -> str:
    """What the operator is told when the camera did not open."""
    return PROBLEMS.get(access, f"The camera did not start ({access}): press Start to try again.")
