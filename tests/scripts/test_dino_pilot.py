"""scripts/dino_pilot.py: pretrain's recipe options, a few steps, diagnostics, then kNN."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("dino_pilot", ROOT / "scripts" / "dino_pilot.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["dino_pilot"] = module
    spec.loader.exec_module(module)
    return module


def test_pilot_prints_diagnostics_and_knn(capsys):
    from ssl_core.data import load_fashion_mnist

    try:
        load_fashion_mnist("test", source="full")
    except Exception as error:  # noqa: BLE001 - the full split is a Debian package
        pytest.skip(f"full Fashion-MNIST not installed: {error}")
    pilot = _load()
    assert pilot.main(["--backbone", "cnn_small_28", "--steps", "3", "--batch-size", "8",
                       "--pilot-steps", "2", "--every", "1", "--bank", "200", "--test", "50",
                       "--method-config", "out_dim=32", "freeze_last_layer_epochs=1",
                       "--augment", "n_local=0"]) == 0
    out = capsys.readouterr().out
    assert "3 steps in the full run" in out and "piloting 2; ln K = 3.466" in out
    assert "step     1 " in out and "step     2 " in out and "teacher entropy" in out
    assert "kNN k=20 " in out and "(200 train bank, 50 test images)" in out
