"""benchmarks/bench_train_throughput.py: its options, the per-image batches its before row times,
and (with lightly installed) the lightly step it compares against."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_train_throughput as bench  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

needs_lightly = pytest.mark.skipif(
    not bench.lightly_available(),
    reason=f"lightly is an optional benchmark dependency, not installed ({bench.LIGHTLY_INSTALL})")


def test_views_and_lightly_options() -> None:
    parser = bench.build_parser()
    default = parser.parse_args([])
    assert default.views == ["batched"] and not default.compare_lightly
    assert default.clock == "wall"
    both = parser.parse_args(["--views", "batched", "per-image", "--compare-lightly",
                              "--clock", "cpu"])
    assert both.views == ["batched", "per-image"] and both.compare_lightly
    assert bench.CLOCKS[both.clock] is time.process_time
    with pytest.raises(SystemExit):
        parser.parse_args(["--views", "per-batch"])


def test_rates_split_a_step_into_views_and_model() -> None:
    # medians: step 1.0 s, views 0.25 s -> the model takes the other 0.75 s
    r = bench.rates(64, [0.5, 1.0, 2.0], [0.1, 0.25, 0.5])
    assert r["end_to_end"] == pytest.approx(64.0)
    assert r["views"] == pytest.approx(256.0)
    assert r["model"] == pytest.approx(64 / 0.75)


class _FakeTrainer:
    """Records the config and yields three steps of 0.5 s without training anything."""

    configs: list = []

    def __init__(self, config) -> None:
        self.configs.append(config)
        self.batches = [None] * config.steps

    def steps(self):
        for step in range(1, self.config_steps() + 1):
            yield {"step": step, "step_time_s": 0.5}

    def config_steps(self) -> int:
        return self.configs[-1].steps


def test_measure_builds_the_trainer_with_the_view_path(monkeypatch) -> None:
    monkeypatch.setattr(bench, "Trainer", _FakeTrainer)
    _FakeTrainer.configs = []
    r = bench.measure("dino", "vit_tiny_p4_28", batch_size=8, steps=2, views="per-image")
    (config,) = _FakeTrainer.configs
    assert (config.views, config.method, config.batch_size, config.steps) == (
        "per-image", "dino", 8, 3)  # 2 timed steps after 1 warm-up
    assert r["end_to_end"] == pytest.approx(16.0)  # 8 images / 0.5 s


def test_without_lightly_the_comparison_says_so_and_prints_our_rows(monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench, "lightly_available", lambda: False)
    monkeypatch.setattr(bench, "measure", lambda *a, **k: {"end_to_end": 1.0, "views": 2.0,
                                                          "model": 3.0})
    monkeypatch.setattr(sys, "argv", ["bench", "--methods", "simclr", "--backbones",
                                      "cnn_small_28", "--views", "batched", "per-image",
                                      "--compare-lightly"])
    bench.main()
    out = capsys.readouterr().out
    assert "lightly is not installed" in out and bench.LIGHTLY_INSTALL in out
    rows = [line.split() for line in out.splitlines() if line.split()[1:2] == ["simclr"]]
    assert [row[:4] for row in rows] == [["ours", "simclr", "cnn_small_28", "batched"],
                                         ["ours", "simclr", "cnn_small_28", "per-image"]]


def _changed(before, module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))


def _structure(batch):
    return [(tuple(v.shape), v.dtype) for v in batch]


@pytest.mark.parametrize("method", ["simclr", "dino"])
def test_per_image_row_makes_the_batched_rows_batch_one_image_at_a_time(method: str) -> None:
    from ssl_core.train import TrainConfig, Trainer

    runs = {path: Trainer(TrainConfig(method=method, backbone="vit_tiny_p4_28", steps=1,
                                      batch_size=4, views=path))
            for path in bench.VIEW_PATHS}
    assert runs["per-image"].batches.batch_views is None  # the v2 pipeline, image by image
    assert runs["batched"].batches.batch_views is not None
    batches = {path: run.batches[0] for path, run in runs.items()}
    assert type(batches["per-image"]) is type(batches["batched"])  # tuple (SimCLR), list (DINO)
    assert _structure(batches["per-image"]) == _structure(batches["batched"])
    for view in batches["per-image"]:
        assert 0.0 <= float(view.min()) and float(view.max()) <= 1.0


@needs_lightly
@pytest.mark.parametrize("method", ["simclr", "dino"])
def test_lightly_views_have_our_views_shapes(method: str) -> None:
    from ssl_core.train import TrainConfig, Trainer

    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    views = bench.lightly_batch(images, bench.lightly_transform(method, size=28))
    ours = Trainer(TrainConfig(method=method, backbone="vit_tiny_p4_28", steps=1,
                               batch_size=3)).batches[0]
    assert _structure(views) == _structure(ours)


@needs_lightly
@pytest.mark.parametrize("method", ["simclr", "dino"])
def test_lightly_step_trains_and_moves_the_teacher(method: str) -> None:
    torch.manual_seed(0)
    step = bench.LightlyStep(method, "vit_tiny_p4_28")
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    views = bench.lightly_batch(images, bench.lightly_transform(method, size=28))
    student = [p.detach().clone() for p in step.student.parameters()]
    teacher = (None if step.teacher is None
               else [p.detach().clone() for p in step.teacher.parameters()])
    assert math.isfinite(step(views))
    assert _changed(student, step.student)
    if teacher is not None:  # the EMA pulled the teacher towards the student
        assert _changed(teacher, step.teacher)
        assert all(not p.requires_grad for p in step.teacher.parameters())
