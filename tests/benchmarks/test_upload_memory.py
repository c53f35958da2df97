"""benchmarks/bench_upload_memory.py: a 6300 x 6300 RGBA upload is shrunk while it is decoded,
so the server's peak memory rises far less than the 2 GB of a full-size float copy (issue 16,
item 3). The bound is loose: the benchmark's figure is in docs/PERFORMANCE.md."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_upload_memory  # noqa: E402

from app.widgets import decode_upload  # noqa: E402
from ssl_core.data import decode_image  # noqa: E402
from ssl_core.images import fit_within  # noqa: E402

LIMIT_MB = 300


@pytest.mark.slow  # decodes a 40 M-pixel PNG in a child process: seconds, not the quick loop
def test_a_6300_pixel_rgba_upload_peaks_under_the_limit(tmp_path):
    path = tmp_path / "upload.png"
    bench_upload_memory.write_png(path, 6300)
    row = bench_upload_memory.measure(path, "app")
    assert row["shape"] == [512, 512, 3]
    assert row["peak_mb"] - row["idle_mb"] < LIMIT_MB, row


def _png(array: np.ndarray, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, "PNG")
    return buffer.getvalue()


def test_shrinking_while_decoding_matches_shrinking_after():
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 255, (40, 30, 4), dtype=np.uint8),
                     np.ones((50, 50, 1), dtype=np.uint8))  # 2000 x 1500 RGBA, in blocks
    smooth[..., 3] = np.maximum(smooth[..., 3], 128)
    data = _png(smooth, "RGBA")
    after = fit_within(decode_image(data), 512).astype(int)
    during = decode_upload(data).astype(int)
    assert during.shape == after.shape == (512, 384, 3)
    assert np.median(np.abs(during - after)) <= 2
    gray = _png(np.kron(rng.integers(0, 255, (20, 20), dtype=np.uint8),
                        np.ones((100, 100), dtype=np.uint8)), "L")
    assert decode_upload(gray).shape == (512, 512)
