import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import fer.training.data
from fer.classes import CLASS_NAMES, SPLITS
from fer.training.data import DatasetError, load_fer2013, stratified_subset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "fer2013.tar.gz"


def _face(seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A miniature FER2013 in the image-folder layout, with one corrupt and one 64x64 file."""
    root = tmp_path / "fer2013"
    for k, name in enumerate(CLASS_NAMES):
        for split, sub, n in (("Training", "train", 3), ("PublicTest", "test", 1), ("PrivateTest", "test", 2)):
            d = root / sub / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cv2.imwrite(str(d / f"{split}_{k}{i}.png"), _face(k * 10 + i))
    (root / "train" / "happy" / "Training_corrupt.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(root / "train" / "sad" / "Training_big.png"), _face(99, 64))
    return root


def _check(data):
    assert [int((data.splits == i).sum()) for i in range(3)] == [7 * 3 + 1, 7, 14]
    assert data.images.shape[1:] == (48, 48) and data.images.dtype == np.uint8
    assert data.problems == {"unreadable images (skipped)": 1, "images not 48x48 (resized)": 1}
    x, y = data.split("PrivateTest")
    assert sorted(np.bincount(y).tolist()) == [2] * 7


def test_folder_layout(folder, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(fer.training.data, "_WARNED", set())
    data = load_fer2013(folder, cache_dir=tmp_path / "cache")
    _check(data)
    # Pixels survive decoding exactly (PNG is lossless), labels come from the folder name.
    x, y = data.split("PublicTest")
    idx = int(np.flatnonzero(y == CLASS_NAMES.index("fear"))[0])
    assert np.array_equal(x[idx], _face(20))
    # A process says once what it skipped or changed, also when it loads from the cache.
    monkeypatch.setattr(fer.training.data, "_WARNED", set())
    load_fer2013(folder, cache_dir=tmp_path / "cache")
    load_fer2013(folder, cache_dir=tmp_path / "cache")
    assert [r.getMessage() for r in caplog.records] == [
        f"{folder}: 1 images not 48x48 (resized), 1 unreadable images (skipped)"] * 2


def test_tar_gz_and_zip_layouts(folder, tmp_path):
    with tarfile.open(tmp_path / "fer.tar.gz", "w:gz") as tf:
        tf.add(folder, arcname="fer2013")
    with zipfile.ZipFile(tmp_path / "fer.zip", "w") as zf:
        for p in folder.rglob("*"):
            zf.write(p, p.relative_to(folder.parent))
    for archive in ("fer.tar.gz", "fer.zip"):
        _check(load_fer2013(tmp_path / archive, cache_dir=tmp_path / "cache"))


def test_csv_layout(tmp_path):
    rows = ["emotion,pixels,Usage"]
    for k in range(7):
        for usage, n in (("Training", 2), ("PublicTest", 1), ("PrivateTest", 1)):
            rows += [f"{k},{' '.join(map(str, _face(k + i).ravel()))},{usage}" for i in range(n)]
    rows.append("3,1 2 3,Training")  # wrong pixel count
    (tmp_path / "fer2013.csv").write_text("\n".join(rows) + "\n")
    data = load_fer2013(tmp_path / "fer2013.csv", cache_dir=tmp_path / "cache")
    assert [int((data.splits == i).sum()) for i in range(3)] == [14, 7, 7]
    assert data.problems == {"unreadable CSV rows (skipped)": 1}
    x, y = data.split("Training")
    assert np.array_equal(x[0], _face(0)) and y[0] == 0


def test_cache_is_used_and_invalidated_by_content(folder, tmp_path):
    cache = tmp_path / "cache"
    first = load_fer2013(folder, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1
    cv2.imwrite(str(folder / "train" / "angry" / "Training_new.png"), _face(7))
    second = load_fer2013(folder, cache_dir=cache)
    assert len(second.labels) == len(first.labels) + 1
    again = load_fer2013(folder, cache_dir=cache)
    assert np.array_equal(again.images, second.images) and again.problems == second.problems


def test_copies_without_the_split_prefix_take_the_split_from_their_folder(tmp_path):
    """Other copies in circulation: ``train/disgusted/im0.png``, ``test/fearful/im3.png``.
    The prefix, where a file has it, still wins over the folder; the count of files split by
    folder is reported, as are images under no known split or class."""
    root = tmp_path / "copy"
    for k, (folder, name) in enumerate([("train", "angry"), ("train", "disgusted"), ("val", "fearful"),
                                        ("test", "surprised"), ("test", "happy"), ("other", "sad"),
                                        ("train", "contempt")]):
        (root / folder / name).mkdir(parents=True)
        cv2.imwrite(str(root / folder / name / f"im{k}.png"), _face(k))
    cv2.imwrite(str(root / "test" / "happy" / "PublicTest_9.png"), _face(9))
    data = load_fer2013(root, cache_dir=tmp_path / "cache")
    got = {(SPLITS[s], CLASS_NAMES[y]) for s, y in zip(data.splits, data.labels)}
    assert got == {("Training", "angry"), ("Training", "disgust"), ("PublicTest", "fear"),
                   ("PrivateTest", "surprise"), ("PrivateTest", "happy"), ("PublicTest", "happy")}
    assert data.problems == {
        "images without a Training_/PublicTest_/PrivateTest_ prefix (split by folder: train/ is Training)": 2,
        "images without a Training_/PublicTest_/PrivateTest_ prefix (split by folder: val/ is PublicTest)": 1,
        "images without a Training_/PublicTest_/PrivateTest_ prefix (split by folder: test/ is PrivateTest)": 2,
        "images with neither a Training_/PublicTest_/PrivateTest_ prefix nor a train/val/test folder (skipped)": 1,
        "images outside a folder named for a FER2013 class (skipped)": 1}


def test_a_source_with_no_usable_image_says_why_each_was_skipped(tmp_path):
    root = tmp_path / "faces"
    (root / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "im0.png"), _face(0))
    with pytest.raises(DatasetError, match=r"no FER2013 images found in .*faces \(1 images with neither a "
                                           r"Training_/PublicTest_/PrivateTest_ prefix nor a train/val/test folder"):
        load_fer2013(root, cache_dir=tmp_path / "cache")


def test_a_split_the_data_lacks_is_a_dataset_error_naming_it(folder, tmp_path):
    """Only the test folder: evaluation on it works, and training (which needs Training and
    chooses on PublicTest) says what is missing instead of dividing by zero after an epoch."""
    data = load_fer2013(folder / "test", cache_dir=tmp_path / "cache")
    assert len(data.split("PublicTest")[1]) == 7
    with pytest.raises(DatasetError, match="the data has no Training faces \\(image files named Training_"):
        data.split("Training")


def test_an_archive_damaged_in_the_middle_is_refused_not_cut_short(folder, tmp_path):
    """tarfile would end quietly at the damaged header, keeping the files before it."""
    with tarfile.open(tmp_path / "fer.tar", "w") as tf:
        tf.add(folder, arcname="fer2013")
    data = bytearray((tmp_path / "fer.tar").read_bytes())
    with tarfile.open(tmp_path / "fer.tar") as tf:
        tenth = tf.getmembers()[10].offset
    data[tenth:tenth + 100] = b"\xff" * 100  # its header's name and checksum
    (tmp_path / "fer.tar").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="fer.tar is damaged: a file header after 10 entries cannot be read"):
        load_fer2013(tmp_path / "fer.tar", cache_dir=tmp_path / "cache")


def test_a_damaged_decode_cache_is_rebuilt(folder, tmp_path):
    cache = tmp_path / "cache"
    first = load_fer2013(folder, cache_dir=cache)
    cache_file, = cache.glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[: cache_file.stat().st_size // 2])  # a torn write
    again = load_fer2013(folder, cache_dir=cache)
    assert np.array_equal(again.images, first.images)


@pytest.mark.parametrize("make", [
    lambda p: p / "missing",
    lambda p: (p / "empty").mkdir() or p / "empty",
    lambda p: (p / "x.tar.gz").write_bytes(b"garbage") and p / "x.tar.gz",
    lambda p: (p / "x.csv").write_text("a,b\n1,2\n") and p / "x.csv",
    lambda p: (p / "x.csv").write_bytes(bytes(range(256)) * 400) and p / "x.csv",  # binary, not text
    lambda p: (p / "x.csv").write_text("emotion,pixels,Usage\n\"" + "0 " * 70_000) and p / "x.csv",  # a huge field
    lambda p: (p / "x.csv").write_text("emotion,pixels,Usage\n9,1 2 3,Training\n") and p / "x.csv",  # no usable row
])
def test_wrong_source_gives_one_short_line_naming_it(tmp_path, make):
    source = make(tmp_path)
    with pytest.raises(DatasetError, match="expected FER2013") as err:
        load_fer2013(source, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert "\n" not in message and str(source) in message and len(message) < 400


@pytest.mark.parametrize("n, message", [(-1, "cannot take a sample of -1 faces"),
                                          (3, "cannot draw a class-stratified sample of 3 of 70 faces: ")])
def test_a_sample_that_cannot_be_class_stratified_is_a_dataset_error(n, message):
    labels = np.repeat(np.arange(7), 10)
    with pytest.raises(DatasetError, match=message):
        stratified_subset(np.zeros((70, 48, 48), np.uint8), labels, n)


def test_real_fer2013_split_sizes(tmp_path):
    data = load_fer2013(SHARED)
    assert [len(data.split(s)[1]) for s in ("Training", "PublicTest", "PrivateTest")] == [28709, 3589, 3589]
    assert np.bincount(data.split("Training")[1]).tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert not data.problems
