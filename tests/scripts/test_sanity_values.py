from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sanity_values_script_runs_from_a_plain_checkout():
    """`python3 scripts/sanity_values.py` (the command the closing notes quote) must work without
    installing the package, and print the lesson's values."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sanity_values.py")],
        cwd=ROOT / "scripts", capture_output=True, text=True, timeout=300, check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "identical pairs (N=256, D=128, tau=0.05)" in out
    assert "log(2N-1) = 3.4340" in out
    for tau in ("0.05", "0.1", "0.2", "0.5"):
        assert f"tau={tau}" in out
