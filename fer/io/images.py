"""Read still images into RGB uint8 arrays, refusing bad input with a message a person
can act on, and write annotated images.

Reads jpg, png, webp, bmp (and whatever else Pillow decodes), grayscale, palette, RGBA
(composited on white), 16-bit, and honours EXIF orientation. The size is checked from the
header before any pixel is decoded, so a huge image is refused without using its memory.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import IO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer.io.outputs import write_whole

#: Largest image accepted, in pixels (a 48-megapixel phone photo fits).
MAX_PIXELS = 50_000_000
#: Smallest side accepted: the face detector's window is 24 pixels.
MIN_SIDE = 24
#: Formats :func:`save_image` writes, by file suffix.
WRITE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, IO[bytes], np.ndarray, Image.Image]


class ImageError(ValueError):
    """An image that cannot be used: missing, empty, damaged, not an image, too big or too small."""


def read_image(src: ImageSource, name: str | None = None) -> np.ndarray:
    """Decode ``src`` (a path, bytes, a binary file object, a PIL image or an array) into an
    RGB uint8 ``(H, W, 3)`` array, upright according to its EXIF orientation.

    ``name`` is used in error messages (e.g. an uploaded file's name).

    >>> read_image(b"hello", name="notes.jpg")
    Traceback (most recent call last):
    ...
    fer.io.images.ImageError: notes.jpg is not an image Pillow can read (jpg, png, webp, bmp, ...)
    """
    if isinstance(src, np.ndarray):
        return _from_array(src, name or "the array")
    if isinstance(src, Image.Image):
        return _from_pil(src, name or "the image")
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        name = name or str(path)
        if not path.is_file():
            raise ImageError(f"{name} does not exist" if not path.exists() else f"{name} is not a file")
        if path.stat().st_size == 0:
            raise ImageError(f"{name} is empty (0 bytes)")
        try:
            f = open(path, "rb")
        except OSError as e:
            raise ImageError(f"{name} cannot be read ({e.strerror or e})") from None
        with f:
            return _decode(f, name)
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise ImageError(f"{name or 'the upload'} is empty (0 bytes)")
        return _decode(io.BytesIO(src), name or "the upload")
    if hasattr(src, "read"):
        data = src.read()
        return read_image(bytes(data), name=name or getattr(src, "name", None))
    raise TypeError(f"cannot read an image from {type(src).__name__}")


def _decode(f: IO[bytes], name: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(f)
        check_size(im.width, im.height, name)
        im.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as e:  # Pillow's own limit, checked while reading the header
        size = re.search(r"\((\d+) pixels\)", str(e))
        what = f"{int(size.group(1)) / 1e6:.0f} megapixels" if size else "far too many pixels"
        raise ImageError(f"{name} has {what}, too large to process (at most {MAX_PIXELS // 1_000_000} "
                         "megapixels); scale it down first") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image Pillow can read (jpg, png, webp, bmp, ...)") from None
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's errors for damaged data
        raise ImageError(f"{name} is damaged or truncated and cannot be decoded ({e})") from None
    return _from_pil(im, name)


def check_size(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name} is {width}x{height} pixels, too large to process "
                         f"(at most {MAX_PIXELS // 1_000_000} megapixels); scale it down first")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{name} is {width}x{height} pixels, too small to contain a face "
                         f"(at least {MIN_SIDE}x{MIN_SIDE} needed)")


def _from_pil(im: Image.Image, name: str) -> np.ndarray:
    check_size(im.width, im.height, name)
    try:
        im = ImageOps.exif_transpose(im)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        pass  # a broken EXIF block: keep the pixels as stored
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return _from_array(np.asarray(im), name)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def _from_array(a: np.ndarray, name: str) -> np.ndarray:
    """uint8 or 16-bit gray, gray+alpha-less, RGB or RGBA array -> RGB uint8. Other
    integer types are read as 8-bit when their values fit 0-255, else as 16-bit (a
    16-bit image darker than 1/256 of full scale is read as 8-bit: rare, and visible)."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"{name} has shape {a.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    check_size(a.shape[1], a.shape[0], name)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype.kind in "iu" and a.dtype != np.uint8:  # int32 from Pillow's mode "I", int64 from numpy
        low, high = int(a.min()), int(a.max())
        if low < 0 or high > 65535:
            raise ImageError(f"{name} has {a.dtype} values {low}-{high}; expected 0-255 (8-bit) or 0-65535 "
                             "(16-bit) integers")
        a = a.astype(np.uint8) if high <= 255 else (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageError(f"{name} has pixel type {a.dtype}; expected integers 0-255 (uint8) or 0-65535 (uint16)")
    if a.ndim == 2:
        return np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2))
    if a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.uint16)
        return ((a[..., :3] * alpha + 255 * (255 - alpha)) // 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def save_image(rgb: np.ndarray, path: str | os.PathLike, quality: int = 92) -> Path:
    """Write an RGB uint8 image; the format follows the suffix (jpg, png, webp, bmp). The
    file appears only when complete; raises :class:`fer.io.outputs.OutputError` when it
    cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise ImageError(f"cannot write {path.name}: use one of {', '.join(sorted(WRITE_FORMATS))}")
    return write_whole(path, encode_image(rgb, path.suffix, quality))


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 92) -> bytes:
    """An RGB uint8 image as file bytes (for downloads): ``fmt`` is png, jpg, webp or bmp."""
    buf = io.BytesIO()
    pil_fmt = WRITE_FORMATS[f".{fmt.lower().lstrip('.')}"]
    Image.fromarray(rgb).save(buf, format=pil_fmt, **({"quality": quality} if pil_fmt in ("JPEG", "WEBP") else {}))
    return buf.getvalue()
