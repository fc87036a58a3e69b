"""Read FER2013 from the layouts people download, decode it once and cache it.

Two layouts are in circulation:

* image folders ``train/<class>/Training_*.jpg`` and
  ``test/<class>/{PublicTest,PrivateTest}_*.jpg``, as a directory, ``.tar.gz`` or ``.zip``.
  Copies whose files lack the split prefix (``train/happy/im0.png``) take the split from
  the folder (``train``, ``val``, ``test``), and class folders named as some copies name
  them (``disgusted``, ``fearful``, ``surprised``) are read as FER2013's classes;
* the original Kaggle ``fer2013.csv`` with columns ``emotion,pixels,Usage``.

Both decode to the same :class:`FERData`: uint8 faces ``(N, 48, 48)``, labels and split
ids. Decoding 35k JPEGs takes a while, so the result is cached as ``.npz`` keyed by a
fingerprint of the source; a second run loads in about a second.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from tqdm import tqdm

from fer.classes import CLASS_NAMES, FACE_SIZE, SPLITS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
CACHE_VERSION = 2
_CSV_USAGE = {"Training": "Training", "PublicTest": "PublicTest", "PrivateTest": "PrivateTest"}
#: Names of the splits, in lower case, as command lines and folders give them: ``val`` is
#: PublicTest (model selection), ``test`` PrivateTest (reported).
SPLIT_ALIASES = {"training": "Training", "train": "Training", "publictest": "PublicTest", "public": "PublicTest",
                 "val": "PublicTest", "valid": "PublicTest", "validation": "PublicTest",
                 "privatetest": "PrivateTest", "private": "PrivateTest", "test": "PrivateTest"}
#: Class folders as other copies of FER2013 (and data sets labelled with nouns) name them.
CLASS_FOLDER_ALIASES = {"anger": "angry", "disgusted": "disgust", "fearful": "fear", "happiness": "happy",
                        "sadness": "sad", "surprised": "surprise"}
log = logging.getLogger(__name__)
#: Fingerprints of the sources whose problems this process has logged already.
_WARNED: set[str] = set()

_LAYOUT_HELP = (
    "expected FER2013 as image folders (train/<class>/*.jpg and "
    "test/<class>/PublicTest_*.jpg, PrivateTest_*.jpg, or train/, val/ and test/ folders of "
    "class folders) in a directory, .tar.gz or .zip, "
    "or the original fer2013.csv with columns emotion,pixels,Usage"
)


class DatasetError(ValueError):
    """The data source is missing or not laid out like FER2013."""


@dataclass
class FERData:
    """FER2013 decoded into memory.

    ``problems`` counts what could not be used as-is (undecodable files, faces that had
    to be resized, files outside the known splits), so that nothing is dropped silently.
    """

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, index into CLASS_NAMES
    splits: np.ndarray  # (N,) int64, index into SPLITS
    fingerprint: str
    problems: dict[str, int] = field(default_factory=dict)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Faces and labels of one split: ``Training``, ``PublicTest`` or ``PrivateTest``."""
        split = _canonical_split(name)
        mask = self.splits == SPLITS.index(split)
        if not mask.any():
            folder = next(alias for alias in ("train", "val", "test") if SPLIT_ALIASES[alias] == split)
            raise DatasetError(f"the data has no {split} faces (image files named {split}_*, unprefixed ones in a "
                               f"{folder}/ folder, or rows of fer2013.csv with Usage {split}); {_LAYOUT_HELP}")
        return self.images[mask], self.labels[mask]

    def summary(self) -> str:
        """The size of each split."""
        return "FER2013: " + ", ".join(f"{s} {int((self.splits == i).sum())}" for i, s in enumerate(SPLITS))

    def problems_text(self) -> str:
        """What could not be used as-is, counted: empty when everything could."""
        return _counted(self.problems)


