"""Tests for ssl_core.methods.dino: the EMA teacher, centring and sharpening switches, training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssl_core.augment import multi_crop
from ssl_core.data import load_fashion_mnist
from ssl_core.losses.dino_collapse import collapse_verdict
from ssl_core.methods import DINO, DINOConfig, Method, build_method, method_spec
from ssl_core.methods.dino import split_views
from ssl_core.models.registry import build_backbone

TINY_VIT = {"embed_dim": 32, "depth": 1, "num_heads": 2}
TINY_HEAD = {"out_dim": 64, "head_hidden_dim": 32, "head_bottleneck_dim": 16}


def crops(n: int, *, n_local: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """DINO multi-crop views of n bundled images: 2 global (n, 1, 28, 28), then local 12 px."""
    torch.manual_seed(seed)
    transform = multi_crop(n_local=n_local)
    images = torch.from_numpy(load_fashion_mnist("train").images[:n].copy()).unsqueeze(1)
    per_image = [transform(image) for image in images]  # n lists of 2 + n_local views
    return [torch.stack([views[v] for views in per_image]) for v in range(2 + n_local)]


def tiny_dino(seed: int = 0, backbone: str = "vit_tiny_p4_28", **config: object) -> DINO:
    torch.manual_seed(seed)
    kwargs = TINY_VIT if backbone.startswith("vit") else {"widths": (8, 16)}
    return DINO(build_backbone(backbone, **kwargs), DINOConfig(**(TINY_HEAD | config)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def views() -> list[torch.Tensor]:
    return crops(16)


# --------------------------------------------------------------------------------------------
# config and batches
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"momentum_base": 0.999, "momentum_final": 0.99}, "momentum_base .* must be <="),
        ({"momentum_final": 1.5}, r"momentum_final must be in \[0, 1\]"),
        ({"n_global": 0}, "n_global must be >= 1"),
        ({"out_dim": 0}, "out_dim must be a positive int"),
        ({"teacher_temp": -0.04}, "teacher_temp must be a positive finite temperature"),
        ({"center_momentum": 2.0}, r"center_momentum must be in \[0, 1\]"),
        ({"freeze_last_layer_epochs": -1}, "freeze_last_layer_epochs must be >= 0"),
    ],
)
def test_config_rejects_bad_values(fields: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DINOConfig(**fields)  # type: ignore[arg-type]


def test_no_sharpening_means_teacher_temp_equals_student_temp() -> None:
    loss_cfg = DINOConfig(sharpening=False, student_temp=0.2, warmup_teacher_temp_epochs=5)
    lc = loss_cfg.loss_config()
    assert (lc.teacher_temp, lc.warmup_teacher_temp, lc.warmup_teacher_temp_epochs) == (0.2, 0.2, 0)
    method = tiny_dino(sharpening=False, student_temp=0.2)
    _, metrics = method.training_step(crops(4))
    assert metrics["teacher_temp"] == 0.2


def test_teacher_temperature_warm_up_follows_set_epoch() -> None:
    method = tiny_dino(teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=4)
    assert method.teacher_temp() == pytest.approx(0.04)
    method.set_epoch(1.5)  # linspace(0.04, 0.07, 4) interpolated at 1.5
    assert method.teacher_temp() == pytest.approx(0.04 + 0.03 * 1.5 / 3)
    method.set_epoch(10)
    _, metrics = method.training_step(crops(4))
    assert metrics["teacher_temp"] == pytest.approx(0.07)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        method.set_epoch(-1)


def test_split_views_forms() -> None:
    g, loc, y = torch.rand(2, 1, 28, 28), torch.rand(2, 1, 12, 12), torch.tensor([0, 1])
    for batch in ([g, g, loc], (g, g, loc), [g, g, loc, y], ([g, g, loc], y), ((g, g, loc), y)):
        out = split_views(batch)
        assert len(out) == 3 and out[0] is g and out[2] is loc
    assert split_views(g) == [g]
    with pytest.raises(ValueError, match="a DINO batch is a list of"):
        split_views([g, torch.zeros(2, 1, 28, 28, dtype=torch.uint8)])
    with pytest.raises(ValueError, match=r"same B images; got batch sizes \[2, 3\]"):
        split_views([g, torch.rand(3, 1, 28, 28)])
    with pytest.raises(ValueError, match="at least n_global=2 global crops"):
        tiny_dino().training_step([g])


def test_build_method_and_spec() -> None:
    method = build_method(
        "dino", backbone="vit_tiny_p4_28", backbone_kwargs=TINY_VIT, config={"centering": False}
    )
    assert isinstance(method, DINO)
    assert method.loss_fn.centering.enabled is False
    assert method_spec(method)["method_config"]["centering"] is False


# --------------------------------------------------------------------------------------------
# the teacher
# --------------------------------------------------------------------------------------------


def test_teacher_gets_no_gradient_and_is_not_trainable(views: list[torch.Tensor]) -> None:
    method = tiny_dino()
    loss, _ = method.training_step(views)
    loss.backward()
    assert all(p.grad is None for p in method.teacher.parameters())
    assert all(not p.requires_grad for p in method.teacher.parameters())
    trainable = {id(p) for p in method.trainable_parameters()}
    assert trainable.isdisjoint(id(p) for p in method.teacher.parameters())
    student = [p for p in method.student.parameters() if p.requires_grad]
    assert trainable == {id(p) for p in student}
    assert all(p.grad is not None for p in student)


def test_teacher_stays_in_eval_mode() -> None:
    method = tiny_dino()
    assert method.teacher.training is False
    method.train()
    assert method.training and method.student.training and method.loss_fn.training
    assert method.teacher.training is False
    assert all(not m.training for m in method.teacher.modules())
    method.eval()
    assert method.student.training is False and method.teacher.training is False


def test_teacher_sees_only_the_global_crops(views: list[torch.Tensor]) -> None:
    method = tiny_dino()
    teacher_inputs: list[tuple[int, ...]] = []
    student_inputs: list[tuple[int, ...]] = []
    hooks = [
        method.teacher.backbone.patch_embed.register_forward_pre_hook(
            lambda m, args: teacher_inputs.append(tuple(args[0].shape))
        ),
        method.student.backbone.patch_embed.register_forward_pre_hook(
            lambda m, args: student_inputs.append(tuple(args[0].shape))
        ),
    ]
    try:
        method.training_step(views)
    finally:
        for hook in hooks:
            hook.remove()
    assert teacher_inputs == [(32, 1, 28, 28)]  # both global crops, one pass
    assert student_inputs == [(32, 1, 28, 28), (32, 1, 12, 12)]  # one pass per resolution


def test_teacher_moves_only_by_ema(views: list[torch.Tensor]) -> None:
    method = tiny_dino(momentum_base=0.9, momentum_final=1.0)
    opt = torch.optim.SGD(method.trainable_parameters(), lr=0.5)
    teacher_before = {n: p.clone() for n, p in method.teacher.named_parameters()}
    loss, _ = method.training_step(views)
    opt.zero_grad()
    loss.backward()
    opt.step()
    # The optimiser step changed the student but not the teacher.
    for name, p in method.teacher.named_parameters():
        assert torch.equal(p, teacher_before[name]), name
    student_after = dict(method.student.named_parameters())
    assert any(not torch.equal(student_after[n], teacher_before[n]) for n in teacher_before)

    step, total = 3, 10
    m = 1.0 - (1.0 - 0.9) * (1 + math.cos(math.pi * step / total)) / 2  # cosine, by hand
    out = method.on_train_step_end(step, total)
    assert out == {"momentum": pytest.approx(m)}
    for name, p in method.teacher.named_parameters():
        expected = m * teacher_before[name] + (1 - m) * student_after[name].detach()
        assert torch.allclose(p, expected, atol=1e-7), name
    assert method.on_train_step_end(total, total) == {"momentum": 1.0}


def test_batchnorm_statistics_follow_the_student() -> None:
    method = tiny_dino(backbone="cnn_small_28")
    views = crops(8, n_local=0)
    method.training_step(views)  # the student's BatchNorm statistics move, the teacher's do not
    name = "backbone.stem.1.running_mean"
    student, teacher = dict(method.student.named_buffers()), dict(method.teacher.named_buffers())
    assert not torch.equal(student[name], teacher[name])
    method.on_train_step_end(0, 10)
    for key, buffer in teacher.items():
        assert torch.equal(buffer, student[key]), key


def test_encoder_is_the_teacher_backbone() -> None:
    method = tiny_dino()
    assert isinstance(method, Method) and method.name == "dino"
    assert method.encoder is method.teacher.backbone
    assert method.backbone is method.student.backbone
    assert method.encoder is not method.backbone
    assert "backbone.patch_embed.weight" not in method.state_dict()  # no duplicated tensors


# --------------------------------------------------------------------------------------------
# loss, centre and diagnostics
# --------------------------------------------------------------------------------------------


def test_metrics_are_the_collapse_diagnostics_of_the_loss(views: list[torch.Tensor]) -> None:
    method = tiny_dino()
    history = []
    for _ in range(2):
        loss, metrics = method.training_step(views)
        history.append(metrics)
    expected = {
        "loss",
        "teacher_temp",
        "teacher_entropy",
        "max_entropy",
        "marginal_entropy",
        "kl_teacher_student",
        "output_std",
        "output_std_ref",
        "dominant_dim_share",
        "argmax_mode_share",
        "effective_rank",
    }
    assert set(metrics) == expected
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["loss"] == pytest.approx(loss.item())
    # With every global crop in the same number of pairs, CE = H(teacher) + KL, per pair; this
    # holds only if the diagnostics saw the centre the loss used (before its update).
    assert metrics["loss"] == pytest.approx(
        metrics["teacher_entropy"] + metrics["kl_teacher_student"], abs=1e-4
    )
    assert metrics["max_entropy"] == pytest.approx(math.log(64))
    assert isinstance(collapse_verdict(history), str)


def test_centre_is_updated_in_training_mode_only(views: list[torch.Tensor]) -> None:
    method = tiny_dino()
    with torch.no_grad():
        teacher_logits = method.teacher(views[:2])  # (2, B, K)
    method.eval()
    method.training_step(views)
    assert torch.equal(method.loss_fn.centering.center, torch.zeros(1, 64))
    method.train()
    method.training_step(views)
    expected = 0.1 * teacher_logits.reshape(-1, 64).mean(0, keepdim=True)  # 0.9 * 0 + 0.1 * mean
    assert torch.allclose(method.loss_fn.centering.center, expected, atol=1e-6)


def test_centering_can_be_switched_off(views: list[torch.Tensor]) -> None:
    method = tiny_dino(centering=False)
    for step in range(3):
        method.training_step(views)
        method.on_train_step_end(step, 3)
    assert torch.equal(method.loss_fn.centering.center, torch.zeros(1, 64))


@pytest.mark.slow
def test_student_loss_falls_within_a_few_dozen_steps() -> None:
    """With the teacher frozen (momentum 1) and no centring the target is fixed, so the loss
    must fall as the student fits it. (With both on, the loss first rises while the centre catches
    up with the teacher's mean output: not a property a short test can assert.)"""
    method = tiny_dino(momentum_base=1.0, momentum_final=1.0, centering=False)
    views = crops(64)
    opt = torch.optim.AdamW(method.trainable_parameters(), lr=1e-3)
    losses = []
    for step in range(30):
        loss, _ = method.training_step(views)
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.on_train_step_end(step, 30)
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * losses[0]


def test_forward_is_training_step(views: list[torch.Tensor]) -> None:
    method = tiny_dino().eval()  # eval: the centre does not move between the two calls
    a, _ = method(views)
    b, _ = method.training_step(views)
    assert torch.equal(a, b)


def test_last_layer_gradients_are_dropped_while_frozen(views: list[torch.Tensor]) -> None:
    """As the official cancel_gradients_last_layer: during the first freeze_last_layer_epochs
    the prototypes get no gradient; the rest of the student does, and after it they do too."""
    method = tiny_dino(freeze_last_layer_epochs=1.0, norm_last_layer=False)
    last = list(method.student.head.last_layer.parameters())
    for epoch, frozen in ((0.0, True), (0.99, True), (1.0, False)):
        method.set_epoch(epoch)
        method.zero_grad(set_to_none=True)
        loss, _ = method.training_step(views)
        loss.backward()
        method.on_before_optimizer_step()
        assert method.last_layer_frozen() is frozen
        assert all((p.grad is None) is frozen for p in last)
        assert method.student.head.mlp[0].weight.grad is not None
    unfrozen = tiny_dino()  # default 0: never frozen
    loss, _ = unfrozen.training_step(views)
    loss.backward()
    unfrozen.on_before_optimizer_step()
    assert unfrozen.student.head.last_layer.parametrizations.weight.original1.grad is not None
