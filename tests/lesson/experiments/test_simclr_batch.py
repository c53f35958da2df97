"""SimCLR batch 32 vs 512 (lesson.experiments.simclr_batch) on tiny budgets."""

from __future__ import annotations

import json

import pytest

from lesson.experiments import simclr_batch
from lesson.experiments.simclr_batch import eval_points, finding, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(images_seen=64, batch_sizes=(8, 32), n_points=3, knn_train=200, knn_test=50,
            limit_images=128)


@pytest.fixture(scope="module")
def tiny_result():
    return run(**TINY)


@pytest.mark.slow
def test_same_images_seen_and_linear_lr_scaling(tiny_result):
    runs = tiny_result["runs"]
    assert [r["batch_size"] for r in runs] == [8, 32]
    assert [r["steps"] for r in runs] == [8, 2]
    assert [r["lr"] for r in runs] == pytest.approx([1e-3 * 8 / 256, 1e-3 * 32 / 256])
    for r in runs:
        assert [p["images_seen"] for p in r["curve"]] == [0, 32, 64]
        assert [p["step"] for p in r["curve"]] == [0, r["steps"] // 2, r["steps"]]
        assert all(0.0 <= p[k] <= 1.0 for p in r["curve"] for k in ("knn_k200", "knn_k20"))
        assert r["wall_time_s"] > 0
    assert tiny_result["images_seen"] == 64
    assert tiny_result["knn"] == {"bank_images": 200, "query_images": 50, "temperature": 0.1}


@pytest.mark.slow
def test_both_runs_start_from_the_same_encoder_and_then_diverge(tiny_result):
    first, second = (r["curve"] for r in tiny_result["runs"])
    assert first[0]["knn_k20"] == second[0]["knn_k20"]  # step 0: same seed, same init
    assert first[0]["knn_k200"] == second[0]["knn_k200"]
    assert first[0]["loss"] is None and first[-1]["loss"] > 0
    assert (first[-1]["knn_k20"], first[-1]["knn_k200"]) != (first[0]["knn_k20"],
                                                             first[0]["knn_k200"])


def test_finding_is_computed_from_the_numbers(tiny_result):
    text = tiny_result["finding"]
    last = tiny_result["runs"][0]["curve"][-1]
    assert f"{100 * last['knn_k200']:.1f}% at batch 8" in text


def _runs(small: tuple[float, float], large: tuple[float, float],
          start: tuple[float, float] = (0.5, 0.5)) -> list[dict]:
    def one(batch, steps, acc):
        return {"batch_size": batch, "steps": steps,
                "curve": [{"images_seen": 0, "knn_k200": start[0], "knn_k20": start[1]},
                          {"images_seen": 1024, "knn_k200": acc[0], "knn_k20": acc[1]}]}

    return [one(32, 32, small), one(512, 2, large)]


@pytest.mark.parametrize(
    ("small", "large", "expected"),
    [
        ((0.52, 0.53), (0.70, 0.71), "batch 32 fails at this budget"),
        ((0.66, 0.67), (0.70, 0.71), "batch 32 does NOT fail: it gets 80% of"),
        ((0.70, 0.71), (0.60, 0.62), "batch 32 is NOT worse"),
        ((0.700, 0.710), (0.703, 0.705), "within 1 point"),
        ((0.60, 0.75), (0.70, 0.65), "disagree"),
    ],
)
def test_finding_verdicts(small, large, expected):
    text = finding(_runs(small, large))
    assert expected in text
    assert f"{100 * small[0]:.1f}% at batch 32 (32 steps)" in text
    assert f"batch 32 gains {100 * (small[0] - 0.5):+.1f} points" in text
    if "NOT" in text:
        assert "16x more optimizer steps" in text
    assert "standard error" not in text


def test_finding_states_the_noise_level():
    text = finding(_runs((0.66, 0.67), (0.70, 0.71)), n_queries=2000)
    # p = 0.68: sqrt(0.68 * 0.32 / 2000) = 0.0104
    assert "2,000 test queries" in text and "about 1.0 points" in text


def test_eval_points():
    assert eval_points(200, 9) == [0, 25, 50, 75, 100, 125, 150, 175, 200]
    assert eval_points(3200, 9)[1] == 400
    assert eval_points(2, 9) == [0, 1, 2]
    with pytest.raises(ValueError, match="n_points must be >= 2"):
        eval_points(10, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images_seen": 100, "batch_sizes": (32,)}, "not a multiple of batch size 32"),
        ({"batch_sizes": (1,)}, "ints >= 2"),
        ({"batch_sizes": ()}, "batch_sizes is empty"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(**kwargs)
    with pytest.raises(ValueError, match="two different batch sizes"):
        finding(_runs((0.5, 0.5), (0.5, 0.5))[:1])


@pytest.mark.slow
def test_main_writes_the_result(tmp_path, capsys):
    code = simclr_batch.main(["--images-seen", "32", "--batch-sizes", "8", "16", "--points", "2",
                              "--knn-train", "100", "--knn-test", "20", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "simclr_batch.json").read_text())
    assert data["complete"] is True and data["images_seen"] == 32
    assert [r["batch_size"] for r in data["runs"]] == [8, 16]
    assert data["finding"] and data["claim"].startswith("SimCLR works at batch 512")
    assert data["provenance"]["wall_time_s"] > 0
    assert data["finding"] in capsys.readouterr().out
    assert simclr_batch.main(["--images-seen", "30", "--out", str(tmp_path / "bad")]) == 2


def test_refresh_finding_recomputes_the_text_only(tmp_path, capsys):
    from lesson.results import save_result

    runs = _runs((0.66, 0.67), (0.70, 0.71))
    save_result("simclr_batch", {"images_seen": 1024, "runs": runs, "finding": "old text",
                                 "knn": {"query_images": 2000}},
                command="measure", directory=tmp_path)
    assert simclr_batch.main(["--refresh-finding", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "simclr_batch.json").read_text())
    assert data["finding"] == finding(runs, n_queries=2000) != "old text"
    assert data["runs"] == runs and data["measured_by"]["command"] == "measure"
    assert "--refresh-finding" in data["provenance"]["command"]
    assert simclr_batch.main(["--refresh-finding", "--out", str(tmp_path / "none")]) == 2
    assert "cannot refresh" in capsys.readouterr().err
