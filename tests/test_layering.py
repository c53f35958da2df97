from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ssl_core_never_imports_streamlit_or_plotly():
    """Import every ssl_core module in a fresh interpreter: the library must stay usable (and
    testable) without the app's UI packages."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import ssl_core\n"
        "for m in pkgutil.walk_packages(ssl_core.__path__, 'ssl_core.'):\n"
        "    if m.name not in ('ssl_core.pretrain', 'ssl_core.probe'):\n"
        "        importlib.import_module(m.name)\n"
        "import ssl_core.pretrain, ssl_core.probe\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('streamlit', 'plotly'))\n"
        "print(len([n for n in sys.modules if n.startswith('ssl_core')]), bad)\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    count = int(out.stdout.split()[0])
    assert count > 20  # the walk really imported the package's modules
