"""Tests for ``lesson.experiments.label_efficiency``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesson.experiments import label_efficiency, probe_table
from ssl_core.train import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = dict(limit_train=1500, limit_test=300, max_iter=30)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpts")
    cfg = TrainConfig(method="simclr", steps=2, batch_size=8, limit_images=32,
                      backbone_kwargs={"depth": 1, "embed_dim": 16, "num_heads": 2},
                      method_config={"proj_hidden_dim": 16, "proj_out_dim": 8},
                      out_dir=str(root / "tiny"))
    Trainer(cfg).run()
    return root


@pytest.mark.slow
def test_curves_cover_every_encoder_and_agree_with_the_probe_table(checkpoints: Path,
                                                                   tmp_path: Path) -> None:
    table = probe_table.run(checkpoints_dir=checkpoints, cache_dir=tmp_path, **QUICK)
    result = label_efficiency.run(checkpoints_dir=checkpoints, budgets=(1, 10), seeds=(0, 1, 2),
                                  cache_dir=tmp_path, **QUICK)
    assert result["labels_per_class"] == [1, 10, 150]  # 1,500 images / 10 classes
    assert [c["name"] for c in result["curves"]] == [r["name"] for r in table["rows"]]
    for curve, row in zip(result["curves"], table["rows"], strict=True):
        assert len(curve["accuracy"]) == len(curve["std"]) == 3
        assert [len(runs) for runs in curve["runs"]] == [3, 3, 1]
        assert curve["n_train"][:2] == [10, 100]
        assert all(0.0 <= a <= 1.0 for a in curve["accuracy"]) and curve["std"][2] == 0.0
        # "all labels", seed 0, same solver and features: the probe table's linear_all
        assert curve["accuracy"][2] == pytest.approx(row["linear_all"])
    assert "seeds [0, 1, 2]" in result["protocol"] and "300 test images" in result["protocol"]


def test_features_are_extracted_when_no_cache(checkpoints: Path) -> None:
    result = label_efficiency.run(checkpoints_dir=checkpoints, budgets=(2,), seeds=(0,),
                                  cache_dir=None, **QUICK)
    assert len(result["curves"]) == 3 and result["curves"][0]["n_train"][0] == 20


def test_bad_arguments_fail_fast(checkpoints: Path) -> None:
    with pytest.raises(ValueError, match="increasing positive labels per class"):
        label_efficiency.run(checkpoints_dir=checkpoints, budgets=(10, 1), **QUICK)
    with pytest.raises(ValueError, match="at least one seed"):
        label_efficiency.run(checkpoints_dir=checkpoints, seeds=(), **QUICK)
    with pytest.raises(ValueError, match="exceeds the smallest class"):
        label_efficiency.run(checkpoints_dir=checkpoints, budgets=(1, 1000), cache_dir=None,
                             **QUICK)


def test_main_writes_the_result(checkpoints: Path, tmp_path: Path) -> None:
    args = ["--checkpoints", str(checkpoints), "--budgets", "1", "--seeds", "0", "1",
            "--limit-train", "1500", "--limit-test", "300", "--max-iter", "10",
            "--cache-dir", "", "--results-dir", str(tmp_path)]
    assert label_efficiency.main(args) == 0
    saved = json.loads((tmp_path / "label_efficiency.json").read_text())
    assert saved["labels_per_class"] == [1, 150] and saved["seeds"] == [0, 1]
    assert saved["provenance"]["wall_time_s"] > 0
    assert label_efficiency.main(["--checkpoints", str(tmp_path / "none"),
                                  "--results-dir", str(tmp_path)]) == 2
