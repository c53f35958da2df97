"""Tests for ssl_core.train: schedule, seeded batches, the step iterator, stop/resume identity."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from ssl_core import checkpoints
from ssl_core.checkpoints import CheckpointError, load_encoder, load_method
from ssl_core.data import ArrayImageDataset
from ssl_core.train import (
    LocalRuntime,
    StepBatches,
    TrainConfig,
    Trainer,
    derive_seed,
    load_train_data,
    lr_at,
    view_pipeline,
)

TINY_BACKBONE = {"depth": 1, "embed_dim": 32, "num_heads": 2}
TINY_METHOD = {
    "simclr": {"proj_hidden_dim": 32, "proj_out_dim": 16},
    "dino": {"out_dim": 32, "head_hidden_dim": 32, "head_bottleneck_dim": 16,
             "momentum_base": 0.9},
    "mae": {"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2},
}
TINY_AUGMENT = {"simclr": {}, "dino": {"n_local": 2}, "mae": {}}


def tiny_dataset(n: int = 48, seed: int = 0) -> ArrayImageDataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return ArrayImageDataset(images, rng.integers(0, 10, size=n), [str(i) for i in range(10)])


def tiny_config(method: str = "simclr", **overrides) -> TrainConfig:
    values = dict(method=method, steps=6, batch_size=8, backbone_kwargs=TINY_BACKBONE,
                  method_config=TINY_METHOD[method], augment=TINY_AUGMENT[method], lr=1e-3,
                  warmup_steps=2)
    return TrainConfig(**(values | overrides))


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def optimizer_tensors(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {f"{pid}.{name}": t for pid, state in trainer.optimizer.state_dict()["state"].items()
            for name, t in state.items() if torch.is_tensor(t)}


# --- learning rate and seeds ------------------------------------------------------------------


def lr_reference(step: int, total: int, peak: float, warmup: int) -> float:
    """Slow explicit version: warm-up ramp, then half a cosine period down to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return peak * (math.cos(math.pi * progress) + 1) / 2


@pytest.mark.parametrize(("total", "warmup"), [(10, 0), (10, 3), (100, 10), (1, 0), (5, 5)])
def test_lr_at_matches_reference(total: int, warmup: int) -> None:
    got = [lr_at(s, total_steps=total, peak_lr=0.5, warmup_steps=warmup) for s in range(total)]
    want = [lr_reference(s, total, 0.5, warmup) for s in range(total)]
    assert got == pytest.approx(want, rel=1e-12)


def test_lr_at_sanity_values() -> None:
    assert lr_at(0, total_steps=10, peak_lr=1.0, warmup_steps=0) == 1.0  # cosine starts at peak
    assert lr_at(4, total_steps=10, peak_lr=1.0, warmup_steps=4) == 1.0  # warm-up ends at peak
    assert lr_at(0, total_steps=10, peak_lr=1.0, warmup_steps=4) == 0.25
    assert lr_at(5, total_steps=10, peak_lr=1.0, warmup_steps=0) == pytest.approx(0.5)
    values = [lr_at(s, total_steps=50, peak_lr=1.0, warmup_steps=5) for s in range(5, 50)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # non-increasing


def test_lr_at_rejects_out_of_range_step() -> None:
    with pytest.raises(ValueError, match=r"step must be in \[0, total_steps=10\); got 10"):
        lr_at(10, total_steps=10, peak_lr=1.0, warmup_steps=0)


def test_derive_seed_is_stable_and_separates_streams() -> None:
    assert derive_seed(0, 1, 2) == derive_seed(0, 1, 2)
    seeds = {derive_seed(0, 2, step) for step in range(1000)}
    assert len(seeds) == 1000
    assert derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
    assert all(0 <= s < 2**63 for s in seeds)


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": None}, "give exactly one of steps and epochs"),
        ({"epochs": 2.0}, r"give exactly one of steps and epochs; got steps=200, epochs=2.0"),
        ({"steps": 0}, "steps must be an int >= 1; got 0"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"accelerator": "tpu"}, "accelerator must be one of"),
        ({"lr": -1.0}, "lr must be > 0"),
        ({"grad_clip": 0.0}, "grad_clip must be > 0 or None"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"backbone_kwargs": [1]}, "backbone_kwargs must be a dict"),
    ],
)
def test_train_config_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_train_config_round_trips_through_json() -> None:
    cfg = tiny_config("dino", epochs=2.5, steps=None)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['nope'\]"):
        TrainConfig.from_dict({"nope": 1})


