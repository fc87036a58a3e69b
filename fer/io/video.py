"""Annotate a video file frame by frame, streaming, into an mp4 that browsers play.

Decode (PyAV) -> :class:`~fer.engine.pipeline.FramePipeline` -> draw -> H.264 yuv420p encode,
one frame at a time, so memory stays flat however long the video is. The output keeps
every frame with its original timestamp (same frame count, frame rate and duration,
variable frame rate included), is turned upright when the input carries a rotation, has
its odd width or height padded by one pixel (yuv420p needs even sides), keeps non-square
pixels' aspect ratio, and keeps the audio in time with the picture: copied when mp4
players take it as is (AAC, MP3), re-encoded to AAC otherwise.

Files joined end to end (recordings, HLS segments) are taken as one: where the clock
jumps back, the rest of each stream continues where it was; where the frame size
changes, the later frames are scaled into the first size (their boxes in the log stay in
their own pixels).

Damaged frames are skipped and counted, as FFmpeg does: the output keeps the timestamps
of the frames that decode, so its timing stays right; only a video where no frame
decodes is refused.

Everything is written to ``*.partial`` files renamed only when complete: a failure or a
cancel leaves no partial output behind.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Union

import av
import cv2
import numpy as np

from fer.engine.draw import fit_to_display
from fer.engine.pipeline import FramePipeline
from fer.io.facelog import LOG_FORMATS, FaceLog
from fer.io.outputs import make_folder, written_together
from fer.io.provenance import provenance, video_input

#: Audio codecs copied into the mp4 unchanged; any other is re-encoded to AAC.
COPY_AUDIO = ("aac", "mp3")
#: A video clock that jumps back by more frames than this has restarted (joined files);
#: by fewer, a frame is out of order (a broken file) and keeps its place.
RESTART_FRAMES = 4
#: What :class:`VideoInfo` says of audio in a codec without a decoder (it is left out).
UNDECODABLE = "undecodable"
#: x264 settings: "veryfast" keeps encoding a small share of the frame budget at 640x480.
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
#: Largest video frame accepted, in pixels (DCI 4K, 4096x2160, in either orientation).
#: A 4-frame 8K clip took 2.1 GB; see :func:`queue_sizes` for 4K.
MAX_VIDEO_PIXELS = 4096 * 2160
#: Memory for decoded frames waiting for analysis, and for annotated frames waiting for
#: the encoder: the queues hold fewer frames when frames are large.
PREFETCH_BYTES, ENCODE_QUEUE_BYTES = 32 << 20, 64 << 20
#: Seconds the decoder and encoder threads wait on their queues before they look at their
#: stop flags. Ctrl-C raises KeyboardInterrupt wherever the main thread is, and inside a
#: queue's put or get it can leave the other thread's wake-up undone: a blocking wait
#: would then never end (a fer annotate that Ctrl-C left hanging, seen in CI).
WAKE_S = 0.5
#: Seconds a stopped run waits for the decoder and encoder threads to end. KeyboardInterrupt
#: can also strike a queue's put or get between taking the queue's lock and the code that
#: gives it back (a Python ``with`` is not signal-safe), and then the lock stays taken: the
#: other thread can no longer reach its stop flag, and an unbounded join hung fer annotate
#: (seen in a test run, main thread in :meth:`_Encoder.abort`). The threads are daemons and
#: their files are about to be deleted; a frame decodes or encodes in milliseconds.
STOP_WAIT_S = 10.0

Progress = Callable[[int, "int | None", "float | None"], None]
Cancel = Union[Callable[[], bool], threading.Event, None]
LogSpec = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], bool, None]


class VideoError(ValueError):
    """A video that cannot be annotated: missing, empty, damaged, no video stream."""


class VideoCancelled(VideoError):
    """The caller cancelled; nothing was written."""


@dataclass
class VideoInfo:
    """What the container says about a video's first video stream (sizes are as stored,
    before rotation)."""

    width: int
    height: int
    fps: float
    frames: int | None  # from the header; None when the container does not say
    duration: float | None  # seconds
    codec: str
    audio: str | None  # audio codec name, None without audio

    @classmethod
    def read(cls, src: str | os.PathLike) -> VideoInfo:
        with open_video(src) as container:
            return cls.of(container)

    @classmethod
    def of(cls, container: av.container.InputContainer) -> VideoInfo:
        v = container.streams.video[0]
        rate = v.average_rate or v.guessed_rate or v.base_rate
        duration = None
        if v.duration is not None and v.time_base:
            duration = float(v.duration * v.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        audio = None
        if container.streams.audio:
            audio = getattr(container.streams.audio[0].codec_context, "name", UNDECODABLE)
        return cls(v.codec_context.width, v.codec_context.height, float(rate) if rate else 0.0, v.frames or None,
                   duration, v.codec_context.name, audio)

    def expected_frames(self) -> int | None:
        if self.frames:
            return self.frames
        if self.duration and self.fps:
            return max(1, round(self.duration * self.fps))
        return None


@dataclass
class VideoSummary:
    """What :func:`annotate_video` wrote."""

    output: Path
    logs: list[Path]
    frames: int
    width: int
    height: int
    fps: float
    duration: float  # seconds, first frame to end of last frame
    face_rows: int  # rows in the log: one per face per frame
    audio: str  # "none", "copied (aac)" or "re-encoded to AAC (from pcm_s16le)"
    seconds: float  # wall-clock processing time
    labels: dict[str, int] = field(default_factory=dict)  # label -> face rows
    skipped: int = 0  # damaged frames that could not be decoded; the frame before each is shown longer
    frames_without_face: int = 0  # frames with a "no face" row in the log

    @property
    def processing_fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def open_video(src: str | os.PathLike) -> av.container.InputContainer:
    """Open ``src`` for reading, or raise :class:`VideoError` saying what is wrong."""
    path = Path(src)
    if not path.is_file():
        raise VideoError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as e:
        raise VideoError(f"{path} is not a video FFmpeg can read, or it is damaged or truncated "
                         f"({_reason(e)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path} has no video stream")
    if container.streams.video[0].codec_context is None:  # PyAV's sign of a codec without a decoder
        container.close()
        raise VideoError(f"{path} has its video in a codec FFmpeg cannot decode")
    return container


def annotate_video(src: str | os.PathLike, dst: str | os.PathLike, pipeline: FramePipeline,
                   progress: Progress | None = None, cancel: Cancel = None, log: LogSpec = None,
                   fit: bool = False) -> VideoSummary:
    """Annotate every frame of ``src`` with ``pipeline`` and write an H.264 mp4 to ``dst``.

    ``progress(done, total, eta_seconds)`` is called a few times a second (``total`` and
    ``eta_seconds`` are None when the container does not give a frame count). ``cancel``
    is an Event or a function returning True to stop; then :class:`VideoCancelled` is
    raised and nothing is written. ``log``: None writes ``dst`` with suffixes ``.csv``
    and ``.json`` beside it, a path (or several) writes those (format by suffix), False
    writes none. ``fit``: fit the frames into the pipeline's display size (the log keeps
    the input's pixels). The pipeline's tracks are reset first.

    >>> from fer import EmotionRecognizer                                  # doctest: +SKIP
    >>> pipeline = EmotionRecognizer().new_stream()                        # doctest: +SKIP
    >>> annotate_video("clip.mov", "clip.annotated.mp4", pipeline).frames  # doctest: +SKIP
    912
    """
    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() != ".mp4":
        raise VideoError(f"the annotated video is an mp4 file: name it *.mp4, not {dst.name}")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise VideoError(f"{dst} is the input itself; choose another output name")
    logs = log_paths(dst, log)
    if any(p.resolve() == src.resolve() for p in logs if p.exists() and src.exists()):
        raise VideoError("a log file would overwrite the input video")
    make_folder(dst.parent)
    started = time.perf_counter()
    is_cancelled = _cancel_check(cancel)
    with written_together(dst, *logs) as partial, open_video(src) as container, \
            FaceLog(list(zip(partial[1:], logs)), provenance=provenance(pipeline.classifier, pipeline.settings)) \
            as face_log:
        info = VideoInfo.of(container)
        check_frame_size(info.width, info.height, src)
        reader = _Reader(container)
        ahead, behind = queue_sizes(info.width, info.height)
        encoder = _Encoder(partial[0], reader, queue_size=behind)
        encoder.start()
        items = Prefetch(reader.items(), size=ahead)  # decoding overlaps analysis, as encoding does
        try:
            pipeline.reset()
            total = info.expected_frames()
            report = _Reporter(progress, total)
            for kind, item, pts, index in items:
                if kind == "audio":
                    encoder.put(kind, item)
                    continue
                if is_cancelled():
                    raise VideoCancelled(f"cancelled after {index} of {total or '?'} frames; nothing was written")
                faces = pipeline.analyze(item)
                encoder.put(kind, pipeline.draw(item, faces, fit=fit), pts)
                face_log.add(index, reader.seconds(pts), faces)
                report(index + 1)
            encoder.finish()
        finally:
            items.close()
            encoder.abort()
        _check_complete(src, info, reader.packets_read)
        report(reader.frames_read, final=True)
        face_log.provenance["inputs"] = [video_input(src, *reader.size, info.fps, reader.frames_read,
                                                     reader.duration, info.codec)]
    frames, duration = reader.frames_read, reader.duration
    return VideoSummary(dst, logs, frames, encoder.width, encoder.height, frames / duration if duration else 0.0,
                        duration, face_log.rows, encoder.audio_summary, time.perf_counter() - started,
                        dict(face_log.labels), skipped=reader.skipped,
                        frames_without_face=face_log.frames_without_face)


def queue_sizes(width: int, height: int) -> tuple[int, int]:
    """Frames decoded ahead of the analysis, and annotated frames queued for the encoder:
    4 and 8 up to 1080p, 1 and 2 at 4K (where a 40-frame clip then peaks at 1.4 GB
    instead of 1.8 GB, imports included)."""
    frame_bytes = max(1, width * height * 3)
    return (max(1, min(4, PREFETCH_BYTES // frame_bytes)), max(2, min(8, ENCODE_QUEUE_BYTES // frame_bytes)))


def check_frame_size(width: int, height: int, name: str | os.PathLike) -> None:
    """Refuse frames over :data:`MAX_VIDEO_PIXELS`, from the header before any decoding."""
    if width * height > MAX_VIDEO_PIXELS:
        raise VideoError(f"{name} has {width}x{height} frames, too large to process (videos up to 4K, "
                         f"{MAX_VIDEO_PIXELS:,} pixels a frame, e.g. 4096x2160); scale it down first, "
                         "e.g. ffmpeg -i IN -vf scale=-2:2160 OUT.mp4")


def log_paths(dst: Path, log: LogSpec) -> list[Path]:
    if log is False:
        return []
    if log is None or log is True:
        return [dst.with_suffix(s) for s in LOG_FORMATS]
    paths = [Path(log)] if isinstance(log, (str, os.PathLike)) else [Path(p) for p in log]
    for p in paths:
        if p.suffix.lower() not in LOG_FORMATS:
            raise VideoError(f"log file {p.name} must end in .csv or .json")
    return paths


class _Reader:
    """Decodes the input's video into upright RGB frames with repaired timestamps, and
    hands its audio packets on untouched."""

    def __init__(self, container: av.container.InputContainer):
        self.input = container
        self.video = container.streams.video[0]
        self.video.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio else None
        self.audio = audio if audio is not None and audio.codec_context is not None else None
        self.audio_left_out = audio is not None and self.audio is None  # no decoder: cannot be re-encoded
        self.frames_read = 0
        self.packets_read = 0  # compressed video frames read from the file, decodable or not
        self.first_pts: int | None = None
        self.last_pts: int | None = None
        self.last_duration = 0
        self.shift = 0  # added to every pts once the clock has jumped back (joined files)
        self.size = (0, 0)  # width, height of the first upright frame
        self.rotation = 0  # of the first frame, degrees counter-clockwise

    def items(self) -> Iterator[tuple[str, Any, int, int]]:
        """``("video", rgb, pts, index)`` and ``("audio", packet, 0, -1)`` in file order;
        ``pts`` is in the input's time base and strictly increasing."""
        streams = [s for s in (self.video, self.audio) if s is not None]
        try:
            for packet in self.input.demux(streams):
                if packet.stream is self.audio:
                    yield "audio", packet, 0, -1
                    continue
                if packet.size:
                    self.packets_read += 1
                try:
                    frames = packet.decode()
                except av.FFmpegError:  # a damaged frame: skipped, as FFmpeg does; counted by `skipped`
                    continue
                for frame in frames:
                    check_frame_size(frame.width, frame.height, self.input.name)  # a size change mid-stream
                    pts = self._timestamp(frame)
                    self.frames_read += 1
                    rgb = upright(frame.to_ndarray(format="rgb24"), frame.rotation)
                    if self.frames_read == 1:
                        self.size, self.rotation = (rgb.shape[1], rgb.shape[0]), frame.rotation
                    yield "video", rgb, pts, self.frames_read - 1
        except av.FFmpegError as e:
            raise VideoError(f"{self.input.name} is damaged or truncated: decoding stopped after "
                             f"{self.frames_read} frames ({_reason(e)})") from None

    @property
    def skipped(self) -> int:
        """Frames in the file that could not be decoded (damaged), so far."""
        return max(0, self.packets_read - self.frames_read)

    def seconds(self, pts: int) -> float:
        """Time of a frame from the first frame, in seconds."""
        return float((pts - self.first_pts) * self.video.time_base)

    def _timestamp(self, frame: av.VideoFrame) -> int:
        """The frame's pts, repaired when missing or not increasing. A jump back by more than
        :data:`RESTART_FRAMES` frames is a restarted clock (files joined end to end): the
        rest of the stream is shifted to go on one frame after the last. A repeated or
        slightly early timestamp (a broken file) moves on by one tick."""
        previous = self.last_pts
        step = self.last_duration or self._frame_step()
        pts = frame.pts + self.shift if frame.pts is not None else (previous + step if previous is not None else 0)
        if previous is not None and pts <= previous:
            if previous - pts > RESTART_FRAMES * step:
                self.shift += previous + step - pts
                pts = previous + step
            else:
                pts = previous + 1
        if self.first_pts is None:
            self.first_pts = pts
        self.last_duration = frame.duration or (pts - previous if previous is not None else self._frame_step())
        self.last_pts = pts
        return pts

    def _frame_step(self) -> int:
        return max(1, round(1 / (frame_rate(self.video) * self.video.time_base)))

    @property
    def duration(self) -> float:
        """First frame to the end of the last one, in seconds."""
        if self.last_pts is None:
            return 0.0
        return self.seconds(self.last_pts + self.last_duration)


