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
"""

from __future__ import annotations

import json
import math
import numbers
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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

COMPUTES = ("cpu", "one_gpu", "many_gpus")
TASKS = ("classification", "retrieval", "dense", "correspondence")
BACKBONES = ("vit", "cnn", "any")
DOMAINS = ("natural", "other")
# Option keys, in the order that breaks ties (what ssl_core runs directly comes before MoCo).
METHODS = ("dinov2_linear", "finetune", "mae", "dino", "simclr", "moco")
METHOD_LABELS: dict[str, str] = {
    "dinov2_linear": "DINOv2 off the shelf (frozen) + linear head",
    "finetune": "Supervised fine-tuning",
    "mae": "MAE pretraining",
    "dino": "DINO pretraining",
    "simclr": "SimCLR pretraining",
    "moco": "MoCo pretraining (not in ssl_core)",
}
GPUS_FOR_MANY = 8  # "many GPUs" means one node of 8; the commands pass --devices 8

# Placeholders in the commands: replace them with your folders (ssl_core.data.load_image_folder
# layouts: <class>/<image> for labelled sets, flat or <class>/<image> for pretraining).
UNLABELLED_DATA = "path/to/all_images"  # every image, labelled ones too (labels are ignored)
LABELLED_TRAIN = "path/to/labelled/train"
LABELLED_TEST = "path/to/labelled/test"


# ---------------------------------------------------------------------------------------------
# Published reference numbers (ImageNet-1k top-1, %, as reported by the papers; not ours)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedResult:
    """One published ImageNet-1k result: top-1 accuracy in percent, as the paper reports it."""

    key: str
    method: str  # option key in METHODS this result speaks for
    model: str
    linear: float | None  # linear probe on frozen features
    knn: float | None  # k-NN classifier on frozen features
    fine_tuned: float | None  # end-to-end fine-tuning with all ImageNet labels
    citation: str  # paper and table
    note: str = ""


PUBLISHED_IMAGENET: tuple[PublishedResult, ...] = (
    PublishedResult(
        "simclr_v1_r50", "simclr", "SimCLR v1, ResNet-50", 69.3, None, None,
        "Chen, Kornblith, Norouzi & Hinton 2020, 'A Simple Framework for Contrastive Learning "
        "of Visual Representations' (ICML), Table 6",
        "batch 4096 on TPUs",
    ),
    PublishedResult(
        "simclr_v2_r50", "simclr", "SimCLR v2, ResNet-50 (1x, no SK)", 71.7, None, 76.3,
        "Chen, Kornblith, Swersky, Norouzi & Hinton 2020, 'Big Self-Supervised Models are Strong "
        "Semi-Supervised Learners' (NeurIPS), Table 1",
        "the lesson's '~71 %'; the same table: 57.9 fine-tuned on 1 % of the labels, 76.6 "
        "supervised from scratch on all labels",
    ),
    PublishedResult(
        "moco_v2_r50", "moco", "MoCo v2, ResNet-50, 800 epochs", 71.1, None, None,
        "Chen, Fan, Girshick & He 2020, 'Improved Baselines with Momentum Contrastive Learning' "
        "(arXiv:2003.04297), Table 2",
        "batch 256 on 8 GPUs: the queue of 65,536 keys supplies the negatives; 67.5 after 200 "
        "epochs",
    ),
    PublishedResult(
        "dino_vits16", "dino", "DINO, ViT-S/16", 77.0, 74.5, None,
        "Caron et al. 2021, 'Emerging Properties in Self-Supervised Vision Transformers' "
        "(ICCV), Table 2",
        "the lesson's '~77 %'; DINO with a ResNet-50: 75.3 linear (same table)",
    ),
    PublishedResult(
        "mae_vitl16", "mae", "MAE, ViT-L/16, 1600 epochs", 75.8, None, 85.9,
        "He, Chen, Xie, Li, Dollar & Girshick 2022, 'Masked Autoencoders Are Scalable Vision "
        "Learners' (CVPR): fine-tuned, Table 3; linear, the paper's figure as listed in the "
        "official repository's FINETUNE.md",
        "the lesson's '~76 %': weak frozen, strong fine-tuned; ViT-B 68.0 linear / 83.6 "
        "fine-tuned, ViT-H 86.9 fine-tuned",
    ),
    PublishedResult(
        "dinov2_vitg14", "dinov2_linear", "DINOv2, ViT-g/14", 86.5, 83.5, None,
        "Oquab et al. 2023, 'DINOv2: Learning Robust Visual Features without Supervision' "
        "(TMLR 2024), Table 4",
        "the lesson's '~86 %'; pretrained on LVD-142M (142M curated images)",
    ),
    PublishedResult(
        "dinov2_vits14", "dinov2_linear", "DINOv2, ViT-S/14 distilled (facebook/dinov2-small)",
        81.1, 79.0, None,
        "Oquab et al. 2023, distilled models; the official repository's model table",
        "21M parameters: the one that runs on a CPU",
    ),
)
# The four rows of the lesson's table (SimCLR ~71, DINO ~77, MAE ~76, DINOv2 ~86).
LESSON_TABLE: tuple[str, ...] = ("simclr_v2_r50", "dino_vits16", "mae_vitl16", "dinov2_vitg14")


def published(key: str) -> PublishedResult:
    """The row of :data:`PUBLISHED_IMAGENET` with this key."""
    for row in PUBLISHED_IMAGENET:
        if row.key == key:
            return row
    known = ", ".join(row.key for row in PUBLISHED_IMAGENET)
    raise ValueError(f"no published result {key!r}; known: {known}")


# The headline line each option's reasons start with.
_HEADLINE: dict[str, str] = {
    "dinov2_linear": "Published ImageNet linear probe (the papers' numbers, not ours): DINOv2 "
    "ViT-g/14 86.5 %, ViT-S/14 81.1 % on frozen features (Oquab et al. 2023, Table 4).",
    "finetune": "Published ImageNet fine-tuning (the papers' numbers, not ours): MAE ViT-L/16 "
    "85.9 % fine-tuned vs 75.8 % linear (He et al. 2022); with all labels, supervised ResNet-50 "
    "76.6 % vs SimCLR v2 + fine-tuning 76.3 % (Chen et al. 2020b, Table 1).",
    "mae": "Published ImageNet numbers (not ours): MAE ViT-L/16 75.8 % linear, 85.9 % fine-tuned "
    "(He et al. 2022): weak frozen, strong fine-tuned.",
    "dino": "Published ImageNet numbers (not ours): DINO ViT-S/16 77.0 % linear, 74.5 % k-NN "
    "(Caron et al. 2021, Table 2).",
    "simclr": "Published ImageNet linear probe (not ours): SimCLR ResNet-50 71.7 % (v2, Chen et "
    "al. 2020b, Table 1; v1: 69.3 %, Table 6), with batch 4096.",
    "moco": "Published ImageNet linear probe (not ours): MoCo v2 ResNet-50 71.1 % after 800 "
    "epochs with batch 256 (Chen et al. 2020, Table 2).",
}


# ---------------------------------------------------------------------------------------------
# Inputs and outputs
# ---------------------------------------------------------------------------------------------


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a whole number of images >= 0; got {value!r}")


@dataclass(frozen=True)
class PickerInputs:
    """What the picker needs to know about a project.

    ``n_unlabelled`` / ``n_labelled``: image counts (the labelled images can be used for
    pretraining too, so the pretraining set is their sum). ``compute``: ``"cpu"``, ``"one_gpu"``
    or ``"many_gpus"`` (one node of :data:`GPUS_FOR_MANY`); ``hours``: wall-clock hours on it.
    ``task``: ``"classification"``, ``"retrieval"``, ``"dense"`` (detection / segmentation) or
    ``"correspondence"`` (matching points or parts across images, video propagation).
    ``backbone``: ``"vit"``, ``"cnn"`` or ``"any"``. ``pretrained_allowed``: whether a public
    checkpoint (DINOv2) may be used. ``image_domain``: ``"natural"`` photos, or ``"other"``
    (medical, satellite, microscopy, grayscale documents...), where off-the-shelf features
    trained on photos lose part of their edge.
    """

    n_unlabelled: int
    n_labelled: int
    compute: str = "one_gpu"
    hours: float = 24.0
    task: str = "classification"
    backbone: str = "any"
    pretrained_allowed: bool = True
    image_domain: str = "natural"

    def __post_init__(self) -> None:
        _check_count("n_unlabelled", self.n_unlabelled)
        _check_count("n_labelled", self.n_labelled)
        # numpy integers and floats (from a widget or a table) are stored as plain Python numbers
        object.__setattr__(self, "n_unlabelled", int(self.n_unlabelled))
        object.__setattr__(self, "n_labelled", int(self.n_labelled))
        if self.n_unlabelled + self.n_labelled == 0:
            raise ValueError(
                "there are no images (n_unlabelled = n_labelled = 0); give at least one count > 0"
            )
        _check_choice("compute", self.compute, COMPUTES)
        if isinstance(self.hours, bool) or not isinstance(self.hours, numbers.Real):
            raise ValueError(f"hours must be a number of hours > 0; got {self.hours!r}")
        if not (math.isfinite(self.hours) and self.hours > 0):
            raise ValueError(f"hours must be a finite number of hours > 0; got {self.hours!r}")
        object.__setattr__(self, "hours", float(self.hours))
        _check_choice("task", self.task, TASKS)
        _check_choice("backbone", self.backbone, BACKBONES)
        if not isinstance(self.pretrained_allowed, bool):
            raise ValueError(
                f"pretrained_allowed must be True or False; got {self.pretrained_allowed!r}"
            )
        _check_choice("image_domain", self.image_domain, DOMAINS)

    @property
    def n_total(self) -> int:
        """Images available for self-supervised pretraining (labels ignored)."""
        return self.n_unlabelled + self.n_labelled

    @property
    def labelled_fraction(self) -> float:
        """Share of the images that carry a label, in [0, 1]."""
        return self.n_labelled / self.n_total

    @property
    def devices(self) -> int:
        """Accelerators the commands use (1 for a CPU: one process)."""
        return GPUS_FOR_MANY if self.compute == "many_gpus" else 1


@dataclass(frozen=True)
class Effect:
    """Points a rule gives one option, and why (a sentence citing a number or a paper)."""

    method: str
    points: float
    why: str


@dataclass(frozen=True)
class Rule:
    """A scoring rule: when ``applies(inputs)``, each effect adds its points to its option."""

    key: str
    when: str  # the condition in words, as the rule book shows it
    effects: tuple[Effect, ...]
    applies: Callable[[PickerInputs], bool] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Adjustment:
    """One line of an option's score: which rule gave how many points, and why."""

    rule: str
    method: str
    points: float
    why: str


