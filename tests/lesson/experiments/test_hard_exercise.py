"""The hard exercise (lesson.experiments.hard_exercise) on tiny budgets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lesson.experiments import hard_exercise
from lesson.experiments.hard_exercise import MODELS, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(labelled=40, batch_size=20, n_test=60)


@pytest.mark.slow
def test_rows_for_every_model_and_budget_shortest_first(tmp_path):
    result = run(epochs=(1,), epochs_by_model={"MAE TinyUNet": (1, 2)},
                 run_dirs={"MAE TinyUNet@2": tmp_path / "unet"}, **TINY)
    assert result["labelled_subset"] == 40 and result["test_images"] == 60
    got = [(row["model"], row["epochs"]) for row in result["rows"]]
    assert got == [(name, 1) for name in MODELS] + [("MAE TinyUNet", 2)]
    for row in result["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["wall_time_s"] > 0
        assert row["backbone"] == MODELS[row["model"]]["backbone"]
        assert "60 test images" in row["protocol"]
    assert result["rows"][0]["steps"] == 2  # 40 images / batch 20, 1 epoch
    # the named run directory holds a checkpoint written by the Trainer
    files = {p.name for p in (tmp_path / "unet").iterdir()}
    assert {"model.safetensors", "config.json", "metrics.jsonl"} <= files
    config = json.loads((tmp_path / "unet" / "config.json").read_text())
    assert config["method"] == "unet_mae" and config["step"] == 4
    assert config["data"]["limit_images"] == 40


def test_mae_probe_beats_chance_with_a_few_steps():
    """Even briefly pretrained features separate Fashion-MNIST well above 10% with a probe."""
    result = run(epochs=(1,), models=("MAE TinyUNet",), **TINY)
    assert result["rows"][0]["accuracy"] > 0.3


def test_labelled_subset_is_what_the_trainer_pretrains_on():
    from ssl_core.train import TrainConfig, Trainer

    images, labels = hard_exercise._labelled_subset(40)
    trainer = Trainer(TrainConfig(method="unet_mae", limit_images=40, steps=1, batch_size=20))
    dataset = trainer.batches.dataset
    assert len(dataset) == 40 and images.shape == (40, 28, 28)
    for i in (0, 17, 39):
        image, label = dataset[i]
        assert np.array_equal(np.asarray(image).reshape(28, 28), images[i])
        assert label == labels[i]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": ("MAE ResNet",)}, "unknown model"),
        ({"epochs_by_model": {"Nope": (1,)}}, "unknown model 'Nope'"),
        ({"epochs": ()}, "non-empty list of ints"),
        ({"epochs": (0,)}, "non-empty list of ints"),
        ({"labelled": 10, "batch_size": 20}, "smaller than batch_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run(**kwargs)


def test_main_writes_the_result(tmp_path, capsys):
    code = hard_exercise.main(["--epochs", "1", "--models", "Supervised TinyUNet",
                               "--labelled", "40", "--batch-size", "20", "--n-test", "30",
                               "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "hard_exercise.json").read_text())
    assert data["complete"] is True and data["labelled_subset"] == 40
    assert [row["model"] for row in data["rows"]] == ["Supervised TinyUNet"]
    assert data["provenance"]["wall_time_s"] > 0
    assert "--labelled 40" in data["provenance"]["command"]
    assert "Supervised TinyUNet" in capsys.readouterr().out


def test_main_reports_bad_input(tmp_path, capsys):
    code = hard_exercise.main(["--labelled", "10", "--batch-size", "20", "--out", str(tmp_path)])
    assert code == 2
    assert "smaller than batch_size" in capsys.readouterr().err
    assert not (tmp_path / "hard_exercise.json").exists()


def test_continue_keeps_the_saved_rows_and_measures_the_rest(tmp_path):
    common = ["--models", "Supervised TinyUNet", "--labelled", "40", "--batch-size", "20",
              "--n-test", "30", "--out", str(tmp_path)]
    assert hard_exercise.main(["--epochs", "1", *common]) == 0
    first = json.loads((tmp_path / "hard_exercise.json").read_text())
    assert hard_exercise.main(["--epochs", "1", "2", "--continue", *common]) == 0
    second = json.loads((tmp_path / "hard_exercise.json").read_text())
    assert second["rows"][0] == first["rows"][0]  # kept as measured, not re-run
    assert [row["epochs"] for row in second["rows"]] == [1, 2]
    assert second["complete"] is True
    assert second["continued_from"] == first["provenance"]
    # another protocol (batch size) cannot be continued
    other = [a if a != "20" else "10" for a in common]
    assert hard_exercise.main(["--epochs", "1", "--continue", *other]) == 2