def test_trainer_resolves_defaults() -> None:
    run = Trainer(TrainConfig(method="mae", steps=40, batch_size=16), dataset=tiny_dataset())
    cfg = run.config
    assert cfg.backbone == "vit_tiny_p4_28"  # 1-channel data
    assert cfg.base_lr == 1e-3 and cfg.lr == pytest.approx(1e-3 * 16 / 256)  # linear scaling
    assert run.warmup_steps == cfg.warmup_steps == 4  # 10% of the run, stored resolved
    assert isinstance(run.runtime, LocalRuntime)  # no Lightning for one fp32 CPU process
    assert cfg.accelerator == "cpu"


def test_epochs_set_the_number_of_steps() -> None:
    run = Trainer(tiny_config(steps=None, epochs=1.5), dataset=tiny_dataset(48))
    assert run.steps_per_epoch == 6  # 48 // 8
    assert run.total_steps == 9


def test_trainer_rejects_mismatched_channels_and_oversized_batch() -> None:
    rgb = ArrayImageDataset(np.zeros((16, 28, 28, 3), np.uint8), np.zeros(16, np.int64))
    with pytest.raises(ValueError, match="takes 1-channel images but the data has 3 channel"):
        Trainer(tiny_config(backbone="vit_tiny_p4_28"), dataset=rgb)
    with pytest.raises(ValueError, match=r"global batch of 64 images .* larger than the dataset "
                                         r"\(48 images\)"):
        Trainer(tiny_config(batch_size=64), dataset=tiny_dataset(48))
    with pytest.raises(ValueError, match="SimCLR needs batch_size >= 2"):
        Trainer(tiny_config(batch_size=1), dataset=tiny_dataset())
    with pytest.raises(ValueError, match="'16-mixed' needs a GPU"):
        Trainer(tiny_config(precision="16-mixed", accelerator="cpu"), dataset=tiny_dataset())


# --- data -------------------------------------------------------------------------------------


def test_load_train_data_bundled_describes_the_file() -> None:
    from ssl_core import paths
    from ssl_core.checkpoints import file_sha256

    dataset, description = load_train_data("bundled", limit_images=100)
    assert len(dataset) == 100 and description["n_images"] == 100
    assert description["n_images_total"] == 20_000
    bundled = paths.fashion_mnist_file()
    assert description["files"] == {bundled.name: file_sha256(bundled)}
    small, _ = load_train_data("bundled", limit_images=10)  # nested subsets
    assert set(small.indices) <= set(dataset.indices)


def test_load_train_data_reports_bad_paths(tmp_path) -> None:
    from ssl_core.data import DataError

    with pytest.raises(DataError, match=str(tmp_path / "missing")):
        load_train_data(str(tmp_path / "missing"))
    with pytest.raises(DataError, match="names no path"):
        load_train_data("cifar10:")


@pytest.mark.parametrize("method", ["simclr", "dino", "mae"])
def test_views_have_the_method_batch_format(method: str) -> None:
    batches = StepBatches(tiny_dataset(), view_pipeline(method, size=28, patch_size=4,
                                                        overrides=TINY_AUGMENT[method]),
                          seed=0, batch_size=4)
    batch = batches[0]
    if method == "simclr":
        assert isinstance(batch, tuple) and [v.shape for v in batch] == [(4, 1, 28, 28)] * 2
    elif method == "dino":
        assert isinstance(batch, list)
        assert [tuple(v.shape) for v in batch] == [(4, 1, 28, 28)] * 2 + [(4, 1, 12, 12)] * 2
    else:
        assert batch.shape == (4, 1, 28, 28)
    flat = torch.cat([v.flatten() for v in (batch if isinstance(batch, tuple | list)
                                            else [batch])])
    assert flat.dtype == torch.float32 and 0 <= flat.min() and flat.max() <= 1


