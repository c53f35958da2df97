"""``pip install .`` gives a library that finds its bundled assets without the checkout."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ssl_core

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package_of_the_library():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {"ssl_core"} | {m.name for m in pkgutil.walk_packages(ssl_core.__path__, "ssl_core.")
                              if m.ispkg}
    assert listed == on_disk | {"ssl_core.assets"}


@pytest.mark.slow
def test_the_installed_package_loads_its_bundled_data(tmp_path):
    """Build the wheel, install it into a folder of its own and use it from elsewhere: the
    bundled Fashion-MNIST, photos and checkpoints come from the installed package."""
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    for folder in ("ssl_core", "assets"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    target = tmp_path / "site"
    (wheel,) = wheels.glob("*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                                "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    code = (
        "import ssl_core, ssl_core.paths as p\n"
        "from ssl_core.data import list_photos, load_fashion_mnist\n"
        "from ssl_core.checkpoints import checkpoint_names\n"
        f"assert ssl_core.__file__.startswith({str(target)!r}), ssl_core.__file__\n"
        f"assert p.checkout_root() is None and p.assets_dir().is_relative_to({str(target)!r})\n"
        "print(len(load_fashion_mnist('test')), len(list_photos()), checkpoint_names())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={"PYTHONPATH": str(target),
                                                      "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    n_test, n_photos, names = out.stdout.split(maxsplit=2)
    assert int(n_test) == 10_000 and int(n_photos) >= 1 and "simclr" in names
