import io

import cv2
import numpy as np
import pytest
from media import astronaut, huge_png
from PIL import Image

from fer.io.images import ImageError, encode_image, read_image, save_image


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return astronaut()[:256, 100:356].copy()


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp"])
def test_reads_the_usual_formats(tmp_path, face, suffix):
    path = save_image(face, tmp_path / f"face{suffix}")
    rgb = read_image(path)
    assert rgb.shape == face.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - face).mean() < 3  # lossy formats stay close; colours are not swapped
    assert np.array_equal(read_image(path.read_bytes()), rgb)
    assert np.array_equal(read_image(io.BytesIO(path.read_bytes())), rgb)


def test_grayscale_rgba_palette_and_16_bit(tmp_path, face):
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert np.array_equal(read_image(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, axis=2))

    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # transparent corner: shown on white
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    rgb = read_image(tmp_path / "rgba.png")
    assert rgb.shape == face.shape and (rgb[:10, :10] == 255).all() and np.array_equal(rgb[20:], face[20:])

    Image.fromarray(face).convert("P").save(tmp_path / "palette.png")
    assert read_image(tmp_path / "palette.png").shape == face.shape

    gray16 = gray.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "gray16.png"), gray16)
    assert np.array_equal(read_image(tmp_path / "gray16.png")[..., 0], gray)
    cv2.imwrite(str(tmp_path / "rgb16.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    assert np.array_equal(read_image(tmp_path / "rgb16.png"), face)
    assert np.array_equal(read_image(gray16), np.repeat(gray[..., None], 3, axis=2))  # arrays too


def test_exif_orientation_is_honoured(tmp_path, face):
    landscape = np.ascontiguousarray(face[:100])  # 256 wide, 100 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(landscape).save(tmp_path / "phone.jpg", exif=exif.tobytes())
    upright = read_image(tmp_path / "phone.jpg")
    assert upright.shape == (256, 100, 3)
    expected = cv2.rotate(landscape, cv2.ROTATE_90_CLOCKWISE)
    assert np.abs(upright.astype(int) - expected).mean() < 4


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="empty"):
        read_image(b"", name="upload.jpg")


def test_truncated_jpg(tmp_path, face):
    data = encode_image(face, "jpg")
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        read_image(tmp_path / "cut.jpg")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not a picture\n")
    with pytest.raises(ImageError, match="not an image"):
        read_image(tmp_path / "notes.jpg")


def test_huge_image_is_refused_before_decoding(tmp_path):
    path = huge_png(tmp_path / "huge.png")  # 20000 x 20000: 400 MB once decoded
    with pytest.raises(ImageError, match="400 megapixels, too large"):
        read_image(path)


def test_just_too_large_image_is_refused_with_its_size(tmp_path):
    path = huge_png(tmp_path / "big.png", width=10000, height=6000)  # under Pillow's own limit, over ours
    with pytest.raises(ImageError, match="10000x6000 pixels, too large"):
        read_image(path)


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1), (255, 0, 0)).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match="1x1 pixels, too small"):
        read_image(tmp_path / "dot.png")


def test_missing_file_and_odd_arrays(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="shape"):
        read_image(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(ImageError, match="pixel type"):
        read_image(np.zeros((64, 64, 3), np.float32))


def test_save_image_is_atomic_and_checks_the_suffix(tmp_path, face):
    with pytest.raises(ImageError, match="cannot write"):
        save_image(face, tmp_path / "face.tga")
    save_image(face, tmp_path / "face.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]


def test_integer_arrays_with_8_bit_values_are_read_as_8_bit(face):
    for dtype in (np.int32, np.int64, np.uint32, np.int16):
        assert np.array_equal(read_image(face.astype(dtype)), face)
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    mode_i = Image.fromarray(gray.astype(np.int32))  # Pillow's 32-bit integer mode "I"
    assert mode_i.mode == "I" and np.array_equal(read_image(mode_i), np.repeat(gray[..., None], 3, axis=2))
    assert np.array_equal(read_image(face.astype(np.int64) * 257), face)  # 16-bit values still read as 16-bit
    with pytest.raises(ImageError, match="expected 0-255 .8-bit. or 0-65535"):
        read_image(face.astype(np.int32) - 1)
    with pytest.raises(ImageError, match="expected integers 0-255"):
        read_image(face.astype(np.float32))
