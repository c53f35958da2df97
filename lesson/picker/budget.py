"""The budget rules: the hours available against what each option costs, at stated throughputs.

:func:`budget_adjustments` scores them (points below zero when a pretraining run would be too
short, or embedding / fine-tuning would not fit in the hours); :func:`affordable_epochs` is also
what the commands cap their epochs with.
"""

from __future__ import annotations

from lesson.picker.inputs import Adjustment, PickerInputs

__all__ = [
    "BUDGET_RULES",
    "RECIPE_EPOCHS",
    "THROUGHPUT",
    "affordable_epochs",
    "budget_adjustments",
    "rate",
]

# Rough images per second per device. GPU rows are V100-class at 224 px, derived from published
# wall-clock times: MoCo v2 ResNet-50, 200 epochs of 1.28M images in 53 h on 8 V100s -> ~170/GPU
# (SimCLR's 2 views cost the same); DINO ViT-S/16, 100 epochs in 1.75 days on 8 GPUs -> ~100/GPU;
# MAE ~3x DINO's (the encoder sees 25 % of the patches and there is 1 view, not 10).
# "dinov2_linear" is the forward pass of ViT-S/14 (CPU) or ViT-B/14 (GPU) at 224 px;
# "finetune" a forward + backward pass. CPU rows are ssl_core's tiny 64 px backbones on a
# multi-core desktop CPU: an order of magnitude, no more. Recent GPUs are 2-4x faster than a V100.
THROUGHPUT: dict[str, dict[str, float]] = {
    "cpu": {"simclr": 100.0, "moco": 100.0, "dino": 25.0, "mae": 60.0,
            "dinov2_linear": 20.0, "finetune": 5.0},
    "gpu": {"simclr": 170.0, "moco": 170.0, "dino": 100.0, "mae": 300.0,
            "dinov2_linear": 1000.0, "finetune": 300.0},
}
# Epochs below which a pretraining run is too short (GPU: the published schedules; CPU: a rule of
# thumb for ssl_core's tiny 64 px models, not a published figure).
_MIN_EPOCHS_GPU = {"simclr": 100, "moco": 200, "dino": 100, "mae": 300}
_MIN_EPOCHS_CPU = 10
_WHY_MIN_EPOCHS = {
    "simclr": "SimCLR's default ImageNet schedule is 100 epochs and its best numbers took 800+",
    "moco": "MoCo v2: 67.5 % after 200 epochs, 71.1 % after 800",
    "dino": "the official DINO ViT-S/16 run: 100 epochs for 73.8 % linear",
    "mae": "MAE's published schedules run 800-1600 epochs (each >= 3x cheaper than a full-token "
    "epoch); 300 is the rule of thumb here",
}
# The recipe length the commands never exceed, whatever the budget.
RECIPE_EPOCHS = {"simclr": 800, "moco": 800, "dino": 300, "mae": 1600}
_MIN_FINETUNE_EPOCHS = 10

BUDGET_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "pretraining_budget",
        "always, for mae, dino, simclr and moco",
        "affordable epochs E = hours x 3600 x throughput x devices / images; -2 if E < "
        "minimum / 4, -1 if E < minimum; minimum epochs on GPUs: "
        + ", ".join(f"{m} {e}" for m, e in _MIN_EPOCHS_GPU.items())
        + f"; on a CPU: {_MIN_EPOCHS_CPU} for every method",
    ),
    (
        "off_the_shelf_budget",
        "always, for dinov2_linear and finetune",
        "dinov2_linear: hours to embed the images once (the labelled ones; all of them for "
        "retrieval and correspondence) at its throughput; -2 if more than the hours given. "
        "finetune: epochs over the labelled images at its throughput; -2 if E < 1, -1 if E < "
        f"{_MIN_FINETUNE_EPOCHS}",
    ),
)


def rate(inputs: PickerInputs, method: str) -> float:
    """Images per second over all devices for ``method`` on ``inputs.compute``."""
    table = THROUGHPUT["cpu" if inputs.compute == "cpu" else "gpu"]
    return table[method] * inputs.devices


def affordable_epochs(inputs: PickerInputs, method: str, n_images: int) -> float:
    """Epochs over ``n_images`` that ``inputs.hours`` buy at :func:`rate`."""
    return inputs.hours * 3600.0 * rate(inputs, method) / max(n_images, 1)


def budget_adjustments(inputs: PickerInputs) -> list[Adjustment]:
    """The points :data:`BUDGET_RULES` give each option for ``inputs`` (only the non-zero ones)."""
    adjustments = []
    hardware = "CPU" if inputs.compute == "cpu" else (
        f"{inputs.devices} GPU{'s' if inputs.devices > 1 else ''}")
    for method in ("mae", "dino", "simclr", "moco"):
        epochs = affordable_epochs(inputs, method, inputs.n_total)
        minimum = _MIN_EPOCHS_CPU if inputs.compute == "cpu" else _MIN_EPOCHS_GPU[method]
        why_min = ("below ~10 epochs a tiny encoder barely leaves its random init"
                   if inputs.compute == "cpu" else _WHY_MIN_EPOCHS[method])
        text = (f"{inputs.hours:g} h on {hardware} at ~{rate(inputs, method):,.0f} images/s "
                f"affords ~{epochs:,.1f} epochs over {inputs.n_total:,} images; minimum "
                f"~{minimum} ({why_min}).")
        if epochs < minimum / 4:
            adjustments.append(Adjustment("pretraining_budget", method, -2.0, text))
        elif epochs < minimum:
            adjustments.append(Adjustment("pretraining_budget", method, -1.0, text))

    if inputs.pretrained_allowed:
        embed = (inputs.n_total if inputs.task in ("retrieval", "correspondence")
                 else inputs.n_labelled)
        hours_needed = embed / rate(inputs, "dinov2_linear") / 3600.0
        if hours_needed > inputs.hours:
            adjustments.append(Adjustment(
                "off_the_shelf_budget", "dinov2_linear", -2.0,
                f"embedding {embed:,} images once at ~{rate(inputs, 'dinov2_linear'):,.0f} "
                f"images/s takes ~{hours_needed:,.1f} h, more than the {inputs.hours:g} h given.",
            ))
    if inputs.n_labelled > 0:
        epochs = affordable_epochs(inputs, "finetune", inputs.n_labelled)
        text = (f"{inputs.hours:g} h at ~{rate(inputs, 'finetune'):,.0f} images/s (forward + "
                f"backward) affords ~{epochs:,.1f} epochs over {inputs.n_labelled:,} labelled "
                f"images; fine-tuning recipes run >= {_MIN_FINETUNE_EPOCHS} (MAE's: 50-100).")
        if epochs < 1:
            adjustments.append(Adjustment("off_the_shelf_budget", "finetune", -2.0, text))
        elif epochs < _MIN_FINETUNE_EPOCHS:
            adjustments.append(Adjustment("off_the_shelf_budget", "finetune", -1.0, text))
    return adjustments