@dataclass(frozen=True)
class Recommendation:
    """One ranked option.

    ``reasons`` are the published headline and the rules that raised the score; ``caveats`` the
    rules that lowered it plus what to watch for. ``command`` is a shell command line
    (``command_kind == "pretrain"``: ``python3 -m ssl_core.pretrain ...``) or a Python script
    (``"python"``: run it with ``python3 -``), or None (``"none"``) when ssl_core has nothing
    that runs this option; ``command_note`` says what the command does and what it does not.
    ``adjustments`` is the full scoring trail (``score == sum of their points``).
    """

    method: str
    label: str
    rank: int
    score: float
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]
    command: str | None
    command_kind: str
    command_note: str
    adjustments: tuple[Adjustment, ...]


# ---------------------------------------------------------------------------------------------
# The rule book
# ---------------------------------------------------------------------------------------------

_MAE_GAP = "75.8 % linear vs 85.9 % fine-tuned for ViT-L/16 (He et al. 2022)"

RULES: tuple[Rule, ...] = (
    Rule(
        "checkpoint_natural_images",
        "a public checkpoint is allowed and the images are natural photos",
        (
            Effect("dinov2_linear", 4.0,
                   "DINOv2's frozen features reach 86.5 % ImageNet linear accuracy (ViT-g/14; "
                   "81.1 % for the 21M-parameter ViT-S/14) after pretraining on 142M curated "
                   "images (Oquab et al. 2023): no pretraining run on a project budget gets "
                   "close on natural photos."),
            Effect("finetune", 1.0,
                   "fine-tuning can start from DINOv2's weights (already 86.5 % linear) instead "
                   "of from scratch."),
        ),
        lambda i: i.pretrained_allowed and i.image_domain == "natural",
    ),
    Rule(
        "checkpoint_other_domain",
        "a public checkpoint is allowed but the images are not natural photos",
        (
            Effect("dinov2_linear", 1.5,
                   "still the cheapest strong baseline (one forward pass per image; 81.1 % on "
                   "ImageNet for ViT-S/14), but DINOv2 saw 142M natural photos: expect less on "
                   "medical, satellite or grayscale images, and measure it before pretraining."),
            Effect("finetune", 1.5,
                   "fine-tuning adapts a public checkpoint to a shifted domain; DINOv2's model "
                   "card reports +2 % from fine-tuning even on ImageNet itself."),
        ),
        lambda i: i.pretrained_allowed and i.image_domain == "other",
    ),
    Rule(
        "in_domain_pretraining",
        "the images are not natural photos and there are >= 100,000 of them",
        (
            Effect("mae", 1.0,
                   "with >= 100,000 images of a domain that photo-trained models never saw, "
                   "pretraining on your own images pays off; MAE learns from pixels alone, no "
                   "photo-specific augmentation (75 % of patches masked)."),
            Effect("dino", 1.0,
                   "with >= 100,000 in-domain images, DINO pretraining on them learns the "
                   "domain's own features (check that its 2 + 8 crops suit your images)."),
            Effect("simclr", 0.5,
                   "with >= 100,000 in-domain images, contrastive pretraining on them helps, "
                   "if its augmentations (colour jitter, 8-100 % crops) fit the domain."),
            Effect("moco", 0.5,
                   "with >= 100,000 in-domain images, contrastive pretraining on them helps, "
                   "if its augmentations fit the domain."),
        ),
        lambda i: i.image_domain == "other" and i.n_total >= 100_000,
    ),
    Rule(
        "task_classification",
        "the task is image classification",
        (
            Effect("dinov2_linear", 1.0,
                   "a linear head on frozen features is exactly DINOv2's published protocol "
                   "(86.5 % ImageNet linear)."),
            Effect("dino", 1.0,
                   "DINO's features are linearly separable and cluster by class: 77.0 % linear "
                   "and 74.5 % k-NN for ViT-S/16 (Caron et al. 2021, Table 2)."),
            Effect("mae", -1.0,
                   f"MAE features need fine-tuning to classify well: {_MAE_GAP}."),
        ),
        lambda i: i.task == "classification",
    ),
    Rule(
        "task_retrieval",
        "the task is retrieval (nearest neighbours on embeddings)",
        (
            Effect("dinov2_linear", 1.5,
                   "retrieval is nearest neighbours on frozen features: DINOv2 ViT-g/14 reaches "
                   "83.5 % ImageNet k-NN accuracy, close to its 86.5 % linear."),
            Effect("dino", 1.5,
                   "DINO ViT-S/16's k-NN accuracy (74.5 %) is within 2.5 points of its linear "
                   "probe (77.0 %): its embedding space is already organised by similarity."),
            Effect("simclr", 0.5,
                   "InfoNCE trains cosine similarity between 2 views directly, which is what "
                   "retrieval ranks by (71.7 % linear, ResNet-50)."),
            Effect("moco", 0.5,
                   "InfoNCE trains cosine similarity directly, which is what retrieval ranks by "
                   "(MoCo v2 71.1 % linear, ResNet-50)."),
            Effect("mae", -2.0,
                   f"nearest neighbours on frozen MAE features are weak: {_MAE_GAP}."),
            Effect("finetune", -1.0,
                   "retrieval rarely has class labels to fine-tune on, and a head trained on C "
                   "classes keeps about C - 1 useful directions, little of what separates 2 "
                   "images of one class."),
        ),
        lambda i: i.task == "retrieval",
    ),
    Rule(
        "task_dense",
        "the task is dense: detection or segmentation",
        (
            Effect("mae", 2.0,
                   "MAE transfers best to detection and segmentation once fine-tuned: with "
                   "ViT-L it beats supervised pre-training on COCO and ADE20K (He et al. 2022, "
                   "Tables 4-5)."),
            Effect("finetune", 1.5,
                   "dense heads are trained end to end on masks or boxes anyway: every "
                   "detection and segmentation transfer result in He et al. 2022 (Tables 4-5) "
                   "fine-tunes the backbone."),
            Effect("dinov2_linear", 1.0,
                   "DINOv2's frozen patch tokens carry linear segmentation and depth heads "
                   "(official linear heads for ADE20K, VOC 2012, NYUd and KITTI)."),
            Effect("moco", 0.5,
                   "MoCo's features transfer to detection: it beat supervised ImageNet "
                   "pre-training on 7 detection/segmentation tasks (He et al. 2020)."),
            Effect("simclr", -1.5,
                   "SimCLR's loss sees 1 pooled vector per view, so nothing asks its spatial "
                   "features to be precise."),
        ),
        lambda i: i.task == "dense",
    ),
    Rule(
        "task_correspondence",
        "the task is dense correspondence (matching parts across images, video propagation)",
        (
            Effect("dinov2_linear", 2.0,
                   "DINOv2's patch features match object parts across images and poses with no "
                   "training at all (Oquab et al. 2023, Fig. 1)."),
            Effect("dino", 2.0,
                   "DINO's ViT patch features segment objects without labels and propagate "
                   "video masks by nearest neighbours (DAVIS 2017; Caron et al. 2021)."),
            Effect("mae", -1.0,
                   f"frozen MAE features are weak ({_MAE_GAP}) and correspondence has no labels "
                   "to fine-tune with."),
            Effect("moco", -1.5,
                   "a contrastive loss on 1 pooled vector per view gives patch-level matching "
                   "no direct signal."),
            Effect("simclr", -2.0,
                   "SimCLR compares 1 pooled vector per view: patch-level matching gets no "
                   "direct signal."),
            Effect("finetune", -3.0,
                   "correspondence has no class labels; fine-tuning for 1 classification task "
                   "washes out patch-level detail."),
        ),
        lambda i: i.task == "correspondence",
    ),
    Rule(
        "cpu_only",
        "the compute is a CPU",
        (
            Effect("dinov2_linear", 1.5,
                   "off-the-shelf features cost 1 forward pass per image (no backward pass, no "
                   "100s of epochs); DINOv2 ViT-S/14 has 21M parameters, fine on a CPU."),
            Effect("mae", 1.0,
                   "MAE's encoder sees only the 25 % visible patches (mask ratio 0.75), which "
                   "made pretraining >= 3x faster in He et al. 2022; on ssl_core's tiny CPU ViTs "
                   "the decoder is a bigger share, so measure with "
                   "benchmarks/bench_train_throughput.py."),
            Effect("dino", -1.5,
                   "DINO's multi-crop encodes 2 global + 8 local crops per image (10 views vs "
                   "SimCLR's 2), the slowest per image on a CPU."),
            Effect("finetune", -1.0,
                   "fine-tuning back-propagates through the whole network at every step, about "
                   "3x the cost of the 1 forward pass a linear probe needs."),
        ),
        lambda i: i.compute == "cpu",
    ),
    Rule(
        "one_gpu",
        "the compute is one GPU",
        (
            Effect("moco", 1.5,
                   "MoCo keeps 65,536 negatives in a queue, decoupled from the batch: MoCo v2 "
                   "reached 71.1 % with batch 256 (Chen et al. 2020, Table 2), the contrastive "
                   "method for one GPU."),
            Effect("mae", 0.5,
                   "MAE encodes 25 % of the patches, >= 3x faster per epoch (He et al. 2022), so "
                   "one GPU goes further."),
            Effect("dino", 0.5,
                   "DINO needs no negatives and trains with small batches (the official 8-GPU "
                   "ViT-S/16 run: 100 epochs in 1.75 days, 73.8 % linear)."),
            Effect("simclr", -1.5,
                   "SimCLR's published results use batch 4096 (69.3 % v1, 71.7 % v2); one GPU "
                   "fits about 256-512 images of 224 px, 8-16x fewer negatives per step (a "
                   "retuned temperature and 3-layer head close part of the gap)."),
        ),
        lambda i: i.compute == "one_gpu",
    ),
    Rule(
        "many_gpus",
        f"the compute is many GPUs (a node of {GPUS_FOR_MANY})",
        (
            Effect("mae", 1.0,
                   "MAE scales with model size: fine-tuned 83.6 % (ViT-B), 85.9 % (ViT-L), "
                   "86.9 % (ViT-H) on ImageNet (He et al. 2022)."),
            Effect("dino", 1.0,
                   "DINO's recipes are written for 8-16 GPUs (ViT-S/16: 77.0 % linear)."),
            Effect("simclr", 0.5,
                   f"{GPUS_FOR_MANY} GPUs x 512 images reach SimCLR's 4096 batch; ssl_core's "
                   "SimCLR gathers the negatives across GPUs."),
        ),
        lambda i: i.compute == "many_gpus",
    ),
    Rule(
        "few_images",
        "fewer than 10,000 images in all",
        (
            Effect("dinov2_linear", 1.0,
                   "with < 10,000 images, a model pretrained on 142M images has seen far more "
                   "than a pretraining run on your data can teach."),
            Effect("simclr", 0.5,
                   "with < 10,000 images, SimCLR with strong augmentation on a small CNN is the "
                   "safest from-scratch choice (its 69.3-71.7 % are ResNet-50 numbers)."),
            Effect("dino", -0.5,
                   "DINO's published ViTs trained on 1.28M images; with < 10,000 use a small "
                   "backbone and strong augmentation."),
            Effect("mae", -2.0,
                   "MAE's results come from 1.28M images and 800-1600 epochs of large ViTs; "
                   "with < 10,000 images a ViT without convolutional priors overfits."),
        ),
        lambda i: i.n_total < 10_000,
    ),
    Rule(
        "many_images",
        "1,000,000 images or more",
        (
            Effect("mae", 1.0,
                   "MAE was built for >= 1M images and scales with data and model (ViT-H "
                   "86.9 % fine-tuned)."),
            Effect("dino", 1.0,
                   "DINO reaches 77.0 % (ViT-S/16) to 80.1 % (ViT-B/8) linear on 1.28M images "
                   "and improves with scale."),
            Effect("simclr", -0.5,
                   "at >= 1M images SimCLR needs its 4096 batch and 800+ epochs for 69.3-71.7 %; "
                   "DINO and MAE get more per GPU-hour."),
        ),
        lambda i: i.n_total >= 1_000_000,
    ),
    Rule(
        "few_labels_from_scratch",
        "fewer than 1,000 labels (or < 1 % of the images) and no public checkpoint",
        (
            Effect("finetune", -3.0,
                   "supervised training from scratch on < 1,000 labels overfits: this is the "
                   "case self-supervision exists for (SimCLR v2 ResNet-50 with 1 % of ImageNet's "
                   "labels: 57.9 % after SSL + fine-tuning, Chen et al. 2020b, Table 1)."),
        ),
        lambda i: (not i.pretrained_allowed and i.n_labelled > 0
                   and (i.n_labelled < 1_000 or i.labelled_fraction < 0.01)),
    ),
    Rule(
        "few_labels_with_checkpoint",
        "fewer than 1,000 labels (or < 1 % of the images) and a public checkpoint",
        (
            Effect("finetune", -1.0,
                   "with < 1,000 labels, fine-tuning all weights gains little over a linear "
                   "head and risks overfitting; DINOv2's model card measured only +2 % from "
                   "fine-tuning with all 1.28M ImageNet labels."),
        ),
        lambda i: (i.pretrained_allowed and i.n_labelled > 0
                   and (i.n_labelled < 1_000 or i.labelled_fraction < 0.01)),
    ),
    Rule(
        "mostly_labelled",
        "at least half of the images are labelled and there are >= 10,000 labels",
        (
            Effect("finetune", 2.5,
                   "most images are labelled, so supervised training uses all of that signal: "
                   "with 100 % of ImageNet's labels, supervised ResNet-50 (76.6 %) matches SimCLR "
                   "v2 pretraining + fine-tuning (76.3 %) (Chen et al. 2020b, Table 1)."),
        ),
        lambda i: i.labelled_fraction >= 0.5 and i.n_labelled >= 10_000,
    ),
    Rule(
        "many_labels",
        "at least half of the images are labelled and there are >= 100,000 labels",
        (
            Effect("finetune", 1.0,
                   ">= 100,000 labels train a network end to end; MAE's 85.9 % is itself a "
                   "fine-tuning result on ImageNet's 1.28M labels."),
        ),
        lambda i: i.labelled_fraction >= 0.5 and i.n_labelled >= 100_000,
    ),
    Rule(
        "prefer_cnn",
        "the backbone must be a CNN",
        (
            Effect("simclr", 1.0,
                   "SimCLR's published numbers are ResNet-50's (69.3 % v1, 71.7 % v2)."),
            Effect("moco", 1.0, "MoCo v2's 71.1 % is a ResNet-50's."),
            Effect("dino", 0.5,
                   "DINO also trains ResNet-50 (75.3 % linear, Caron et al. 2021, Table 2; "
                   "batch-norm in the head)."),
            Effect("mae", -2.0,
                   "MAE drops the masked tokens, which a CNN cannot: ssl_core's conv analogue "
                   "(unet_mae) blanks them and pays for every pixel, losing MAE's >= 3x "
                   "speed-up."),
            Effect("dinov2_linear", -3.0,
                   "DINOv2 exists only as ViTs (ViT-S/14 to ViT-g/14)."),
        ),
        lambda i: i.backbone == "cnn",
    ),
    Rule(
        "prefer_vit",
        "the backbone must be a ViT",
        (
            Effect("dino", 0.5,
                   "DINO was designed for ViTs (ViT-S/16: 77.0 % linear)."),
            Effect("mae", 0.5,
                   "MAE is a ViT method (it encodes only visible tokens): ViT-L/16 85.9 % "
                   "fine-tuned."),
            Effect("simclr", -0.5,
                   "SimCLR was tuned on ResNet-50 (69.3-71.7 %); contrastive ViTs needed extra "
                   "stabilisation (MoCo v3, 2021)."),
            Effect("moco", -0.5,
                   "MoCo v2 was tuned on ResNet-50 (71.1 %); ViTs needed MoCo v3's 2021 "
                   "stabilisation tricks."),
        ),
        lambda i: i.backbone == "vit",
    ),
)


