"""Tests for ``python -m ssl_core.pretrain``: a few steps of each method, resume, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ssl_core.pretrain import main

REPO = Path(__file__).resolve().parent.parent
TINY = {
    "simclr": ["--method-config", "proj_hidden_dim=32", "proj_out_dim=16"],
    "dino": ["--method-config", "out_dim=32", "head_hidden_dim=32", "head_bottleneck_dim=16",
             "--augment", "n_local=2"],
    "mae": ["--method-config", "decoder_dim=32", "decoder_depth=1", "decoder_heads=2"],
}


def tiny_args(method: str, out: Path, steps: int = 5) -> list[str]:
    return ["--method", method, "--steps", str(steps), "--batch-size", "8", "--limit-images",
            "64", "--backbone-kwargs", "depth=1", "embed_dim=32", "num_heads=2", *TINY[method],
            "--out", str(out), "--log-every", "2", "--no-progress"]


def logged_steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["simclr", "dino", "mae"])
def test_pretrain_writes_a_checkpoint_and_resumes(method: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(tiny_args(method, out)) == 0
    for name in ("model.safetensors", "config.json", "metrics.jsonl", "train_state.json",
                 "train_state.safetensors"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == method and config["step"] == 5
    assert config["train"]["limit_images"] == 64 and config["data"]["n_images"] == 64
    assert config["data"]["spec"] == "bundled" and len(config["data"]["files"]) == 1
    assert config["backbone_kwargs"]["embed_dim"] == 32
    assert logged_steps(out) == [2, 4, 5]
    assert "done:" in capsys.readouterr().err

    assert main(["--resume", str(out), "--steps", "8", "--no-progress"]) == 0
    assert "resuming at step 5" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["step"] == 8
    assert logged_steps(out) == [2, 4, 5, 6, 8]


def test_epochs_and_defaults_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "e"
    args = tiny_args("mae", out)
    args[args.index("--steps"): args.index("--steps") + 2] = ["--epochs", "0.5"]
    assert main(args + ["--seed", "3", "--lr", "0.002"]) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert train["epochs"] == 0.5 and train["steps"] is None
    assert train["seed"] == 3 and train["lr"] == 0.002
    assert json.loads((out / "config.json").read_text())["total_steps"] == 4  # 0.5 x 64 // 8


def test_default_out_dir_names_method_and_backbone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = tiny_args("mae", tmp_path)
    del args[args.index("--out"): args.index("--out") + 2]
    assert main(args + ["--steps", "1"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("mae-vit_tiny_p4_28-")
    assert (run / "model.safetensors").is_file()


def test_bad_data_path_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-such-folder"
    assert main(["--data", str(missing), "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "error:" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_values_are_errors_with_exit_code_2(tmp_path: Path, capsys) -> None:
    assert main(["--method", "mae", "--batch-size", "0", "--out", str(tmp_path)]) == 2
    assert "batch_size must be an int >= 1; got 0" in capsys.readouterr().err
    assert main(["--backbone", "resnet9000", "--limit-images", "64", "--batch-size", "8",
                 "--out", str(tmp_path)]) == 2
    assert "unknown backbone 'resnet9000'" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: mutually exclusive options
        main(["--steps", "3", "--epochs", "1"])
    assert exit_info.value.code == 2


def test_resume_rejects_changing_the_method(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(tiny_args("mae", out, steps=1)) == 0
    assert main(["--resume", str(out), "--method", "dino"]) == 2
    assert "cannot change ['method'] when resuming" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "ssl_core.pretrain", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--method {simclr,dino,mae,unet_mae}" in result.stdout
    assert "[256]" in result.stdout  # defaults are shown