def _counted(problems: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(problems.items()))


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, class-stratified sample of ``n`` faces (all of them when ``n`` is 0 or too big).

    FER2013 files are ordered by class folder, so "the first n" would be all angry faces.
    Raises :class:`DatasetError` when ``n`` cannot be drawn that way (negative, or fewer
    faces than classes).
    """
    if n < 0:
        raise DatasetError(f"cannot take a sample of {n} faces")
    if not n or n >= len(y):
        return x, y
    from sklearn.model_selection import train_test_split

    try:
        keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    except ValueError as e:  # scikit-learn says which constraint, e.g. one face per class
        raise DatasetError(f"cannot draw a class-stratified sample of {n} of {len(y)} faces: {e}") from None
    keep = np.sort(keep)
    return x[keep], y[keep]


def _canonical_split(name: str) -> str:
    try:
        return SPLIT_ALIASES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}") from None


def load_fer2013(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> FERData:
    """Load FER2013 from a directory, archive or CSV, using the decode cache when valid.
    Files skipped, resized or split by folder are logged as a warning once per process and
    source (from the cache too), so that every command reading the data says so, not only
    the one that decoded it, and says it once.

    >>> data = load_fer2013("../shared/data/fer2013.tar.gz")  # doctest: +SKIP
    >>> x, y = data.split("PublicTest")                         # doctest: +SKIP
    """
    data = _load(Path(source).expanduser(), cache_dir)
    if data.problems and data.fingerprint not in _WARNED:
        _WARNED.add(data.fingerprint)
        log.warning("%s: %s", source, data.problems_text())
    return data


def default_cache_dir() -> Path:
    """Where decoded data and computed probabilities are kept: ``$FER_CACHE_DIR``, else ``~/.cache/fer``."""
    return Path(os.environ.get("FER_CACHE_DIR") or Path.home() / ".cache" / "fer")


def _load(path: Path, cache_dir: str | os.PathLike | None) -> FERData:
    if not path.exists():
        raise DatasetError(f"{path} does not exist; {_LAYOUT_HELP}")
    fingerprint = _fingerprint(path)
    cache_file = Path(cache_dir or default_cache_dir()) / f"fer2013-{fingerprint}.npz"
    if cache_file.exists():
        try:
            return _read_cache(cache_file, fingerprint)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            cache_file.unlink(missing_ok=True)  # a torn cache is rebuilt, never trusted
    data = _decode(path, fingerprint)
    _write_cache(cache_file, data)
    return data


def _fingerprint(path: Path) -> str:
    """Content hash for files; name/size/mtime hash for directories (re-hashing 35k
    small files on every start would cost more than decoding them)."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    if path.is_file():
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    else:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                digest.update(f"{p.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _read_cache(cache_file: Path, fingerprint: str) -> FERData:
    with np.load(cache_file, allow_pickle=False) as z:
        problems = dict(zip(z["problem_keys"].tolist(), z["problem_counts"].tolist()))
        return FERData(z["images"], z["labels"], z["splits"], fingerprint, problems)


def _write_cache(cache_file: Path, data: FERData) -> None:
    """Keep the decoded data; a cache that cannot be written costs the next command the
    decoding, not this one its data: it is logged."""
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp.npz")  # two commands decoding at once write apart
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, images=data.images, labels=data.labels, splits=data.splits,
                 problem_keys=np.array(list(data.problems), dtype=str),
                 problem_counts=np.array(list(data.problems.values()), dtype=np.int64))
        tmp.replace(cache_file)
    except OSError as e:
        with contextlib.suppress(OSError):  # nothing half-written stays behind, if anything was
            tmp.unlink()
        log.warning("decoded data not kept for reuse: %s", e)