# ---------------------------------------------------------------------------------------------
# Budget rules: hours available vs. what each option costs
# ---------------------------------------------------------------------------------------------

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
_RECIPE_EPOCHS = {"simclr": 800, "moco": 800, "dino": 300, "mae": 1600}
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


def _rate(inputs: PickerInputs, method: str) -> float:
    """Images per second over all devices for ``method`` on ``inputs.compute``."""
    table = THROUGHPUT["cpu" if inputs.compute == "cpu" else "gpu"]
    return table[method] * inputs.devices


def _affordable_epochs(inputs: PickerInputs, method: str, n_images: int) -> float:
    return inputs.hours * 3600.0 * _rate(inputs, method) / max(n_images, 1)


def _budget_adjustments(inputs: PickerInputs) -> list[Adjustment]:
    adjustments = []
    hardware = "CPU" if inputs.compute == "cpu" else (
        f"{inputs.devices} GPU{'s' if inputs.devices > 1 else ''}")
    for method in ("mae", "dino", "simclr", "moco"):
        epochs = _affordable_epochs(inputs, method, inputs.n_total)
        minimum = _MIN_EPOCHS_CPU if inputs.compute == "cpu" else _MIN_EPOCHS_GPU[method]
        why_min = ("below ~10 epochs a tiny encoder barely leaves its random init"
                   if inputs.compute == "cpu" else _WHY_MIN_EPOCHS[method])
        text = (f"{inputs.hours:g} h on {hardware} at ~{_rate(inputs, method):,.0f} images/s "
                f"affords ~{epochs:,.1f} epochs over {inputs.n_total:,} images; minimum "
                f"~{minimum} ({why_min}).")
        if epochs < minimum / 4:
            adjustments.append(Adjustment("pretraining_budget", method, -2.0, text))
        elif epochs < minimum:
            adjustments.append(Adjustment("pretraining_budget", method, -1.0, text))

    if inputs.pretrained_allowed:
        embed = (inputs.n_total if inputs.task in ("retrieval", "correspondence")
                 else inputs.n_labelled)
        hours_needed = embed / _rate(inputs, "dinov2_linear") / 3600.0
        if hours_needed > inputs.hours:
            adjustments.append(Adjustment(
                "off_the_shelf_budget", "dinov2_linear", -2.0,
                f"embedding {embed:,} images once at ~{_rate(inputs, 'dinov2_linear'):,.0f} "
                f"images/s takes ~{hours_needed:,.1f} h, more than the {inputs.hours:g} h given.",
            ))
    if inputs.n_labelled > 0:
        epochs = _affordable_epochs(inputs, "finetune", inputs.n_labelled)
        text = (f"{inputs.hours:g} h at ~{_rate(inputs, 'finetune'):,.0f} images/s (forward + "
                f"backward) affords ~{epochs:,.1f} epochs over {inputs.n_labelled:,} labelled "
                f"images; fine-tuning recipes run >= {_MIN_FINETUNE_EPOCHS} (MAE's: 50-100).")
        if epochs < 1:
            adjustments.append(Adjustment("off_the_shelf_budget", "finetune", -2.0, text))
        elif epochs < _MIN_FINETUNE_EPOCHS:
            adjustments.append(Adjustment("off_the_shelf_budget", "finetune", -1.0, text))
    return adjustments