def test_step_batches_are_a_function_of_seed_and_step() -> None:
    views = view_pipeline("simclr", size=28)
    a = StepBatches(tiny_dataset(), views, seed=3, batch_size=8)
    b = StepBatches(tiny_dataset(), views, seed=3, batch_size=8)
    for step in (5, 0, 5):  # any order, any object: same pixels
        assert all(torch.equal(x, y) for x, y in zip(a[step], b[step], strict=True))
    assert not torch.equal(a[0][0], a[1][0])
    other = StepBatches(tiny_dataset(), views, seed=4, batch_size=8)
    assert not torch.equal(a[0][0], other[0][0])


def test_each_epoch_visits_every_image_once() -> None:
    batches = StepBatches(tiny_dataset(50), view_pipeline("mae", size=28), seed=0, batch_size=8)
    assert batches.steps_per_epoch == 6  # 50 // 8, the last partial batch dropped
    for epoch in range(2):
        seen = torch.cat([batches.global_indices(epoch * 6 + s) for s in range(6)])
        assert len(set(seen.tolist())) == 48
    assert not torch.equal(batches.global_indices(0), batches.global_indices(6))


def test_ranks_split_the_global_batch_of_one_process() -> None:
    """2 ranks with batch B see exactly the pixels of 1 process with batch 2B."""
    views = view_pipeline("simclr", size=28)
    whole = StepBatches(tiny_dataset(), views, seed=1, batch_size=8)[3]
    parts = [StepBatches(tiny_dataset(), views, seed=1, batch_size=4, world_size=2, rank=r)[3]
             for r in range(2)]
    for v in range(2):
        assert torch.equal(torch.cat([parts[0][v], parts[1][v]]), whole[v])


# --- the step iterator ------------------------------------------------------------------------


@pytest.mark.slow
def test_steps_yield_metrics_after_every_step() -> None:
    run = Trainer(tiny_config("dino"), dataset=tiny_dataset())
    seen = list(run.steps(max_steps=3))
    assert [m["step"] for m in seen] == [1, 2, 3] and run.step == 3
    for m in seen:
        for key in ("loss", "lr", "images_per_s", "elapsed_s", "epoch", "momentum",
                    "teacher_entropy"):
            assert math.isfinite(m[key]), key
    assert seen[0]["lr"] == pytest.approx(1e-3 / 2)  # warm-up step 1 of 2
    assert seen[2]["epoch"] == pytest.approx(3 / 6)
    assert list(run.steps(time_limit_s=0)) == []  # time is up before the first step
    assert len(list(run.steps())) == 3 and run.done
    assert list(run.steps()) == []  # nothing past total_steps
    assert run.history[-1]["step"] == 6


def test_steps_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    run = Trainer(tiny_config("mae"), dataset=tiny_dataset())
    list(run.steps(max_steps=2))
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["simclr", "dino", "mae"])
def test_break_and_continue_equals_an_uninterrupted_run(method: str) -> None:
    straight = Trainer(tiny_config(method), dataset=tiny_dataset())
    losses = [m["loss"] for m in straight.steps()]

    stopped = Trainer(tiny_config(method), dataset=tiny_dataset())
    pieces = []
    for m in stopped.steps():
        pieces.append(m["loss"])
        if m["step"] == 2:
            break  # stop in the middle of a loop...
    pieces += [m["loss"] for m in stopped.steps(max_steps=1)]  # ...a bounded call...
    pieces += [m["loss"] for m in stopped.steps()]  # ...and the rest
    assert pieces == losses
    assert state_equal(straight.method.state_dict(), stopped.method.state_dict())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["simclr", "dino", "mae"])