class _Encoder(threading.Thread):
    """Owns the output file: encodes video frames to H.264 and muxes them with the audio,
    on its own thread, so that encoding one frame overlaps with analysing the next.

    Items arrive in file order through a short queue (memory stays flat: a full queue
    makes the producer wait). The output streams are created at the first video frame,
    whose size (after rotation) they take.
    """

    def __init__(self, path: Path, reader: _Reader, queue_size: int = 8):
        super().__init__(name="fer-video-encoder", daemon=True)
        self.reader = reader
        self.output = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._aborted = threading.Event()
        self.error: BaseException | None = None
        self.video: av.video.stream.VideoStream | None = None
        self.audio: av.audio.stream.AudioStream | None = None
        self.audio_decoder: av.audio.codeccontext.AudioCodecContext | None = None
        self.pending_audio: list[av.Packet] = []  # audio read before the first video frame
        self.audio_shift = 0  # added to copied packets' timestamps once their clock has jumped back
        self.last_audio_dts: int | None = None
        self.next_sample: int | None = None  # pts of the next re-encoded audio frame, in samples
        self.width = self.height = 0
        self.audio_summary = "left out (a codec FFmpeg cannot decode)" if reader.audio_left_out else "none"

    def put(self, kind: str, payload: Any, pts: int = 0) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((kind, payload, pts))

    def finish(self) -> None:
        """Flush the encoders and wait until everything is written."""
        self.queue.put(("finish", None, 0))
        self.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Stop without flushing (the output is about to be deleted); see :data:`STOP_WAIT_S`."""
        self._aborted.set()
        if self.is_alive():
            # Not when an interrupted put left the lock taken. Taken for a moment by the
            # thread's own get, the item is skipped too: the thread sees _aborted within WAKE_S.
            if self.queue.mutex.acquire(blocking=False):
                self.queue.mutex.release()
                with suppress(queue.Full):
                    self.queue.put_nowait(("abort", None, 0))  # sooner than the next look at _aborted
            self.join(STOP_WAIT_S)

    def run(self) -> None:
        while not self._aborted.is_set():
            try:
                kind, payload, pts = self.queue.get(timeout=WAKE_S)
            except queue.Empty:
                continue
            if kind == "abort":
                break
            if self.error is not None and kind != "finish":
                continue  # keep draining so the producer never blocks; it raises on its next put
            try:
                if kind == "video":
                    self._video(payload, pts)
                elif kind == "audio":
                    self._audio(payload)
                else:
                    self._flush()
            except BaseException as e:  # re-raised on the producer's thread
                self.error = self._as_video_error(e)
            if kind == "finish":
                break
        try:
            self.output.close()  # writes the index: a full disk shows here, and the file must not be kept
        except BaseException as e:
            self.error = self.error or self._as_video_error(e)

    def _as_video_error(self, e: BaseException) -> BaseException:
        """FFmpeg's refusals other than write failures (an OSError, which the caller reports
        as an output error) as a :class:`VideoError` naming the input."""
        if isinstance(e, av.FFmpegError) and not isinstance(e, OSError):
            return VideoError(f"{self.reader.input.name} cannot be written as an mp4 ({_reason(e)})")
        return e

    def _video(self, rgb: np.ndarray, pts: int) -> None:
        if self.video is None:
            self._open_streams(rgb.shape[1], rgb.shape[0])
        if rgb.shape[1] != self.width or rgb.shape[0] != self.height:
            rgb = fit_frame(rgb, self.width, self.height)
        # OpenCV's RGB -> I420 is BT.601 limited range, as swscale's default, and 6x faster.
        frame = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        frame.pts, frame.time_base = pts, self.reader.video.time_base
        self.output.mux(self.video.encode(frame))

    def _open_streams(self, width: int, height: int) -> None:
        self.width, self.height = width + width % 2, height + height % 2
        source = self.reader.video
        v = self.output.add_stream("libx264", rate=frame_rate(source))
        v.width, v.height, v.pix_fmt = self.width, self.height, "yuv420p"
        v.codec_context.time_base = v.time_base = source.time_base  # every input timestamp kept
        v.codec_context.options = dict(X264_OPTIONS, **x264_memory_options(self.width, self.height))
        sar = source.codec_context.sample_aspect_ratio
        if sar and sar != 1:  # anamorphic video (DV, DVD): players stretch it back
            v.codec_context.sample_aspect_ratio = 1 / sar if round(self.reader.rotation / 90) % 2 else sar
        self.video = v
        source_audio = self.reader.audio
        if source_audio is not None:
            name = source_audio.codec_context.name
            if name in COPY_AUDIO:
                self.audio = self.output.add_stream_from_template(source_audio)
                self.audio_summary = f"copied ({name})"
            else:
                self.audio_decoder = source_audio.codec_context
                self.audio = self.output.add_stream("aac", rate=source_audio.codec_context.sample_rate or 48000)
                self.audio.layout = source_audio.codec_context.layout
                self.audio_summary = f"re-encoded to AAC (from {name})"
        for packet in self.pending_audio:
            self._audio(packet)
        self.pending_audio = []

    def _audio(self, packet: av.Packet) -> None:
        if self.video is None:
            self.pending_audio.append(packet)
        elif self.audio_decoder is not None:
            for frame in self.audio_decoder.decode(packet if packet.size else None):
                if self.next_sample is None:  # starts when the input's audio starts, as the picture does
                    start = frame.pts * frame.time_base if frame.pts is not None and frame.time_base else 0
                    self.next_sample = max(0, round(start * frame.sample_rate))
                frame.pts, frame.time_base = self.next_sample, Fraction(1, frame.sample_rate)
                self.next_sample += frame.samples  # gapless: the encoder wants increasing timestamps
                self.output.mux(self.audio.encode(frame))
        elif packet.dts is not None and packet.size:
            packet.stream = self.audio
            self._continue_audio(packet)
            self.output.mux(packet)

    def _continue_audio(self, packet: av.Packet) -> None:
        """Copied packets must come in increasing dts order: where the clock jumps back
        (joined files), the rest of the audio is shifted to go on where it was, as the
        picture is."""
        if self.last_audio_dts is not None and packet.dts + self.audio_shift <= self.last_audio_dts:
            self.audio_shift = self.last_audio_dts + (packet.duration or 1) - packet.dts
        if self.audio_shift:
            packet.dts += self.audio_shift
            if packet.pts is not None:
                packet.pts += self.audio_shift
        self.last_audio_dts = packet.dts

    def _flush(self) -> None:
        if self.video is None:
            raise VideoError(f"{self.reader.input.name} has a video stream but no frame could be decoded")
        self.output.mux(self.video.encode(None))
        if self.audio_decoder is not None:
            self.output.mux(self.audio.encode(None))


def x264_memory_options(width: int, height: int) -> dict[str, str]:
    """Above 1080p, x264 looks 3 frames ahead instead of 10: each frame held there is
    12 MB at 4K."""
    return {"rc-lookahead": "3"} if width * height > 1920 * 1088 else {}


class Prefetch:
    """Iterate over ``items`` on a worker thread, up to ``size`` items ahead of the
    consumer; errors are raised to the consumer. :meth:`close` stops the worker and
    waits for it, at most :data:`STOP_WAIT_S` (call it before closing what the items come
    from: a worker only slow, not stuck, would be decoding a frame 10 s long).
    """

    def __init__(self, items: Iterator[Any], size: int = 4):
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.stop = threading.Event()
        self.ended = False
        self.thread = threading.Thread(target=self._work, args=(items,), name="fer-video-decoder", daemon=True)
        self.thread.start()

    def _work(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put("item", item):
                    break
        except BaseException as e:  # raised again on the consumer's thread
            self._put("error", e)
        finally:
            self._put("end", None)

    def _put(self, kind: str, value: Any) -> bool:
        """Queue one entry; False, and nothing queued, once the consumer has stopped."""
        while not self.stop.is_set():
            try:
                self.queue.put((kind, value), timeout=WAKE_S)
                return True
            except queue.Full:
                pass
        return False

    def __iter__(self) -> Iterator[Any]:
        while not self.ended:
            kind, value = self.queue.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                self.ended = True

    def close(self) -> None:
        self.stop.set()  # the worker ends after the item it is decoding
        self.thread.join(STOP_WAIT_S)  # see STOP_WAIT_S


def frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    return stream.average_rate or stream.guessed_rate or Fraction(30)


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded frame the way players do for its display matrix (``rotation``:
    degrees counter-clockwise, as PyAV reports it)."""
    turns = round(rotation / 90) % 4
    if turns == 0:
        return rgb
    code = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}[turns]
    return cv2.rotate(rgb, code)


