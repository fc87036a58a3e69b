"""The built wheel is a complete install: its model, its app and its command work from a
fresh virtual environment, far from the checkout.

The wheel is built from a copy of the working tree and installed without dependencies
into a new venv; the dependencies (PyTorch alone is gigabytes) are made visible through
a ``.pth`` file naming this interpreter's site-packages, which adds that folder to
``sys.path`` without running the ``.pth`` files in it (so an editable install of the
checkout there stays inactive). Every command runs outside the checkout with no
PYTHONPATH, and the test checks that ``fer`` is imported from the new venv.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from media import astronaut, decode_all, make_clip
from readme import python_examples

from fer.io.images import save_image

REPO = Path(__file__).resolve().parents[1]
#: Not needed to build the wheel, and big or changing while the tests run.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache",
                                    "tests", "docs", "benchmarks", "*.partial")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, folder / "src", ignore=NOT_COPIED)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(folder / "dist"), str(folder / "src")], check=True, cwd=folder)
    (found,) = (folder / "dist").glob("fer-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv with the wheel installed, the dependencies borrowed from this one."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("work")
    save_image(astronaut(), folder / "photo.jpg")
    make_clip(folder / "clip.mp4", frames=10, audio="aac")
    return folder


def run(venv: Path, workdir: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FER_WEIGHTS")}
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_wheel_carries_every_module_the_model_and_the_app_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(REPO)) for p in (REPO / "fer").rglob("*.py")}
    assert modules - names == set()
    assert {"fer/weights/vgg10.pt", "fer/weights/vgg10.json", "fer/app/streamlit_config/config.toml"} <= names
    shipped = {f"fer/weights/{p.name}" for p in (REPO / "weights").iterdir() if p.is_file()}
    assert shipped - names == set()  # every model file, BlazeFace's and their licence notices included


def test_the_installed_cli_annotates_a_picture_and_a_clip(venv, workdir):
    where = run(venv, workdir, "python", "-c", "import fer.models.modelfile as m; print(m.__file__, m.BUNDLED_WEIGHTS)")
    module, weights = where.stdout.split()
    assert module.startswith(str(venv)) and weights.startswith(str(venv)), where  # not the checkout's
    assert run(venv, workdir, "fer", "--version").stdout.strip().startswith("fer ")
    done = run(venv, workdir, "fer", "annotate", "photo.jpg", "clip.mp4", "-o", "out", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    faces = pd.read_json(workdir / "out" / "photo.annotated.json", orient="table")
    assert faces.label.tolist() == ["happy"]  # the bundled model, not a random one
    assert decode_all(workdir / "out" / "clip.annotated.mp4")["frames"] == 10
    assert len(pd.read_csv(workdir / "out" / "clip.annotated.csv", comment="#")) >= 10


def test_the_readme_python_example_runs_on_the_installed_package(venv, workdir):
    (workdir / "example.py").write_text("\n\n".join(python_examples()))
    done = run(venv, workdir, "python", "example.py")
    assert done.returncode == 0, done.stderr
    assert decode_all(workdir / "clip.annotated.mp4")["frames"] == 10


def test_fer_app_serves_from_the_installed_package(venv, workdir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FER_WEIGHTS")}
    server = subprocess.Popen([str(venv / "bin" / "fer"), "app", "--server.port", str(port),
                               "--server.address", "127.0.0.1"], cwd=workdir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)  # polling the server's port until it answers, with a deadline
        assert health == b"ok", server.stdout.read() if server.poll() is not None else "no answer"
    finally:
        server.terminate()
        server.wait(timeout=30)
    # A page itself, from the installed router, showing the metrics file shipped beside the model.
    check = ("from streamlit.testing.v1 import AppTest; import fer.app.router as r\n"
             "at = AppTest.from_file(r.__file__, default_timeout=60)\n"
             "at.switch_page('views/metrics.py').run()\n"
             "assert not at.exception, at.exception\n"
             "print(at.title[0].value, at.dataframe[0].value.to_csv())\n")
    done = run(venv, workdir, "python", "-c", check)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Metrics") and "vgg10.pt" in done.stdout
