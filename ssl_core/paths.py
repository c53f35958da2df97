"""Where the bundled assets and the user's data live: the one place that knows.

The assets folder holds what ships with the project: ``fashion_mnist.npz`` (the bundled
Fashion-MNIST subset), ``images/`` (the colour photos), ``checkpoints/`` (pretrained encoders)
and ``results/`` (measured results). It is, in order:

1. ``$SSL_EXPLORER_ASSETS`` when set (a deployment, or a test, points it elsewhere);
2. the copy installed with the package (``pip install .`` puts it in ``ssl_core/assets``);
3. the source checkout's ``assets/``.

User data (``data_dir()``: full Fashion-MNIST in torchvision's layout, downloads) is
``$SSL_EXPLORER_DATA``, else the checkout's git-ignored ``data/``, else ``./data``.

These are functions, read at each call, not constants: callers ask ``paths.checkpoints_dir()``
when they need it, so one setting (or one ``monkeypatch``) moves every reader at once.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ASSETS_ENV",
    "DATA_ENV",
    "assets_dir",
    "checkout_root",
    "checkpoints_dir",
    "data_dir",
    "fashion_mnist_file",
    "photos_dir",
    "results_dir",
]

ASSETS_ENV = "SSL_EXPLORER_ASSETS"
DATA_ENV = "SSL_EXPLORER_DATA"
_PACKAGE = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The source checkout this package is imported from (it holds ``pyproject.toml`` beside
    ``ssl_core/``), or None when the package is installed."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() else None


def assets_dir() -> Path:
    """The assets folder (see the module docstring for the order it is looked for in)."""
    configured = os.environ.get(ASSETS_ENV)
    if configured:
        return Path(configured).expanduser()
    installed = _PACKAGE / "assets"
    if installed.is_dir():
        return installed
    return (checkout_root() or _PACKAGE.parent) / "assets"


def checkpoints_dir() -> Path:
    """Bundled checkpoints: ``<assets>/checkpoints/<name>/`` (model.safetensors + config.json)."""
    return assets_dir() / "checkpoints"


def results_dir() -> Path:
    """Measured results: ``<assets>/results/<name>.json``."""
    return assets_dir() / "results"


def photos_dir() -> Path:
    """The bundled colour photos: ``<assets>/images/``."""
    return assets_dir() / "images"


def fashion_mnist_file() -> Path:
    """The bundled Fashion-MNIST subset: ``<assets>/fashion_mnist.npz``."""
    return assets_dir() / "fashion_mnist.npz"


def data_dir() -> Path:
    """Root of user data and downloads (``data_dir()/FashionMNIST/raw/...``)."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    return (checkout_root() or Path.cwd()) / "data"