def test_save_and_resume_is_bit_identical(method: str, tmp_path) -> None:
    straight = Trainer(tiny_config(method), dataset=tiny_dataset())
    losses = [m["loss"] for m in straight.steps()]

    first = Trainer(tiny_config(method, out_dir=str(tmp_path / "run")), dataset=tiny_dataset())
    part = [m["loss"] for m in first.steps(max_steps=3)]
    first.save()
    del first
    resumed = Trainer.resume(tmp_path / "run", dataset=tiny_dataset())
    assert resumed.step == 3
    part += [m["loss"] for m in resumed.steps()]
    assert part == losses
    assert state_equal(straight.method.state_dict(), resumed.method.state_dict())
    assert state_equal(optimizer_tensors(straight), optimizer_tensors(resumed))
    if method == "dino":  # the teacher and the centre are part of the saved state
        keys = straight.method.state_dict().keys()
        assert any(k.startswith("teacher.") for k in keys)
        assert any("center" in k for k in keys)


def test_results_do_not_depend_on_num_workers() -> None:
    main = Trainer(tiny_config("mae", steps=3), dataset=tiny_dataset())
    worker = Trainer(tiny_config("mae", steps=3, num_workers=1), dataset=tiny_dataset())
    assert [m["loss"] for m in main.steps()] == [m["loss"] for m in worker.steps()]
    worker.close()
    assert state_equal(main.method.state_dict(), worker.method.state_dict())


def test_grad_clip_reports_the_norm() -> None:
    run = Trainer(tiny_config("simclr", grad_clip=1e-3), dataset=tiny_dataset())
    metrics = next(run.steps())
    assert metrics["grad_norm"] > 1e-3  # the norm before clipping
    grads = [p.grad for p in run.method.trainable_parameters()]
    assert all(g is None for g in grads)  # zeroed after the step


@pytest.mark.slow
def test_mae_loss_falls_on_a_fixed_batch() -> None:
    data = ArrayImageDataset(np.tile(tiny_dataset(8).images[:1], (16, 1, 1)), np.zeros(16))
    run = Trainer(tiny_config("mae", steps=20, batch_size=8, lr=3e-3, augment={"scale": [1, 1],
                                                                               "hflip_p": 0.0}),
                  dataset=data)
    losses = [m["loss"] for m in run.steps()]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


# --- checkpoints on disk ----------------------------------------------------------------------


@pytest.mark.slow
def test_out_dir_gets_weights_config_and_metrics(tmp_path) -> None:
    cfg = tiny_config("dino", out_dir=str(tmp_path / "{method}-{backbone}"), log_every=4)
    run = Trainer(cfg, dataset=tiny_dataset())
    list(run.steps())
    out = tmp_path / "dino-vit_tiny_p4_28"
    assert run.out_dir == out
    for name in ("model.safetensors", "config.json", "metrics.jsonl", "train_state.json",
                 "train_state.safetensors"):
        assert (out / name).is_file(), name
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == [4, 6]  # every log_every steps and at the end
    config = json.loads((out / "config.json").read_text())
    assert config["method"] == "dino" and config["backbone"] == "vit_tiny_p4_28"
    assert config["backbone_kwargs"]["depth"] == 1 and config["method_config"]["out_dim"] == 32
    assert config["step"] == 6 and config["total_steps"] == 6
    assert config["train"]["lr"] == 1e-3 and config["train"]["out_dir"] == str(out)
    assert config["data"]["spec"] == "custom" and len(config["data"]["arrays_sha256"]) == 64


def test_load_method_and_encoder_rebuild_the_trained_model(tmp_path) -> None:
    run = Trainer(tiny_config("dino", steps=2), dataset=tiny_dataset())
    list(run.steps())
    run.save(tmp_path / "ck")
    method = load_method(tmp_path / "ck")
    assert state_equal(method.state_dict(), run.method.state_dict())
    assert not method.training
    x = torch.rand(3, 1, 28, 28)
    encoder = load_encoder(tmp_path / "ck")
    run.encoder.eval()
    with torch.no_grad():
        assert torch.equal(encoder.forward_features(x), run.encoder.forward_features(x))
    checkpoints.save_checkpoint(tmp_path / "bare", state_dict={"w": torch.zeros(1)}, config={})
    with pytest.raises(CheckpointError, match="lacks \\['method', 'backbone'\\]"):
        load_method(tmp_path / "bare")


