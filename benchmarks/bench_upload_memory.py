"""Memory: how much does decoding one hostile upload raise the server's peak RSS?

    python3 benchmarks/bench_upload_memory.py [--side 6300] [--limit-mb 300] [--json out.json]

Writes a ``side`` x ``side`` RGBA PNG (noise in one corner, the rest flat: it compresses to a
small file, as a student's upload would, and stays under the upload pixel cap at 6300), then,
in a fresh interpreter per way of decoding, imports the app's upload path, reads its peak RSS
(``ru_maxrss``: the idle figure), decodes the file and reads the peak again. Ways:

- ``app``: ``app.widgets.decode_upload`` as the app calls it (shrunk while decoding);
- ``full``: ``ssl_core.data.decode_image`` at full size, then ``fit_within`` (how uploads were
  decoded before: a full-size float32 copy for the alpha blend).

Prints each way's idle and peak RSS and the difference; exits 1 when the app's way rises more
than ``--limit-mb`` above idle.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import resource, sys, json
sys.path.insert(0, {root!r})
import numpy as np
from app.widgets import MAX_SIDE, decode_upload
from ssl_core.data import decode_image
from ssl_core.images import fit_within
data = open({path!r}, "rb").read()
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
if {way!r} == "app":
    image = decode_upload(data)
else:
    image = fit_within(decode_image(data, max_pixels=40_000_000), MAX_SIDE)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(idle_mb=idle, peak_mb=peak, shape=list(image.shape))))
"""


def write_png(path: Path, side: int) -> int:
    """A ``side`` x ``side`` RGBA PNG, written by a child (so this process stays small)."""
    code = (
        "import numpy as np, sys\nfrom PIL import Image\n"
        f"a = np.full(({side}, {side}, 4), 200, np.uint8)\n"
        "a[:64, :64] = np.random.default_rng(0).integers(0, 255, (64, 64, 4), dtype=np.uint8)\n"
        f"Image.fromarray(a, 'RGBA').save({str(path)!r}, optimize=True)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return path.stat().st_size


def measure(path: Path, way: str) -> dict:
    code = CHILD.format(root=str(ROOT), path=str(path), way=way)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=6300)
    parser.add_argument("--limit-mb", type=float, default=300.0)
    parser.add_argument("--ways", nargs="+", default=["app", "full"], choices=["app", "full"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.png"
        size = write_png(path, args.side)
        print(f"{args.side} x {args.side} RGBA PNG, {size / 1024:.0f} KB")
        rows = {way: measure(path, way) for way in args.ways}
    for way, row in rows.items():
        row["rise_mb"] = row["peak_mb"] - row["idle_mb"]
        print(f"{way:>5}: idle {row['idle_mb']:7.0f} MB  peak {row['peak_mb']:7.0f} MB  "
              f"rise {row['rise_mb']:7.0f} MB  -> {tuple(row['shape'])}")
    if args.json:
        args.json.write_text(json.dumps(dict(side=args.side, png_bytes=size, ways=rows),
                                        indent=2))
    if "app" in rows and rows["app"]["rise_mb"] > args.limit_mb:
        print(f"FAIL: the app's decode rose {rows['app']['rise_mb']:.0f} MB above idle "
              f"(limit {args.limit_mb:g} MB)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
