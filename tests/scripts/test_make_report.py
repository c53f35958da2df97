"""Tests for ``scripts/make_report.py`` on a tmp results dir of tiny synthetic result files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lesson.results import save_result

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_report", ROOT / "scripts" /
                                                  "make_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(directory: Path) -> None:
    rows = [
        {"name": "simclr", "label": "SimCLR, cnn (30 steps)", "kind": "ssl", "backbone": "cnn",
         "knn_k200": 0.8123, "knn_k20": 0.8234, "linear_all": 0.8345, "linear_1000": 0.7456,
         "steps": 30, "batch_size": 16, "train_wall_time_s": 12.5, "command": "python3 -m x",
         "features_from_cache": True},
        {"name": "simclr_random", "label": "cnn random", "kind": "random", "backbone": "cnn",
         "of": "simclr", "knn_k200": 0.5011, "knn_k20": 0.5122, "linear_all": 0.6233,
         "linear_1000": 0.5344},
        {"name": "raw_pixels", "label": "raw pixels", "kind": "raw", "backbone": "none",
         "knn_k200": 0.7011, "knn_k20": 0.7122, "linear_all": 0.7233, "linear_1000": 0.7344},
    ]
    targets = {
        "beats_random": {"met": True, "checkpoints": [
            {"name": "simclr", "measured": True, "knn_k200": 0.8123, "random_knn_k200": 0.5011,
             "linear_all": 0.8345, "random_linear_all": 0.6233, "knn_gain": 0.3112,
             "linear_gain": 0.2112, "beats_random": True}]},
        "best_knn_k200": {"met": False, "threshold": 0.85, "best": 0.8123, "best_name": "simclr"},
        "best_linear_all": {"met": False, "threshold": 0.88, "best": 0.8345,
                            "best_name": "simclr"},
        "all_met": False,
    }
    save_result("probe_table", {"protocol": {"summary": "PROBE-PROTOCOL"}, "rows": rows,
                                "targets": targets, "few_labels_key": "linear_1000"},
                command="python3 -m lesson.experiments.probe_table", wall_time_s=61.0,
                directory=directory)
    save_result("label_efficiency", {
        "labels_per_class": [1, 10, 2000], "protocol": "LE-PROTOCOL",
        "curves": [{"name": "simclr", "label": "SimCLR", "kind": "ssl",
                    "accuracy": [0.4321, 0.6543, 0.8771], "std": [0.0412, 0.0111, 0.0]},
                   {"name": "raw_pixels", "label": "raw", "kind": "raw",
                    "accuracy": [0.3, 0.5, 0.7], "std": [0.05, 0.02, 0.0]}]},
        command="python3 -m lesson.experiments.label_efficiency", directory=directory)
    save_result("mae_ratio", {
        "ratios": [0.15, 0.75], "n_images": 40, "protocol": "MAE-PROTOCOL",
        "mae": {"checkpoint": "mae", "mse": [0.0467, 0.0541], "sem": [0.002, 0.003],
                "advantage": [-0.0174, 0.0149]},
        "interpolation": {"mse": [0.0293, 0.0690], "sem": [0.002, 0.004]},
        "explanation": "EXPLAINED-FROM-NUMBERS",
        "rgb": {"n_images": 8, "protocol": "RGB-PROTOCOL",
                "mae": {"checkpoint": "mae_rgb", "mse": [0.01, 0.02], "sem": [0.001, 0.001]},
                "interpolation": {"mse": [0.011, 0.031], "sem": [0.001, 0.002]}}},
        command="python3 -m lesson.experiments.mae_ratio", directory=directory)
    save_result("infonce_tau", {
        "taus": [0.05, 0.5],
        "synthetic": {"n": 16, "d": 32, "noise": 0.5, "seeds": 3, "aligned": [0.0123, 1.5],
                      "random": [7.8, 3.4]},
        "real": {"encoder": "simclr", "n_pairs": 64, "loss": [1.3255, 5.4486]}},
        command="python3 -m lesson.experiments.infonce_tau", directory=directory)
    save_result("simclr_batch", {
        "images_seen": 4096,
        "runs": [{"batch_size": 64, "steps": 64, "lr": 0.001, "wall_time_s": 30.0,
                  "curve": [{"step": 0, "images_seen": 0, "knn_k200": 0.5, "knn_k20": 0.55},
                            {"step": 64, "images_seen": 4096, "knn_k200": 0.6789,
                             "knn_k20": 0.7}]}]},
        command="python3 -m lesson.experiments.simclr_batch", directory=directory)
    save_result("dino_collapse", {
        "recipe": {"lr": 0.001}, "steps": 100,
        "variants": {"healthy": {"label": "healthy", "centering": True, "sharpening": True,
                                 "config": {}, "verdict": "no collapse", "teacher_histogram": [],
                                 "curve": [{"step": 0, "teacher_entropy": 6.9, "max_entropy": 6.93,
                                            "kl_teacher_student": 0.1, "output_std": 0.03,
                                            "dominant_dim_share": 0.01, "knn_k20": 0.61}]},
                     "neither": {"label": "neither", "centering": False, "sharpening": False,
                                 "config": {}, "verdict": "collapsed", "teacher_histogram": [],
                                 "curve": [{"step": 0, "teacher_entropy": 0.012,
                                            "max_entropy": 6.93, "kl_teacher_student": 0.0,
                                            "output_std": 0.0, "dominant_dim_share": 0.99}]}}},
        command="python3 -m lesson.experiments.dino_collapse", directory=directory)
    # hard_exercise: deliberately missing


@pytest.mark.slow
def test_report_shows_the_json_numbers_and_says_what_is_missing(report: ModuleType,
                                                               tmp_path: Path) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    _results(results)
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "hard_exercise.png").write_bytes(PNG)  # stale: its result is missing
    assert report.main(["--results-dir", str(results), "--out", str(out),
                        "--checkpoints", str(tmp_path / "no-checkpoints")]) == 0
    md = (out / "results.md").read_text()
    for text in ("81.2%", "82.3%", "83.5%", "74.6%", "50.1%", "PROBE-PROTOCOL",
                 "+31.1 points", "best SSL kNN k=200 >= 85%: 81.2% (`simclr`) -> **not met**",
                 "43.2% ± 4.1", "87.7%", "LE-PROTOCOL", "1 / class", "2000 / class",
                 "0.0467 ± 0.0020", "0.0690 ± 0.0040", "-0.0174", "EXPLAINED-FROM-NUMBERS",
                 "RGB-PROTOCOL", "0.0123", "5.4486", "67.9%", "0.012 / 6.930", "collapsed",
                 "Made by `python3 -m lesson.experiments.probe_table`; wall time 61 s",
                 "Not measured yet: run `python3 -m lesson.experiments.hard_exercise`.",
                 "No bundled checkpoints", "read from the feature cache of an earlier run",
                 "- `simclr`: `python3 -m x`"):
        assert text in md, text
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["dino_collapse.png", "infonce_tau.png", "label_efficiency.png",
                       "mae_ratio.png", "probe_table.png", "simclr_batch.png"]
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == PNG
        assert f"figures/{name}" in md


def test_every_result_missing_and_a_malformed_one(report: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "mae_ratio.json").write_text(json.dumps({"ratios": [0.5]}))
    report.main(["--results-dir", str(results), "--out", str(tmp_path / "out"),
                 "--checkpoints", str(tmp_path)])
    md = (tmp_path / "out" / "results.md").read_text()
    for name in ("probe_table", "label_efficiency", "infonce_tau", "simclr_batch",
                 "dino_collapse", "hard_exercise"):
        assert f"Not measured yet: run `python3 -m lesson.experiments.{name}`." in md
    assert "`mae_ratio.json` does not have the expected shape" in md
    assert "Not measured yet: run `OMP_NUM_THREADS=1 python3 -m ssl_core.probe" in md
    assert not any((tmp_path / "out" / "figures").iterdir())


def test_full_protocol_section_and_the_issue_floors(report: ModuleType, tmp_path: Path) -> None:
    probe = tmp_path / "out" / "probe-full"
    probe.mkdir(parents=True)

    def cells(knn: float, linear: float) -> dict:
        return {"knn_k200": {"column": "kNN k=200", "value": knn},
                "linear_all": {"column": "linear, all", "value": linear}}
    for name, knn, linear, tuned in (("simclr", 0.851, 0.889, 0.853), ("mae", 0.75, 0.84, 0.80)):
        (probe / f"probe-{name}.json").write_text(json.dumps({
            "name": name, "method": name, "backbone": "net", "step": 7,
            "evaluation": {"data": "FULL-DATA"}, "rows": [
                {"encoder": f"{name} net", "kind": "pretrained", "results": cells(knn, linear)},
                {"encoder": "raw pixels", "kind": "raw_pixels", "results": cells(0.788, 0.835)}],
            "finetune": {"n_labels": 1000, "fine_tuned": {"accuracy": tuned},
                         "scratch": {"accuracy": 0.78}}}))
    report.main(["--results-dir", str(tmp_path / "none"), "--out", str(tmp_path / "out"),
                 "--checkpoints", str(tmp_path)])
    md = (tmp_path / "out" / "results.md").read_text()
    for text in ("FULL-DATA", "| SimCLR · net, step 7 | 85.1% | 88.9% | 85.3% |",
                 "| raw pixels (no network) | 78.8% | 83.5% |  |",
                 "- SimCLR kNN k=200 >= 85%: 85.1% -> met",
                 "- MAE linear (all labels) >= raw pixels: 84.0% vs raw pixels 83.5% -> met",
                 "- MAE fine-tuned on 1,000 labels >= from scratch + 3 points: 80.0% vs from "
                 "scratch 78.0% -> **not met**",
                 "- DINO kNN k=200 >= raw pixels + 3 points: not measured vs raw pixels 78.8% "
                 "-> not measured"):
        assert text in md, text


def test_checkpoint_table_comes_from_config_and_metrics(report: ModuleType,
                                                        tmp_path: Path) -> None:
    ck = tmp_path / "ckpts" / "tiny"
    ck.mkdir(parents=True)
    (ck / "model.safetensors").write_bytes(b"x" * 2_500_000)
    (ck / "config.json").write_text(json.dumps({
        "method": "simclr", "backbone": "cnn_small_28", "backbone_kwargs": {},
        "step": 40, "total_steps": 50, "train": {"batch_size": 32},
        "data": {"name": "Fashion-MNIST subset", "files": {"f.npz": "ab" * 32}}}))
    # steps paced at 0.5 s, one of them slowed to 4 s by another job: 42.4 s elapsed, 20 s at
    # the median step (40 steps x 0.5 s)
    (ck / "metrics.jsonl").write_text(
        '{"step": 10, "elapsed_s": 3.0, "step_time_s": 0.5}\n'
        '{"step": 20, "elapsed_s": 8.0, "step_time_s": 0.5}\n'
        '{"step": 40, "elapsed_s": 42.4, "step_time_s": 4.0}\n')
    report.main(["--results-dir", str(tmp_path / "none"), "--out", str(tmp_path / "out"),
                 "--checkpoints", str(ck.parent)])
    md = (tmp_path / "out" / "results.md").read_text()
    assert ("| `tiny` | simclr | cnn_small_28 | 40 of 50 | 32 | 42 s | 20 s | Fashion-MNIST "
            "subset; f.npz `abababababababab…` | 2.5 MB |") in md


@pytest.mark.slow
def test_runs_as_a_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_report.py"), "--results-dir",
         str(tmp_path), "--out", str(tmp_path / "o"), "--checkpoints", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "results.md").is_file() and "wrote" in done.stdout


def test_hard_exercise_and_unknown_results(report: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results"
    save_result("hard_exercise", {
        "labelled_subset": 1000, "protocol": "HARD-PROTOCOL",
        "rows": [{"model": "MAE TinyUNet", "backbone": "unet_tiny_28", "epochs": 10,
                  "accuracy": 0.7155, "protocol": "ROW-PROTOCOL", "wall_time_s": 110.0},
                 {"model": "MAE TinyUNet", "backbone": "unet_tiny_28", "epochs": 50,
                  "accuracy": 0.7512, "protocol": "ROW-PROTOCOL-2", "wall_time_s": 300.0}]},
        command="python3 -m lesson.experiments.hard_exercise", directory=results)
    save_result("attention_foreground", {"verdict": "x"}, command="python3 -m y",
                wall_time_s=12.0, directory=results)
    report.main(["--results-dir", str(results), "--out", str(tmp_path / "out"),
                 "--checkpoints", str(tmp_path)])
    md = (tmp_path / "out" / "results.md").read_text()
    for text in ("| MAE TinyUNet | unet_tiny_28 | 10 | 71.5% | 110 s |", "75.1%", "5.0 min",
                 "HARD-PROTOCOL", "- MAE TinyUNet, 50 epochs: ROW-PROTOCOL-2",
                 "## Other result files",
                 "- `attention_foreground.json`: made by `python3 -m y`, wall time 12 s",
                 "figures/hard_exercise.png"):
        assert text in md, text
    assert (tmp_path / "out" / "figures" / "hard_exercise.png").read_bytes()[:8] == PNG


def test_mae_mse_floors_come_from_the_whole_test_set_run(report: ModuleType,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "probe-full").mkdir(parents=True)
    (out / "probe-full" / "probe-mae.json").write_text(json.dumps({
        "name": "mae", "method": "mae", "backbone": "net", "step": 7, "rows": [
            {"encoder": "mae net", "kind": "pretrained",
             "results": {"linear_all": {"column": "linear, all", "value": 0.86}}}]}))
    argv = ["--results-dir", str(tmp_path / "none"), "--out", str(out),
            "--checkpoints", str(tmp_path)]
    report.main(argv)
    md = (out / "results.md").read_text()
    assert ("- MAE masked-patch MSE at ratio 0.75 <= 0.5x biharmonic inpainting: not measured "
            "-> not measured") in md
    assert "Masked-patch floors: not measured (no `" in md
    # 0.75: 0.0227 <= 0.5 x 0.0780 (met); 0.5: 0.0500 > 0.0461 (not met)
    save_result("mae_ratio", {
        "ratios": [0.5, 0.75], "n_images": 10000, "protocol": "WHOLE-TEST-SET",
        "mae": {"checkpoint": "mae", "mse": [0.0500, 0.0227], "sem": [0.0001, 0.0001]},
        "interpolation": {"mse": [0.0460, 0.0723], "sem": [0.0003, 0.0004]},
        "biharmonic": {"mse": [0.0461, 0.0780], "sem": [0.0003, 0.0005]}},
        command="python3 -m lesson.experiments.mae_ratio --n-images 10000",
        directory=out / "mae-ratio-full")
    report.main(argv)
    md = (out / "results.md").read_text()
    for text in ("- MAE masked-patch MSE at ratio 0.75 <= 0.5x biharmonic inpainting: 0.0227 vs "
                 "biharmonic 0.0780 (0.29x) on 10,000 test images -> met",
                 "- MAE masked-patch MSE at ratio 0.5 <= biharmonic inpainting: 0.0500 vs "
                 "biharmonic 0.0461 (1.08x) on 10,000 test images -> **not met**",
                 "written by `python3 -m lesson.experiments.mae_ratio --n-images 10000`"):
        assert text in md, text


def test_mae_ratio_table_shows_biharmonic_and_the_models_share_of_it(report: ModuleType,
                                                                     tmp_path: Path) -> None:
    results = tmp_path / "results"
    save_result("mae_ratio", {
        "ratios": [0.5, 0.75], "n_images": 40, "protocol": "P",
        "mae": {"checkpoint": "mae", "mse": [0.02, 0.03], "sem": [0.001, 0.001]},
        "interpolation": {"mse": [0.04, 0.07], "sem": [0.002, 0.004]},
        "biharmonic": {"mse": [0.05, 0.06], "sem": [0.002, 0.003]}},
        command="python3 -m lesson.experiments.mae_ratio", directory=results)
    report.main(["--results-dir", str(results), "--out", str(tmp_path / "out"),
                 "--checkpoints", str(tmp_path)])
    md = (tmp_path / "out" / "results.md").read_text()
    assert ("| mask ratio | `mae` masked MSE | interpolation masked MSE | advantage (interp − "
            "model) | biharmonic masked MSE | model / biharmonic |") in md
    assert "| 75% | 0.0300 ± 0.0010 | 0.0700 ± 0.0040 | — | 0.0600 ± 0.0030 | 0.50x |" in md
