"""The published ImageNet-1k numbers the picker's reasons cite (the papers', not measured here),
and the headline each option's reasons start with."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEADLINES", "LESSON_TABLE", "PUBLISHED_IMAGENET", "PublishedResult", "published"]


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
HEADLINES: dict[str, str] = {
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


