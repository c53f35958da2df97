"""The recommendation: every option's score is the sum of the rules' and the budget's points;
options are ranked best first (ties in the order of :data:`METHODS`), each with its reasons,
caveats and command."""

from __future__ import annotations

from lesson.picker.budget import budget_adjustments
from lesson.picker.commands import command_for
from lesson.picker.inputs import (
    METHOD_LABELS,
    METHODS,
    UNLABELLED_DATA,
    Adjustment,
    PickerInputs,
    Recommendation,
)
from lesson.picker.published import HEADLINES
from lesson.picker.rules import RULES, exclusions

__all__ = ["METHOD_CAVEATS", "recommend"]

METHOD_CAVEATS = {
    "dinov2_linear": ("Check the licence of the DINOv2 weights for your use.",),
    "finetune": ("Measure the frozen linear probe first: fine-tuning must beat it to be worth "
                 "its cost.",),
    "mae": ("Judge MAE by fine-tuning, or probe it with global_pool=avg: its CLS token gets no "
            "direct training signal.",),
    "dino": ("Watch for collapse (the loss flat at log(out_dim)): keep centring and sharpening "
             "on.",),
    "simclr": ("Keep the batch as large as memory allows; smaller batches need a retuned "
               "temperature and learning rate.",),
    "moco": ("MoCo is not implemented in ssl_core: the command runs DINO instead.",),
}



def _fmt(points: float) -> str:
    return f"{points:+g}"


def recommend(inputs: PickerInputs, *, data: str = UNLABELLED_DATA) -> list[Recommendation]:
    """Rank the options for ``inputs``: best first, deterministic, every point explained.

    ``data`` is the pretraining data spec written into the ``ssl_core.pretrain`` commands (an
    image folder, ``cifar10:PATH``, ``stl10:PATH``, ``bundled``...). Options in
    :func:`exclusions` are left out. Scores are sums of :data:`RULES` effects and the budget
    rules; equal scores keep the order of :data:`METHODS`.
    """
    if not isinstance(inputs, PickerInputs):
        raise ValueError(f"inputs must be a PickerInputs; got {type(inputs).__name__}")
    excluded = exclusions(inputs)
    trail: dict[str, list[Adjustment]] = {m: [] for m in METHODS if m not in excluded}
    for rule in RULES:
        if rule.applies(inputs):
            for effect in rule.effects:
                if effect.method in trail:
                    trail[effect.method].append(
                        Adjustment(rule.key, effect.method, effect.points, effect.why))
    for adjustment in budget_adjustments(inputs):
        if adjustment.method in trail:
            trail[adjustment.method].append(adjustment)

    general_caveats: list[str] = []
    if inputs.task == "classification" and inputs.n_labelled == 0:
        general_caveats.append(
            "A classifier needs labels: label at least ~10 images per class for a linear probe "
            "(ssl_core.eval.label_efficiency shows how accuracy grows from 1 to 100 per "
            "class).")

    scored = []
    for method, adjustments in trail.items():
        score = round(sum(a.points for a in adjustments), 6)
        scored.append((-score, METHODS.index(method), method, score, adjustments))
    scored.sort()
    out = []
    for rank, (_, _, method, score, adjustments) in enumerate(scored, start=1):
        reasons = [HEADLINES[method]]
        reasons += [f"{_fmt(a.points)} {a.rule}: {a.why}" for a in adjustments if a.points > 0]
        caveats = [f"{_fmt(a.points)} {a.rule}: {a.why}" for a in adjustments if a.points < 0]
        caveats += list(METHOD_CAVEATS[method]) + general_caveats
        label = METHOD_LABELS[method]
        if method == "finetune":
            label = ("Supervised fine-tuning of DINOv2" if inputs.pretrained_allowed
                     else "Supervised training from scratch")
        command, kind, note = command_for(method, inputs, data)
        out.append(Recommendation(
            method=method, label=label, rank=rank, score=score, reasons=tuple(reasons),
            caveats=tuple(caveats), command=command, command_kind=kind, command_note=note,
            adjustments=tuple(adjustments),
        ))
    return out
