"""The booth view: what a visitor sees on a big screen, and nothing they can break.

``fer booth`` starts the app with only this view (``$FER_BOOTH=1``); the normal app also
offers it as the Booth page. The page hides Streamlit's chrome (sidebar, header,
toolbar), fits the camera's picture into the window, starts the camera by itself (see
:class:`CameraAutostart`), keeps no log and no frame (so the privacy line is true by
construction) and shows a banner with the main face's emotion, or an invitation when
nobody is in view.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from fer.app.camera_check import CAMERA_OK, problem
from fer.app.live import LiveStats

BOOTH_ENV = "FER_BOOTH"
INVITATION = "Step up and make a face!"
INVITATION_HINT = "Happy, surprised, angry? The camera reads your expression."
PRIVACY = "Your picture is processed in memory on this computer and never stored or sent anywhere."
#: Material Symbols (bundled with Streamlit, so they work offline) for each label.
ICONS = {"angry": "sentiment_extremely_dissatisfied", "disgust": "sick", "fear": "sentiment_worried",
         "happy": "sentiment_very_satisfied", "sad": "sentiment_sad", "surprise": "sentiment_excited",
         "neutral": "sentiment_neutral", "uncertain": "help"}
IDLE_ICON = "waving_hand"
#: Seconds the booth keeps asking its camera to start while it neither plays nor connects;
#: then the component's Start button and its message show, for the operator. The booth
#: asks only once the camera opened for :mod:`fer.app.camera_check`, so this is for a
#: camera that fails afterwards (taken by another program in between): streamlit-webrtc
#: retries at once after each failure and leaks a connection object each time, and past
#: about 500 Chromium refuses new ones, Start included, until a reload. A camera that
#: works reaches the server in 0.15-0.53 s here (test_booth_browser.py).
AUTOSTART_FOR_S = 8.0

#: The picture's aspect ratio the window is fitted to (the camera is asked for 640x480);
#: a wider picture fits too, with bands above and below.
ASPECT = 4 / 3
#: Hide Streamlit's chrome and fit the video into the window's height.
STYLE = f"""<style>
[data-testid=stHeader], [data-testid=stSidebar], [data-testid=stSidebarCollapsedControl],
[data-testid=stToolbar], [data-testid=stDecoration], [data-testid=stStatusWidget] {{ display: none !important; }}
[data-testid=stMainBlockContainer] {{ padding: 0.75rem 1rem !important; max-width: 100% !important; }}
.st-key-booth-video {{ max-width: calc((100vh - 2.5rem) * {ASPECT:.4f}); margin: 0 auto; }}
.st-key-booth-banner {{ text-align: center; padding-top: 8vh; }}
.st-key-booth-banner span[role=img] {{ font-size: min(22vh, 12vw); line-height: 1; }}
.st-key-booth-banner .st-key-booth-word p {{ font-size: min(9vh, 4.5vw); font-weight: 700; line-height: 1.1; }}
.st-key-booth-banner .st-key-booth-hint p {{ font-size: min(3.2vh, 1.7vw); }}
.st-key-booth-privacy p {{ font-size: min(2.2vh, 1.1vw); color: #52606d; }}
</style>"""


#: What ``fer booth`` starts from instead of the built-in settings (the operator's file and
#: environment still win): visitors stand back from a booth, and the Haar cascade at the
#: built-in minimum face (0.12 of the height: 58 px at 640x480) finds no 40-pixel face.
#: BlazeFace at 0.07 found 0.63 of them, with no false face on empty scenes, on PublicTest
#: scenes (README, "Faces people stand back from"; docs/min-face/public-0.07.json), for
#: about 1 ms more per frame than Haar (`fer bench`, the README's Speed).
BOOTH_DEFAULTS = {"detector": "blazeface", "min_face": 0.07}
BOOTH_DEFAULTS_SOURCE = "booth default"


def booth_mode(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the app serves only the booth view (``fer booth`` sets ``$FER_BOOTH``)."""
    return environ.get(BOOTH_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class CameraAutostart:
    """What the booth asks of its camera component (streamlit-webrtc's
    ``desired_playing_state``), for one browser session: stay stopped until the component
    has reported its state and the browser has opened the camera once
    (:mod:`fer.app.camera_check`), then play; ``None`` (the component's own Start and Stop
    buttons, for the operator) when the camera did not open, or once it has been asked for
    :data:`AUTOSTART_FOR_S` seconds and neither plays nor connects.

    Why in that order: streamlit-webrtc 0.79 starts when it renders with the request while
    stopped, but it marks itself as starting only after loading a script. A render in
    between (new arguments, or the page re-sending them because the component's height
    changed) starts it a second time: the server answers one of the two offers, and either
    the later connection plays and the first stays unanswered, or both fail and the
    component starts again. Asked to stay stopped first, the component mounts without its
    buttons and reports its height and state; the request to play then changes nothing
    else, so nothing of this page renders it again while it starts (CI still saw one
    double start, which played: tests/app/test_booth_browser.py).

    While the server has no stream to spare, the busy view takes the component off the
    page (:meth:`unmount`); it comes back under a new :attr:`key`, so it mounts afresh
    (stopped first, as above), and the wait does not count as the camera failing.

    >>> camera = CameraAutostart()
    >>> camera.request(reported=False, connecting=False, now=0.0, access=CAMERA_OK)  # not mounted yet
    False
    >>> camera.request(reported=True, connecting=False, now=1.0, access=None)  # the browser has not answered
    False
    >>> camera.request(reported=True, connecting=False, now=1.0, access=CAMERA_OK)
    True
    >>> camera.request(reported=True, connecting=False, now=1.0, access="NotAllowedError") is None
    True
    >>> camera.request(reported=True, connecting=False, now=1.0 + AUTOSTART_FOR_S, access=CAMERA_OK) is None
    True
    """

    mounts: int = 0  # times the busy view took the component off the page
    asked_since: float | None = None  # when it was first asked to play while neither playing nor connecting

    @property
    def key(self) -> str:
        """The camera component's key (streamlit-webrtc's ``key``) for its current mount."""
        return f"fer.booth.webrtc.{self.mounts}"

    def unmount(self) -> None:
        self.mounts += 1
        self.asked_since = None

    def request(self, reported: bool, connecting: bool, now: float, access: str | None) -> bool | None:
        """``reported``: the component (under :attr:`key`) has reported its state;
        ``connecting``: that state is playing or signalling; ``now``: a monotonic clock;
        ``access``: :func:`fer.app.camera_check.camera_access`'s answer."""
        if connecting:
            self.asked_since = None
            return True
        if access not in (None, CAMERA_OK):
            return None  # asked to play, the component would fail again and again
        if not reported or access is None:
            self.asked_since = None
            return False
        if self.asked_since is None:
            self.asked_since = now
        return True if not self.gave_up(now) else None

    def gave_up(self, now: float) -> bool:
        """Whether the camera has been asked for :data:`AUTOSTART_FOR_S` seconds in vain."""
        return self.asked_since is not None and now - self.asked_since >= AUTOSTART_FOR_S


@dataclass(frozen=True)
class Banner:
    icon: str  # a Material Symbols name
    word: str
    hint: str


def banner(stats: LiveStats, playing: bool, waiting: bool = False, access: str | None = CAMERA_OK) -> Banner:
    """What the banner says for the stream's current figures (``waiting``: for a free
    stream, while the server runs as many as it takes; ``access``: whether the browser
    opened the camera, :func:`fer.app.camera_check.camera_access`).

    >>> banner(LiveStats(frames=10, main_label="happy", labels=["happy 83%"], faces=1, idle=False), True).word
    'Happy'
    >>> banner(LiveStats(frames=10), True).word == INVITATION
    True
    >>> banner(LiveStats(), False, access="NotFoundError").hint
    'No camera found: connect one, then press Start.'
    """
    if waiting:
        return Banner("hourglass_top", "Just a moment...", "The camera starts as soon as it is free.")
    if not playing and access not in (None, CAMERA_OK):
        return Banner("videocam_off", "No camera", problem(access))
    if not playing or not stats.frames:
        return Banner("videocam", "Starting the camera...", "Allow the camera if the browser asks.")
    if stats.idle or stats.main_label is None:
        return Banner(IDLE_ICON, INVITATION, INVITATION_HINT)
    others = stats.faces - 1
    hint = f"and {others} more face{'s' if others > 1 else ''}" if others > 0 else ""
    return Banner(ICONS.get(stats.main_label, "help"), stats.main_label.capitalize(), hint)