def test_resume_truncates_metrics_logged_after_the_checkpoint(tmp_path) -> None:
    cfg = tiny_config("mae", out_dir=str(tmp_path), log_every=1)
    run = Trainer(cfg, dataset=tiny_dataset())
    list(run.steps(max_steps=2))
    run.save()
    list(run.steps(max_steps=2))  # logged steps 3, 4, then "crashed" without saving
    resumed = Trainer.resume(tmp_path, dataset=tiny_dataset())
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    list(resumed.steps())
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5, 6]


def test_resume_can_extend_a_run_but_not_change_the_model(tmp_path) -> None:
    run = Trainer(tiny_config("simclr", steps=2, out_dir=str(tmp_path)), dataset=tiny_dataset())
    list(run.steps())
    longer = Trainer.resume(tmp_path, dataset=tiny_dataset(), steps=4)
    assert longer.step == 2 and longer.total_steps == 4
    assert len(list(longer.steps())) == 2
    with pytest.raises(ValueError, match=r"cannot change \['method'\] when resuming"):
        Trainer.resume(tmp_path, dataset=tiny_dataset(), method="mae")
    with pytest.raises(ValueError, match="the data differs from the data this run was trained on"):
        Trainer.resume(tmp_path, dataset=tiny_dataset(seed=1))


def test_resume_detects_an_interrupted_save(tmp_path) -> None:
    run = Trainer(tiny_config("simclr", steps=4, out_dir=str(tmp_path)), dataset=tiny_dataset())
    list(run.steps(max_steps=2))
    run.save()
    list(run.steps(max_steps=1))
    checkpoints.save_train_state(tmp_path, optimizer_state=run.optimizer.state_dict(),
                                 extra={"step": run.step})  # died before the weights
    with pytest.raises(CheckpointError, match="train_state.json is at step 3 but config.json at "
                                              "step 2"):
        Trainer.resume(tmp_path, dataset=tiny_dataset())


def test_resume_refuses_a_checkpoint_that_is_not_a_training_run(tmp_path) -> None:
    checkpoints.save_checkpoint(tmp_path, state_dict={"w": torch.zeros(1)}, config={"x": 1})
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        Trainer.resume(tmp_path)


def test_a_given_method_module_is_trained_in_place() -> None:
    from ssl_core.methods import build_method

    method = build_method("mae", backbone="vit_tiny_p4_28", backbone_kwargs=TINY_BACKBONE,
                          config=TINY_METHOD["mae"])
    before = {k: v.clone() for k, v in method.state_dict().items()}
    run = Trainer(dataclasses.replace(tiny_config("mae"), steps=1), dataset=tiny_dataset(),
                  method=method)
    list(run.steps())
    assert run.method is method
    assert not state_equal(before, method.state_dict())
    assert run.config.backbone == "vit_tiny_p4_28"  # taken from the module
    assert run.config.backbone_kwargs["embed_dim"] == 32
    with pytest.raises(ValueError, match="config.method is 'dino' but the given module is a "
                                         "'mae' method"):
        Trainer(tiny_config("dino"), dataset=tiny_dataset(), method=method)


def test_dino_last_layer_stays_put_while_frozen_then_trains():
    """The trainer calls the method's hook between backward and the optimiser step: with the
    last layer frozen for the first epoch (6 steps of 8 out of 48 images), the prototypes are
    unchanged after that epoch and move in the next one."""
    cfg = tiny_config("dino", steps=12, method_config=TINY_METHOD["dino"]
                      | {"freeze_last_layer_epochs": 1.0})
    run = Trainer(cfg, dataset=tiny_dataset())
    weight = run.method.student.head.last_layer.parametrizations.weight.original1
    start = weight.detach().clone()
    steps = run.steps()
    for _ in range(6):
        next(steps)
    assert torch.equal(weight.detach(), start)
    for _ in steps:
        pass
    assert not torch.equal(weight.detach(), start)