def rules_markdown() -> str:
    """The rule book as Markdown: every scoring rule with its condition and points, the budget
    rules with the throughputs they assume, the hard constraints and the tie order."""
    lines = ["| rule | when | points |", "| --- | --- | --- |"]
    for rule in RULES:
        points = ", ".join(f"{e.method} {e.points:+g}" for e in rule.effects)
        lines.append(f"| {rule.key} | {rule.when} | {points} |")
    for key, when, points in BUDGET_RULES:
        lines.append(f"| {key} | {when} | {points} |")
    methods = list(THROUGHPUT["gpu"])
    lines += [
        "",
        "Throughput assumed by the budget rules (images/s per device; many GPUs = "
        f"{GPUS_FOR_MANY} devices):",
        "",
        "| compute | " + " | ".join(methods) + " |",
        "| --- | " + " | ".join("---:" for _ in methods) + " |",
    ]
    for compute, rates in THROUGHPUT.items():
        lines.append(f"| {compute} | " + " | ".join(f"{rates[m]:g}" for m in methods) + " |")
    lines += [
        "",
        "Hard constraints (the option is not offered): "
        + "; ".join(f"{m} {why}" for m, why in _EXCLUSION_TEXT.items())
        + ". Ties are broken in this order: " + ", ".join(METHODS) + ".",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Exclusions and commands
# ---------------------------------------------------------------------------------------------

_EXCLUSION_TEXT = {
    "dinov2_linear": "needs permission to use a public pretrained checkpoint",
    "finetune": "needs at least one labelled image",
}


def exclusions(inputs: PickerInputs) -> dict[str, str]:
    """Options that cannot be offered for ``inputs``, with the reason (hard constraints)."""
    out = {}
    if not inputs.pretrained_allowed:
        out["dinov2_linear"] = (
            "a public pretrained checkpoint may not be used, and DINOv2 off the shelf is one"
        )
    if inputs.n_labelled == 0:
        out["finetune"] = "there are no labelled images to fine-tune with"
    return out


_HF_MODEL = {"cpu": "facebook/dinov2-small", "gpu": "facebook/dinov2-base"}

_SCRIPT_HEAD = '''\
# {title}
# Needs transformers (pip install transformers); the first run downloads the weights.
{imports}
MODEL = "{model}"  # {model_note}
{data_lines}
DEVICE = "{device}"

# One shape per batch (the encoder then resizes to its own input size and normalises).
size = v2.Compose([v2.Resize(224), v2.CenterCrop(224)])
encoder = load_hf_encoder(MODEL, local_only=False, device=DEVICE)
'''

_SCRIPT_BODY = {
    "classification": '''\
x_train, y_train = extract_features(encoder, load_image_folder(TRAIN, size))  # (N, D), (N,)
x_test, y_test = extract_features(encoder, load_image_folder(TEST, size))  # (M, D), (M,)
probe = linear_probe(x_train, y_train, x_test, y_test)
knn = knn_accuracy(x_train, y_train, x_test, y_test, k=min(20, len(y_train)))
print(f"linear probe {probe.accuracy:.3f}, k-NN {knn:.3f}; {probe.protocol}")
''',
    "retrieval": '''\
gallery, _ = extract_features(encoder, load_image_folder(IMAGES, size))  # (N, D)
indices, scores = retrieve(gallery[:5], gallery, k=min(5, len(gallery)))  # (5, k) each
print("the 5 nearest images of the first 5 queries:", indices.tolist())
''',
    "dense": '''\
images = load_image_folder(IMAGES, size)
x = torch.stack([images[i][0] for i in range(min(8, len(images)))]).float() / 255  # (B, 3, H, W)
with torch.inference_mode():
    tokens = encoder.patch_tokens(x.to(DEVICE))  # (B, L, D): one vector per patch
h, w = encoder.grid_size
print(f"patch features {tuple(tokens.shape)} on a {h}x{w} grid: train a linear layer "
      "(D -> classes) per patch on your masks, or a detection head on the grid")
''',
    "correspondence": '''\
images = load_image_folder(IMAGES, size)
x = torch.stack([images[0][0], images[1][0]]).float() / 255  # (2, 3, H, W): a pair to match
with torch.inference_mode():
    tokens = encoder.patch_tokens(x.to(DEVICE))  # (2, L, D)
a, b = torch.nn.functional.normalize(tokens, dim=-1)  # (L, D) each
matches = (a @ b.T).argmax(dim=1)  # (L,): for each patch of image 0, its best patch in image 1
heat = patch_similarity(tokens[0, 0], tokens[1], encoder.grid_size)  # (h, w) map for patch 0
print("best matches of the first 8 patches:", matches[:8].tolist(), "heat map", heat.shape)
''',
}

_SCRIPT_IMPORTS = {
    "classification": "extract_features, knn_accuracy, linear_probe",
    "retrieval": "extract_features, retrieve",
    "dense": "",  # the body uses the encoder's patch tokens directly
    "correspondence": "patch_similarity",
}


def _script_imports(task: str) -> str:
    """The import block of a script, sorted as ruff's isort would."""
    third_party = (["import torch"] if task in ("dense", "correspondence") else [])
    third_party.append("from torchvision.transforms import v2")
    first_party = ["from ssl_core.data import load_image_folder"]
    if _SCRIPT_IMPORTS[task]:
        first_party.append(f"from ssl_core.eval import {_SCRIPT_IMPORTS[task]}")
    first_party.append("from ssl_core.models.hf import load_hf_encoder")
    return "\n".join(third_party) + "\n\n" + "\n".join(first_party) + "\n"


def _python_script(inputs: PickerInputs, *, title: str) -> str:
    gpu = inputs.compute != "cpu"
    if inputs.task == "classification":
        data_lines = (f'TRAIN = "{LABELLED_TRAIN}"  # <class>/<image> folders\n'
                      f'TEST = "{LABELLED_TEST}"')
    else:
        data_lines = f'IMAGES = "{UNLABELLED_DATA}"  # a folder of images (flat or <class>/)'
    head = _SCRIPT_HEAD.format(
        title=title,
        imports=_script_imports(inputs.task),
        model=_HF_MODEL["gpu" if gpu else "cpu"],
        model_note=("ViT-B/14, 84.5 % ImageNet linear (dinov2-large: 86.3 %)"
                    if gpu else "ViT-S/14, 81.1 % ImageNet linear, fine on a CPU"),
        data_lines=data_lines,
        device="cuda" if gpu else "cpu",
    )
    return head + "\n" + _SCRIPT_BODY[inputs.task]


def _kv(options: Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` words as the pretrain CLI parses them: JSON values, plain words for text."""
    return [f"{key}={value}" if isinstance(value, str)
            else f"{key}={json.dumps(value, separators=(',', ':'))}"
            for key, value in options.items()]


def _pretrain_setup(method: str, inputs: PickerInputs) -> dict[str, Any]:
    """Backbone, overrides and batch size of the ssl_core run for ``method`` on ``inputs``."""
    cpu = inputs.compute == "cpu"
    many = inputs.compute == "many_gpus"
    ssl_method = "dino" if method == "moco" else method
    use_cnn = inputs.backbone == "cnn" or (inputs.backbone == "any" and method in ("simclr",
                                                                                   "moco"))
    backbone_kwargs: dict[str, Any] = {}
    method_config: dict[str, Any] = {}
    augment: dict[str, Any] = {}
    if ssl_method == "mae" and use_cnn:
        ssl_method = "unet_mae"
        backbone = "unet_tiny_rgb"
        if not cpu:
            backbone_kwargs = {"img_size": 224}
            method_config = {"patch_size": 16}
    elif use_cnn:
        backbone = "cnn_small_rgb"
        if not cpu:  # a ResNet-18-shaped network at 224 px
            backbone_kwargs = {"img_size": 224, "widths": [64, 128, 256, 512],
                               "blocks_per_stage": 2}
    else:
        backbone = "vit_tiny_p8_64" if cpu else "vit_tiny_p16_224"
        if not cpu:
            # ViT-S/16 (DINO's 77.0 % model); MAE on many GPUs: ViT-B/16.
            big = ssl_method == "mae" and many
            backbone_kwargs = ({"embed_dim": 768, "num_heads": 12} if big
                               else {"embed_dim": 384, "num_heads": 6})
        if ssl_method == "mae":
            backbone_kwargs["global_pool"] = "avg"  # mean patch token: better frozen MAE features
    if ssl_method == "simclr":
        batch = 256 if cpu else 512
        if inputs.compute == "one_gpu":
            method_config = {"proj_layers": 3}  # SimCLR v2's deeper head helps small batches
    elif ssl_method == "dino":
        batch = 64 if cpu else 128
        if cpu:
            augment = {"n_local": 4}  # half the local crops: ~2x faster CPU steps
        else:
            method_config = {"out_dim": 65536, "head_hidden_dim": 2048,
                             "head_bottleneck_dim": 256}
            if use_cnn:
                method_config["head_use_bn"] = True  # the official ResNet setting
    elif ssl_method == "mae":
        batch = 256
        if many:
            method_config = {"decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16,
                             "norm_pix": True}
        elif not cpu:
            method_config = {"decoder_dim": 256, "decoder_depth": 4, "decoder_heads": 8,
                             "norm_pix": True}
    else:  # unet_mae
        batch = 128 if cpu else 256
    return {"method": ssl_method, "backbone": backbone, "backbone_kwargs": backbone_kwargs,
            "method_config": method_config, "augment": augment, "batch_size": batch}


def _pretrain_command(method: str, inputs: PickerInputs, data: str) -> str:
    setup = _pretrain_setup(method, inputs)
    runs = "dino" if method == "moco" else method  # the epochs of what the command really runs
    epochs = _affordable_epochs(inputs, runs, inputs.n_total)
    epochs = max(1, min(_RECIPE_EPOCHS[runs], math.floor(epochs)))
    words = ["python3", "-m", "ssl_core.pretrain", "--method", setup["method"],
             "--backbone", setup["backbone"]]
    for flag, key in (("--backbone-kwargs", "backbone_kwargs"),
                      ("--method-config", "method_config"), ("--augment", "augment")):
        if setup[key]:
            words += [flag, *_kv(setup[key])]
    words += ["--data", data, "--epochs", str(epochs), "--batch-size", str(setup["batch_size"])]
    if inputs.compute == "cpu":
        words += ["--accelerator", "cpu"]
    else:
        words += ["--accelerator", "cuda", "--precision", "bf16-mixed"]
        if inputs.devices > 1:
            words += ["--devices", str(inputs.devices)]
    words += ["--out", f"runs/{method}-picker"]
    return shlex.join(words)


def _command(method: str, inputs: PickerInputs, data: str) -> tuple[str | None, str, str]:
    """``(command, kind, note)`` for one option."""
    evaluate = ("Then probe the frozen encoder on your labelled images: "
                "outputs/skill-linear-probe-runner.md (load_encoder + probe_encoder); on "
                "Fashion-MNIST: `python3 -m ssl_core.probe --checkpoint "
                f"runs/{method}-picker --baselines`.")
    if method == "dinov2_linear":
        title = {"classification": "DINOv2 off the shelf + linear head and k-NN",
                 "retrieval": "DINOv2 off the shelf: nearest-neighbour retrieval",
                 "dense": "DINOv2 off the shelf: patch features for a dense head",
                 "correspondence": "DINOv2 off the shelf: patch correspondence"}[inputs.task]
        return (_python_script(inputs, title=title), "python",
                "A Python script on ssl_core's API (the ssl_core.probe CLI only reads "
                "checkpoints written by ssl_core.pretrain); run it with `python3 -` after "
                "editing the paths.")
    if method == "finetune":
        if inputs.pretrained_allowed and inputs.task == "classification":
            return (_python_script(inputs, title="The frozen DINOv2 baseline that fine-tuning "
                                                 "must beat"), "python",
                    "ssl_core has no fine-tuning loop. This script measures the frozen DINOv2 "
                    "linear probe, the number fine-tuning has to beat; fine-tune with "
                    "transformers (Dinov2Model + a linear head, all weights trainable, lr "
                    "~1e-5 to 1e-4 with layer-wise decay) or timm.")
        if inputs.pretrained_allowed:
            return (_python_script(inputs, title="DINOv2 features to fine-tune from"), "python",
                    "ssl_core has no fine-tuning loop. This script loads the DINOv2 backbone "
                    "(the starting point) and shows its features; fine-tune it end to end with "
                    "your task's head in transformers, timm or detectron2/mmdetection.")
        return (None, "none",
                "For small images on one machine, ssl_core.supervised.train_supervised trains a "
                "registry backbone from scratch on labelled arrays (the hard exercise's "
                "baseline); at scale, use torchvision's classification references or timm's "
                "train.py. To start from a self-supervised checkpoint instead, pretrain with one "
                "of the other options first.")
    command = _pretrain_command(method, inputs, data)
    if inputs.compute != "cpu":
        evaluate = ("--precision bf16-mixed needs an Ampere or newer GPU (16-mixed on a V100). "
                    + evaluate)
    if method == "moco":
        return (command, "pretrain",
                "MoCo is not implemented in ssl_core. This command runs DINO, ssl_core's closest "
                "method (a momentum/EMA teacher, no large batch of negatives needed); for MoCo "
                "itself use lightly (MoCo v2/v3 with a memory bank) or "
                "facebookresearch/moco-v3. " + evaluate)
    if method == "mae" and inputs.backbone == "cnn":
        return (command, "pretrain",
                "Runs unet_mae, ssl_core's masked reconstruction for conv nets (MAE proper "
                "needs a ViT). " + evaluate)
    return command, "pretrain", evaluate


_METHOD_CAVEATS = {
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


# ---------------------------------------------------------------------------------------------
# The recommendation
# ---------------------------------------------------------------------------------------------


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
    for adjustment in _budget_adjustments(inputs):
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
        reasons = [_HEADLINE[method]]
        reasons += [f"{_fmt(a.points)} {a.rule}: {a.why}" for a in adjustments if a.points > 0]
        caveats = [f"{_fmt(a.points)} {a.rule}: {a.why}" for a in adjustments if a.points < 0]
        caveats += list(_METHOD_CAVEATS[method]) + general_caveats
        label = METHOD_LABELS[method]
        if method == "finetune":
            label = ("Supervised fine-tuning of DINOv2" if inputs.pretrained_allowed
                     else "Supervised training from scratch")
        command, kind, note = _command(method, inputs, data)
        out.append(Recommendation(
            method=method, label=label, rank=rank, score=score, reasons=tuple(reasons),
            caveats=tuple(caveats), command=command, command_kind=kind, command_note=note,
            adjustments=tuple(adjustments),
        ))
    return out
