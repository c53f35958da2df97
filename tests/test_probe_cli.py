"""Tests for ``python -m ssl_core.probe``: the report files, their protocols, the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_core.data import load_fashion_mnist
from ssl_core.eval import extract_features, knn_accuracy
from ssl_core.probe import main
from ssl_core.train import TrainConfig, Trainer

QUICK = ["--limit-train", "400", "--limit-test", "200", "--labels-per-class", "5",
         "--max-iter", "50"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ck") / "simclr-tiny"
    cfg = TrainConfig(method="simclr", steps=3, batch_size=8, limit_images=64,
                      backbone_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2},
                      method_config={"proj_hidden_dim": 32, "proj_out_dim": 16},
                      out_dir=str(out))
    Trainer(cfg).run()
    return out


def test_probe_writes_json_and_markdown_with_protocols(checkpoint: Path, tmp_path: Path,
                                                       capsys) -> None:
    assert main(["--checkpoint", str(checkpoint), "--baselines", "--out", str(tmp_path),
                 *QUICK]) == 0
    report = json.loads((tmp_path / "probe-simclr-tiny.json").read_text())
    markdown = (tmp_path / "probe-simclr-tiny.md").read_text()
    assert markdown in capsys.readouterr().out

    assert report["method"] == "simclr" and report["step"] == 3
    assert report["evaluation"]["n_train"] == 400 and report["evaluation"]["n_test"] == 200
    assert [row["kind"] for row in report["rows"]] == ["pretrained", "random_init", "raw_pixels"]
    assert report["rows"][0]["feature_dim"] == 32 and report["rows"][2]["feature_dim"] == 784
    for row in report["rows"]:
        assert list(row["results"]) == ["knn_k200", "knn_k20", "linear_all", "linear_5pc"]
        for result in row["results"].values():  # every number carries its protocol
            assert 0.0 <= result["value"] <= 1.0
            assert "200 test images" in result["protocol"]
    results = report["rows"][0]["results"]
    assert "k=200 nearest of 400" in results["knn_k200"]["protocol"]
    assert "exp(sim/0.1)" in results["knn_k20"]["protocol"]
    assert "multinomial logistic regression" in results["linear_all"]["protocol"]
    assert "50 train labels (5/class" in results["linear_5pc"]["protocol"]

    header = "| encoder | kNN k=200 T=0.1 | kNN k=20 T=0.1 | linear, all 400 labels | " \
             "linear, 50 labels (5/class) |"
    assert header in markdown
    assert "| raw pixels |" in markdown and "random init" in markdown
    assert "Protocols:" in markdown and "Pretrained minus random init" in markdown
    for row in report["rows"]:  # the table shows the JSON's numbers
        cells = " | ".join(f"{100 * r['value']:.1f}%" for r in row["results"].values())
        assert f"| {row['encoder']} | {cells} |" in markdown


def test_probe_numbers_match_a_direct_computation(checkpoint: Path, tmp_path: Path) -> None:
    """The kNN column equals evaluate.knn_accuracy on the same subsets (the raw-pixel row)."""
    assert main(["--checkpoint", str(checkpoint), "--baselines", "--out", str(tmp_path),
                 *QUICK]) == 0
    report = json.loads((tmp_path / "probe-simclr-tiny.json").read_text())
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    keep_train = np.sort(np.random.default_rng(0).permutation(len(train))[:400])
    keep_test = np.sort(np.random.default_rng(0).permutation(len(test))[:200])
    x = torch.from_numpy(train.images[keep_train]).float().div(255).flatten(1)
    q = torch.from_numpy(test.images[keep_test]).float().div(255).flatten(1)
    want = knn_accuracy(x, train.labels[keep_train], q, test.labels[keep_test], k=20,
                        temperature=0.1)
    assert report["rows"][2]["results"]["knn_k20"]["value"] == pytest.approx(want)

    from ssl_core.checkpoints import load_encoder

    feats, labels = extract_features(load_encoder(checkpoint),
                                     (train.images[keep_train], train.labels[keep_train]))
    qfeats, qlabels = extract_features(load_encoder(checkpoint),
                                       (test.images[keep_test], test.labels[keep_test]))
    want = knn_accuracy(feats, labels, qfeats, qlabels, k=200, temperature=0.1)
    assert report["rows"][0]["results"]["knn_k200"]["value"] == pytest.approx(want)


def test_probe_without_baselines_has_one_row(checkpoint: Path, tmp_path: Path) -> None:
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path), *QUICK]) == 0
    report = json.loads((tmp_path / "probe-simclr-tiny.json").read_text())
    assert [row["kind"] for row in report["rows"]] == ["pretrained"]
    assert "Pretrained minus random init" not in (tmp_path / "probe-simclr-tiny.md").read_text()


def test_probe_errors_are_one_line(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope"
    assert main(["--checkpoint", str(missing), "--out", str(tmp_path), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and str(missing) in err and "Traceback" not in err
    (tmp_path / "pickle").mkdir()
    (tmp_path / "pickle" / "model.pt").write_bytes(b"\x80\x04")
    assert main(["--checkpoint", str(tmp_path / "pickle" / "model.pt"), *QUICK]) == 2
    assert "pickles" in capsys.readouterr().err


def test_finetune_adds_fine_tuned_and_scratch_runs_on_the_same_labels(checkpoint: Path,
                                                                       tmp_path: Path) -> None:
    assert main(["--checkpoint", str(checkpoint), "--finetune", "--finetune-epochs", "1",
                 "--out", str(tmp_path), *QUICK]) == 0
    report = json.loads((tmp_path / "probe-simclr-tiny.json").read_text())
    tuned = report["finetune"]
    assert tuned["n_labels"] == 50  # 5 per class of the 400 train images
    for run in ("fine_tuned", "scratch"):
        assert 0.0 <= tuned[run]["accuracy"] <= 1.0
    assert tuned["gain"] == pytest.approx(tuned["fine_tuned"]["accuracy"]
                                          - tuned["scratch"]["accuracy"])
    assert "fine-tuned end to end from pretrained weights" in tuned["protocol"]["fine_tuned"]
    assert "supervised from scratch" in tuned["protocol"]["scratch"]
    assert "50 labelled images for 1 epochs" in tuned["protocol"]["fine_tuned"]
    markdown = (tmp_path / "probe-simclr-tiny.md").read_text()
    assert "## End-to-end fine-tuning on 50 labels" in markdown
    assert f"{100 * tuned['gain']:+.1f} points" in markdown


def test_protocol_full_turns_on_the_whole_protocol() -> None:
    from ssl_core.probe import build_parser, expand_protocol

    full = expand_protocol(build_parser().parse_args(["--checkpoint", "x", "--protocol", "full"]))
    assert (full.data, full.baselines, full.finetune) == ("full", True, True)
    custom = expand_protocol(build_parser().parse_args(["--checkpoint", "x"]))
    assert (custom.data, custom.baselines, custom.finetune) == ("bundled", False, False)
