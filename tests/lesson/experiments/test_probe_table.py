"""Tests for ``lesson.experiments.probe_table`` (and the shared ``_features`` plumbing)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lesson.experiments import probing as _features
from lesson.experiments.probe_table import main, run, targets_met
from ssl_core.data import load_fashion_mnist
from ssl_core.eval import extract_features, knn_accuracy
from ssl_core.train import TrainConfig, Trainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = dict(limit_train=1500, limit_test=300, max_iter=30)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one tiny Fashion-MNIST SimCLR checkpoint and one RGB 'checkpoint'."""
    root = tmp_path_factory.mktemp("ckpts")
    cfg = TrainConfig(method="simclr", steps=2, batch_size=8, limit_images=32,
                      backbone_kwargs={"depth": 1, "embed_dim": 16, "num_heads": 2},
                      method_config={"proj_hidden_dim": 16, "proj_out_dim": 8},
                      out_dir=str(root / "tiny"))
    Trainer(cfg).run()
    rgb = root / "rgb"  # same files, but config.json says 3 x 64 x 64: must be skipped
    shutil.copytree(root / "tiny", rgb)
    config = json.loads((rgb / "config.json").read_text())
    config["backbone_kwargs"] |= {"in_chans": 3, "img_size": [64, 64]}
    (rgb / "config.json").write_text(json.dumps(config))
    (root / "notes").mkdir()  # not a checkpoint: ignored
    return root


def test_only_gray_28px_checkpoints_are_probed(checkpoints: Path) -> None:
    entries = _features.fashion_encoders(checkpoints)
    assert [(e.name, e.kind) for e in entries] == [
        ("tiny", "ssl"), ("tiny_random", "random"), ("raw_pixels", "raw")]
    with pytest.raises(ValueError, match="no Fashion-MNIST checkpoint named \\['rgb'\\]"):
        _features.fashion_encoders(checkpoints, names=["rgb"])


@pytest.mark.slow
def test_run_measures_every_row_with_the_probe_protocol(checkpoints: Path,
                                                        tmp_path: Path) -> None:
    result = run(checkpoints_dir=checkpoints, cache_dir=tmp_path, **QUICK)
    rows = result["rows"]
    assert [r["kind"] for r in rows] == ["ssl", "random", "raw"]
    for row in rows:
        for key in ("knn_k200", "knn_k20", "linear_all", "linear_1000"):
            assert 0.0 <= row[key] <= 1.0
    ssl = rows[0]
    assert ssl["steps"] == 2 and ssl["batch_size"] == 8 and ssl["train_wall_time_s"] > 0
    assert rows[1]["of"] == "tiny" and rows[2]["feature_dim"] == 784
    assert "k=200 nearest of 1,500" in result["protocol"]["knn_k200"]
    assert "1,000 train labels (100/class" in result["protocol"]["linear_1000"]

    # the raw-pixel kNN equals a direct computation on the same subsets
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    keep_train = np.sort(np.random.default_rng(0).permutation(len(train))[:1500])
    keep_test = np.sort(np.random.default_rng(0).permutation(len(test))[:300])
    x = train.images[keep_train].reshape(1500, -1) / 255.0
    q = test.images[keep_test].reshape(300, -1) / 255.0
    want = knn_accuracy(x, train.labels[keep_train], q, test.labels[keep_test], k=20,
                        temperature=0.1)
    assert rows[2]["knn_k20"] == pytest.approx(want)

    # features were cached, and they are the encoder's features
    data = _features.load_probe_data(**{k: QUICK[k] for k in ("limit_train", "limit_test")})
    entry = _features.fashion_encoders(checkpoints)[0]
    cached = _features._read_cache(entry, data, tmp_path)
    assert cached is not None
    direct, _ = extract_features(entry.build(), (data.test[0][:20], data.test[1][:20]))
    np.testing.assert_allclose(cached[2][:20], direct, rtol=1e-4, atol=1e-5)

    # a second run replays the cache (the encoder is never built) and measures the same
    assert not any(row["features_from_cache"] for row in rows)
    again = run(checkpoints_dir=checkpoints, cache_dir=tmp_path, **QUICK)["rows"]
    assert all(row["features_from_cache"] for row in again)
    for first, second in zip(rows, again, strict=True):
        for key in ("knn_k200", "knn_k20", "linear_all", "linear_1000"):
            assert first[key] == second[key]

    def no_build() -> None:
        raise AssertionError("the encoder was built although its features are cached")

    replayed = _features.evaluate_entry(dataclasses.replace(entry, build=no_build), data,
                                        labels_per_class=100, max_iter=30, cache_dir=tmp_path)
    assert replayed["results"]["knn_k200"]["value"] == ssl["knn_k200"]
    shifted = _features._Replay(np.roll(data.train[0], 1, axis=0), cached[0])
    with pytest.raises(_features._ReplayMismatch):
        extract_features(shifted, data.train)

    targets = result["targets"]
    check = targets["beats_random"]["checkpoints"][0]
    assert check["beats_random"] == (ssl["knn_k200"] > rows[1]["knn_k200"]
                                     and ssl["linear_all"] > rows[1]["linear_all"])
    assert targets["best_knn_k200"]["best"] == ssl["knn_k200"]


def test_targets_met_reads_the_numbers() -> None:
    rows = [
        {"name": "a", "kind": "ssl", "knn_k200": 0.86, "linear_all": 0.89},
        {"name": "a_random", "kind": "random", "of": "a", "knn_k200": 0.5, "linear_all": 0.7},
        {"name": "b", "kind": "ssl", "knn_k200": 0.6, "linear_all": 0.8},
        {"name": "b_random", "kind": "random", "of": "b", "knn_k200": 0.61, "linear_all": 0.7},
    ]
    out = targets_met(rows)
    assert out["best_knn_k200"] == {"met": True, "threshold": 0.85, "best": 0.86,
                                    "best_name": "a"}
    assert out["best_linear_all"]["met"] is True
    assert [c["beats_random"] for c in out["beats_random"]["checkpoints"]] == [True, False]
    assert out["beats_random"]["met"] is False and out["all_met"] is False
    rows[3]["knn_k200"] = 0.59
    assert targets_met(rows)["all_met"] is True


def test_main_writes_the_result_and_fails_in_one_line(checkpoints: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    args = ["--checkpoints", str(checkpoints), "--limit-train", "1500", "--limit-test", "300",
            "--max-iter", "10", "--cache-dir", "", "--results-dir", str(tmp_path)]
    assert main(args) == 0
    saved = json.loads((tmp_path / "probe_table.json").read_text())
    assert saved["provenance"]["command"].startswith(
        "python3 -m lesson.experiments.probe_table --checkpoints")
    assert len(saved["rows"]) == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--checkpoints", str(empty), "--results-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint with a 1-channel 28x28 backbone" in err and "Traceback" not in err
    assert not (tmp_path / "x" / "probe_table.json").exists()
