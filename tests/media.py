"""Test media made on the fly from scikit-image's astronaut (a public-domain NASA
portrait): frames with a face at a known place, clips with or without audio, rotation,
variable frame rate or odd sizes, and deliberately broken files."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

#: The astronaut's face in ``skimage.data.astronaut()`` (x1, y1, x2, y2), roughly.
ASTRONAUT_FACE = (175, 62, 275, 165)


@lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage import data

    image = data.astronaut()  # read from its PNG file on every call
    image.flags.writeable = False
    return image


def astronaut() -> np.ndarray:
    """The portrait, a fresh array each time (a test may draw on it)."""
    return _astronaut().copy()


@lru_cache(maxsize=32)
def face_patch(side: int) -> np.ndarray:
    """The astronaut's head and shoulders cut square and resized to ``side`` (read-only:
    cached, as a clip of a moving face needs it for every frame)."""
    patch = cv2.resize(_astronaut()[10:230, 115:335], (side, side), interpolation=cv2.INTER_AREA)
    patch.flags.writeable = False
    return patch


def face_frame(width: int = 320, height: int = 240, x: int | None = None, side: int | None = None,
               background: int = 90) -> np.ndarray:
    """A flat grey frame with one face patch; ``x`` is the patch's left edge."""
    side = side or int(height * 0.6)
    frame = np.full((height, width, 3), background, np.uint8)
    x = (width - side) // 2 if x is None else x
    y = (height - side) // 2
    frame[y:y + side, x:x + side] = face_patch(side)
    return frame


def make_clip(path: Path, frames: int = 12, size: tuple[int, int] = (320, 240), fps: int = 15, face: bool = True,
              audio: str | None = None, rotation: int = 0, vfr_ms: list[int] | None = None,
              video: bool = True, start: float = 0.0, sar: Fraction | None = None) -> Path:
    """Encode a clip of a face moving left to right.

    ``audio``: an audio codec to add a tone with (``aac``, ``pcm_s16le``, ``mp2``).
    ``rotation``: display rotation (degrees counter-clockwise); the frames are stored turned
    the other way, so the clip plays upright. ``vfr_ms``: frame durations in milliseconds,
    cycled. ``start``: seconds at which both streams begin. ``sar``: the pixels' aspect
    ratio (width / height of one pixel), for anamorphic video.
    """
    w, h = size
    stored_w, stored_h = (h, w) if rotation % 180 else (w, h)
    with av.open(str(path), "w") as out:
        v = None
        if video:
            v = out.add_stream("libx264", rate=fps)
            v.width, v.height = stored_w, stored_h
            v.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
            v.codec_context.options = {"preset": "ultrafast"}
            if vfr_ms:
                v.codec_context.time_base = Fraction(1, 1000)
            if rotation:
                v.set_display_rotation(rotation)
            if sar:
                v.codec_context.sample_aspect_ratio = sar
        a = None
        if audio:
            a = out.add_stream(audio, rate=16000)
            a.layout = "mono"
        t = 0
        side = int(h * 0.6)
        for i in range(frames if video else 0):
            x = int((w - side) * i / max(frames - 1, 1))
            frame = face_frame(w, h, x=x, side=side) if face else np.full((h, w, 3), 90, np.uint8)
            if rotation:  # stored so that turning it by `rotation` counter-clockwise shows it upright
                turns = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
                frame = cv2.rotate(frame, turns[rotation % 360])
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            if vfr_ms:
                vf.pts, vf.time_base = t, Fraction(1, 1000)
                t += vfr_ms[i % len(vfr_ms)]
            elif start:
                vf.pts, vf.time_base = round(start * fps) + i, Fraction(1, fps)
            out.mux(v.encode(vf))
        if v is not None:
            out.mux(v.encode(None))
        if a is not None:
            _tone(out, a, audio, seconds=frames / fps, start=start)
    return path


def _tone(out, stream, codec: str, seconds: float, rate: int = 16000, start: float = 0.0) -> None:
    total, done, first = int(rate * seconds), 0, round(start * rate)
    while done < total:
        n = min(1024, total - done)
        wave = 0.2 * np.sin(2 * np.pi * 440 * np.arange(done, done + n) / rate)
        if codec == "pcm_s16le":
            frame = av.AudioFrame.from_ndarray((wave * 32767).astype(np.int16)[None], format="s16", layout="mono")
        else:
            frame = av.AudioFrame.from_ndarray(wave.astype(np.float32)[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, first + done, Fraction(1, rate)
        out.mux(stream.encode(frame))
        done += n
    out.mux(stream.encode(None))


def huge_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A genuine, valid all-black grayscale PNG of ``width`` x ``height``, written row by
    row so that making it needs almost no memory (the file is about 0.4 MB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z = zlib.compressobj(1)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", idat))
        f.write(chunk(b"IEND", b""))
    return path


def decode_all(path: Path) -> dict:
    """What a player sees: frame count, codec, pixel format, size, frame times, audio."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times = [float(f.time) for f in c.decode(video=0)]
        return {"frames": len(times), "codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt,
                "size": (v.codec_context.width, v.codec_context.height), "rate": v.average_rate, "times": times,
                "duration": float(v.duration * v.time_base) if v.duration else None,
                "audio": [s.codec_context.name for s in c.streams.audio]}


def decode_frames(path: Path) -> list[np.ndarray]:
    """Every frame of ``path``'s video, as RGB arrays."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def box_outline(image: np.ndarray, box) -> np.ndarray:
    """The pixels of ``image`` along the left, right and bottom sides of ``box`` (x1, y1, x2,
    y2 in its pixels), as ``(N, 3)`` int: where a drawn box shows. The top side is left out,
    as a label may cover it."""
    h, w = image.shape[:2]
    x1, x2 = (min(max(round(float(v)), 0), w - 1) for v in (box[0], box[2]))
    y1, y2 = (min(max(round(float(v)), 0), h - 1) for v in (box[1], box[3]))
    return np.concatenate([image[y1:y2 + 1, x1], image[y1:y2 + 1, x2], image[y2, x1:x2 + 1]]).astype(int)


def share_tinted(pixels: np.ndarray, channel: int, margin: int = 30) -> float:
    """The share of ``pixels`` whose ``channel`` (0 red, 1 green, 2 blue) exceeds the other
    two by ``margin``: where a box drawn in that primary colour shows, also through a lossy
    codec's smearing of colour."""
    others = np.delete(pixels, channel, axis=1).max(axis=1)
    return float((pixels[:, channel] - others > margin).mean())


def without_decoder(src: Path, dst: Path, stream: str) -> Path:
    """A copy of the Matroska clip ``src`` whose ``stream`` ("audio", AAC; or "video",
    H.264) names a codec FFmpeg does not know: it demuxes, and has no decoder."""
    old = {"audio": b"A_AAC", "video": b"V_MPEG4/ISO/AVC"}[stream]
    data = src.read_bytes()
    assert data.count(old) == 1
    dst.write_bytes(data.replace(old, old[:-3] + b"XYZ"))
    return dst


def damage(src: Path, dst: Path, start: float, end: float, seed: int = 0) -> Path:
    """A copy of ``src`` with the bytes from ``start`` to ``end`` (fractions of its length)
    replaced by noise: frames there no longer decode, the container stays readable."""
    data = bytearray(src.read_bytes())
    a, b = int(len(data) * start), int(len(data) * end)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def decodable_frame_times(path: Path) -> list[float]:
    """The times of the frames that decode, skipping the damaged ones as FFmpeg does."""
    times = []
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0]):
            try:
                times += [float(f.time) for f in packet.decode()]
            except av.FFmpegError:
                pass
    return times