def _decode(path: Path, fingerprint: str) -> FERData:
    name = path.name.lower()
    if path.is_file() and name.endswith(".csv"):
        with path.open(newline="") as f:
            return _from_csv(f, fingerprint, path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        csvs = [p for p in files if p.name == "fer2013.csv"]
        if csvs and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
            with csvs[0].open(newline="") as f:
                return _from_csv(f, fingerprint, csvs[0])
        members = ((str(p.relative_to(path)), p.read_bytes) for p in files)
        return _from_files(members, fingerprint, str(path))
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                members = ((i.filename, lambda i=i: zf.read(i)) for i in zf.infolist() if not i.is_dir())
                return _from_files(members, fingerprint, str(path))
        except zipfile.BadZipFile as e:
            raise DatasetError(f"{path} is not a readable zip archive ({e}); {_LAYOUT_HELP}") from None
    if name.endswith(ARCHIVE_SUFFIXES):
        try:
            with tarfile.open(path) as tf:
                members = ((m.name, lambda m=m: tf.extractfile(m).read()) for m in tf if m.isfile())
                data = _from_files(members, fingerprint, str(path))
                _check_tar_end(tf, path)
                return data
        except (tarfile.TarError, EOFError, OSError) as e:
            reason = str(e).splitlines()[0].rstrip(":")
            raise DatasetError(f"{path} is not a readable tar archive ({reason}); {_LAYOUT_HELP}") from None
    raise DatasetError(f"{path} is not a directory, archive or CSV; {_LAYOUT_HELP}")


def _check_tar_end(tf: tarfile.TarFile, path: Path) -> None:
    """tarfile stops quietly at a damaged header anywhere past the first, as if the archive
    ended there: what follows the last member it read must be the archive's end (zero
    blocks), or the rest of the data would be lost without a word."""
    tf.fileobj.seek(tf.offset)
    if tf.fileobj.read(tarfile.RECORDSIZE).strip(b"\0"):
        raise DatasetError(f"{path} is damaged: a file header after {len(tf.getmembers())} entries cannot be read "
                           f"(download it again); {_LAYOUT_HELP}")


def _split_of(parts: tuple[str, ...]) -> str | None:
    """Split from the file-name prefix, which keeps FER2013's original assignment."""
    stem = parts[-1]
    for split in SPLITS:
        if stem.startswith(split):
            return split
    return None


def _split_of_folder(parts: tuple[str, ...]) -> str | None:
    """Split from the folder holding the class folder (``train/happy/im0.png``), for copies
    whose file names lost FER2013's prefix."""
    return SPLIT_ALIASES.get(parts[-3].lower()) if len(parts) >= 3 else None


def _from_files(members: Iterator, fingerprint: str, where: str) -> FERData:
    images, labels, splits = [], [], []
    problems: Counter[str] = Counter()
    for member_name, read in tqdm(members, desc=f"decoding {Path(where).name}", unit="file", leave=False):
        parts = PurePosixPath(member_name.replace("\\", "/")).parts
        if not parts[-1].lower().endswith(IMAGE_SUFFIXES) or parts[-1].startswith("."):
            continue
        folder = parts[-2].lower() if len(parts) >= 2 else ""
        class_name = CLASS_FOLDER_ALIASES.get(folder, folder)
        if class_name not in CLASS_NAMES:
            problems["images outside a folder named for a FER2013 class (skipped)"] += 1
            continue
        split = _split_of(parts)
        if split is None:
            split = _split_of_folder(parts)
            if split is None:
                problems["images with neither a Training_/PublicTest_/PrivateTest_ prefix nor a train/val/test "
                         "folder (skipped)"] += 1
                continue
            problems[f"images without a Training_/PublicTest_/PrivateTest_ prefix (split by folder: "
                     f"{parts[-3]}/ is {split})"] += 1
        face = cv2.imdecode(np.frombuffer(read(), np.uint8), cv2.IMREAD_GRAYSCALE)
        if face is None:
            problems["unreadable images (skipped)"] += 1
            continue
        if face.shape != (FACE_SIZE, FACE_SIZE):
            problems[f"images not {FACE_SIZE}x{FACE_SIZE} (resized)"] += 1
            face = cv2.resize(face, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
        images.append(face)
        labels.append(CLASS_NAMES.index(class_name))
        splits.append(SPLITS.index(split))
    if not images:
        skipped = f" ({_counted(problems)})" if problems else ""
        raise DatasetError(f"no FER2013 images found in {where}{skipped}; {_LAYOUT_HELP}")
    return _assemble(images, labels, splits, fingerprint, problems)


def _from_csv(f: io.TextIOBase, fingerprint: str, path: Path) -> FERData:
    """FER2013's CSV, or a :class:`DatasetError` naming the file: binary data under a
    ``.csv`` name fails as text or as CSV (a field past the csv module's size limit)."""
    try:
        return _read_csv(f, fingerprint, path)
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not a text file; {_LAYOUT_HELP}") from None
    except csv.Error as e:
        raise DatasetError(f"{path} is not a readable CSV file ({e}); {_LAYOUT_HELP}") from None


def _read_csv(f: io.TextIOBase, fingerprint: str, path: Path) -> FERData:
    reader = csv.DictReader(f)
    if not reader.fieldnames or not {"emotion", "pixels", "Usage"} <= set(reader.fieldnames):
        header = ",".join(reader.fieldnames or [])
        shown = header if len(header) <= 60 else header[:60] + "..."
        raise DatasetError(f"{path} has the CSV header {shown!r}, not emotion,pixels,Usage; {_LAYOUT_HELP}")
    images, labels, splits = [], [], []
    problems: Counter[str] = Counter()
    for row in tqdm(reader, desc=f"decoding {path.name}", unit="row", leave=False):
        try:
            pixels = np.array(row["pixels"].split(), dtype=np.float64)
            label = int(row["emotion"])
            split = _CSV_USAGE[row["Usage"].strip()]
        except (ValueError, KeyError, AttributeError):
            problems["unreadable CSV rows (skipped)"] += 1
            continue
        if pixels.size != FACE_SIZE * FACE_SIZE or not 0 <= label < len(CLASS_NAMES):
            problems["unreadable CSV rows (skipped)"] += 1
            continue
        images.append(pixels.clip(0, 255).astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE))
        labels.append(label)
        splits.append(SPLITS.index(split))
    if not images:
        raise DatasetError(f"no usable rows in {path}; {_LAYOUT_HELP}")
    return _assemble(images, labels, splits, fingerprint, problems)


def _assemble(images, labels, splits, fingerprint, problems) -> FERData:
    return FERData(np.stack(images), np.asarray(labels, np.int64), np.asarray(splits, np.int64),
                   fingerprint, dict(problems))
