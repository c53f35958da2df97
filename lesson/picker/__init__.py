"""Which self-supervised method to use: a transparent, rule-based recommendation.

Given a few facts about a project (:class:`PickerInputs`: how many unlabelled and labelled images,
what compute for how long, the downstream task, a backbone preference, whether a public
pretrained checkpoint may be used, and whether the images look like natural photos),
:func:`recommend` ranks six options and says why::

    dinov2_linear  DINOv2 off the shelf, frozen, with a linear head (no pretraining run)
    finetune       supervised fine-tuning (of a public checkpoint when allowed, else from scratch)
    mae            MAE pretraining (masked reconstruction)
    dino           DINO pretraining (self-distillation with an EMA teacher)
    simclr         SimCLR pretraining (contrastive, negatives from the batch)
    moco           MoCo v2/v3 (contrastive, negatives from a queue) -- not implemented in ssl_core

Scoring is additive and fully visible: every option starts at 0 and each rule in :data:`RULES`
that applies to the inputs adds or subtracts points for some options, with a sentence that cites
a published number. Two budget rules (:data:`BUDGET_RULES`) then compare the hours available
with what each option costs (epochs affordable at a stated throughput). Hard constraints remove
options entirely (:func:`exclusions`: no DINOv2 without permission to use a public checkpoint,
no fine-tuning without labels). Ties are broken in the fixed order of :data:`METHODS`, so the
ranking is deterministic. :func:`rules_markdown` renders the whole rule book; the prompt
``outputs/prompt-ssl-pretraining-picker.md`` embeds it verbatim (a test keeps them equal).

Every :class:`Recommendation` carries a command that runs it with ssl_core: a
``python3 -m ssl_core.pretrain ...`` line for the pretraining methods (MoCo: the closest ssl_core
method, DINO, and a note saying so), or a short Python script on ssl_core's API for the
off-the-shelf options (the ``ssl_core.probe`` CLI only reads checkpoints written by
``ssl_core.pretrain``); commands inside ``command_note`` are in backticks. Supervised training
from scratch has no ssl_core command: ``command`` is None and ``command_note`` names what to use
instead.

The published numbers the reasons cite are in :data:`PUBLISHED_IMAGENET`: ImageNet-1k accuracies
reported by the papers (not measured by this project), with the paper and table for each.
Throughputs used by the budget rules are rough, stated orders of magnitude
(:data:`THROUGHPUT`); measure yours with ``benchmarks/bench_train_throughput.py``.

Modules: :mod:`~lesson.picker.inputs` (the question and the answer's shape),
:mod:`~lesson.picker.published` (the papers' numbers), :mod:`~lesson.picker.rules` (the rule
book), :mod:`~lesson.picker.budget` (the budget rules), :mod:`~lesson.picker.commands` (what
runs each option) and :mod:`~lesson.picker.scoring` (:func:`recommend`).
"""

from lesson.picker.budget import BUDGET_RULES, THROUGHPUT
from lesson.picker.inputs import (
    BACKBONES,
    COMPUTES,
    DOMAINS,
    GPUS_FOR_MANY,
    LABELLED_TEST,
    LABELLED_TRAIN,
    METHOD_LABELS,
    METHODS,
    TASKS,
    UNLABELLED_DATA,
    Adjustment,
    Effect,
    PickerInputs,
    Recommendation,
    Rule,
)
from lesson.picker.published import LESSON_TABLE, PUBLISHED_IMAGENET, PublishedResult, published
from lesson.picker.rules import RULES, exclusions, rules_markdown
from lesson.picker.scoring import recommend

__all__ = [
    "BACKBONES",
    "BUDGET_RULES",
    "COMPUTES",
    "DOMAINS",
    "GPUS_FOR_MANY",
    "LABELLED_TEST",
    "LABELLED_TRAIN",
    "LESSON_TABLE",
    "METHODS",
    "METHOD_LABELS",
    "PUBLISHED_IMAGENET",
    "RULES",
    "TASKS",
    "THROUGHPUT",
    "UNLABELLED_DATA",
    "Adjustment",
    "Effect",
    "PickerInputs",
    "PublishedResult",
    "Recommendation",
    "Rule",
    "exclusions",
    "published",
    "recommend",
    "rules_markdown",
]