def fit_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` at ``width`` x ``height``: an odd side padded by one pixel (the edge
    repeated), a frame of another size (the stream changed size midway) scaled to fit with
    its aspect ratio kept and centred on black."""
    h, w = rgb.shape[:2]
    if 0 <= width - w <= 1 and 0 <= height - h <= 1:
        return cv2.copyMakeBorder(rgb, 0, height - h, 0, width - w, cv2.BORDER_REPLICATE)
    scaled = fit_to_display(rgb, (width, height))
    h, w = scaled.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2
    return cv2.copyMakeBorder(scaled, top, height - h - top, left, width - w - left, cv2.BORDER_CONSTANT)


class _Reporter:
    """Calls ``progress(done, total, eta)`` at most ten times a second, and at the end."""

    def __init__(self, progress: Progress | None, total: int | None):
        self.progress, self.total = progress, total
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int, final: bool = False) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        total = max(self.total, done) if self.total else (done if final else None)
        eta = (total - done) * (now - self.start) / done if total and done else None
        self.progress(done, total, 0.0 if final else eta)


def _cancel_check(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event) or hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


def _check_complete(src: Path, info: VideoInfo, frames: int) -> None:
    """A container whose header promises many more frames than the file holds was cut
    short (a truncated download); a few frames' difference is normal (edit lists).
    ``frames``: the frames read from the file, decodable or damaged."""
    if info.frames and frames < info.frames - max(2, info.frames // 50):
        raise VideoError(f"{src} is truncated or damaged: its header lists {info.frames} frames "
                         f"but only {frames} are in the file")


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e).splitlines()[0]
