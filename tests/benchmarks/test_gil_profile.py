"""benchmarks/gil_profile.py: the summary of py-spy's raw stacks that docs/PERFORMANCE.md quotes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import gil_profile  # noqa: E402

RUNNER = ("thread (1): ScriptRunner.scriptThread;Thread.run (threading.py:982);"
          "ScriptRunner._run_script (streamlit/runtime/scriptrunner/script_runner.py:961)")
RAW = "\n".join([
    # a page's work: the last <module> frame of pages/*.py names it (app/main.py does not)
    f"{RUNNER};<module> (app/main.py:53);<module> (embeddings.py:160);"
    "projection (embeddings.py:61);optimize_layout_euclidean (umap/layouts.py:401) 6",
    f"{RUNNER};<module> (app/main.py:53);<module> (home.py:12);markdown (st.py:1) 1",
    # Streamlit's own work after the page
    f"{RUNNER};ScriptRunner._on_script_finished "
    "(streamlit/runtime/scriptrunner/script_runner.py:1055) 2",
    # the server's main thread (the load test runs Streamlit in-process)
    "thread (2): MainThread;<module> (load_test.py:845);serve (load_test.py:131) 1",
])


def test_summary_attributes_gil_samples_to_pages_and_threads(tmp_path, capsys):
    raw = tmp_path / "raw.txt"
    raw.write_text(RAW + "\n")
    gil_profile.summarise(raw, possible=20)
    out = capsys.readouterr().out
    assert "GIL held in 10 of 20 samples (50% of the time)" in out
    assert "60.0%  page embeddings" in out
    assert "10.0%  page home" in out
    assert "20.0%  Streamlit's script runner (outside the page)" in out
    assert "10.0%  the server's main thread" in out
    assert "page main" not in out and "page load_test" not in out
    assert "optimize_layout_euclidean" in out  # where the largest page spends it
