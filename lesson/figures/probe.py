"""Linear-probe figure data: the measured label-efficiency curves and hard-exercise table as
the lesson shows them, the live probe's CSV rows, and the published ImageNet figures it quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lesson.experiments.hard_exercise import HardExerciseResult

__all__ = ["IMAGENET_LINEAR_PROBE", "TRAIN_PER_CLASS", "hard_caption", "hard_rows",
           "labels_per_class", "live_records"]

TRAIN_PER_CLASS = 2000  # the bundled training subset: 20,000 images, 2,000 per class

# Published linear-probe top-1 on ImageNet-1k, from the papers (quoted, not measured here).
IMAGENET_LINEAR_PROBE = [
    {"method": "SimCLR", "backbone": "ResNet-50", "ImageNet linear probe": "~71 %",
     "source": "Chen et al. 2020 (SimCLR v2 paper, ResNet-50 1x)"},
    {"method": "DINO", "backbone": "ViT-S/16", "ImageNet linear probe": "~77 %",
     "source": "Caron et al. 2021"},
    {"method": "MAE", "backbone": "ViT-L/16", "ImageNet linear probe": "~76 %",
     "source": "He et al. 2022"},
    {"method": "DINOv2", "backbone": "ViT-g/14", "ImageNet linear probe": "~86 %",
     "source": "Oquab et al. 2023"},
]


def labels_per_class(labels: str) -> int:
    """A label budget as a number: ``"all"`` is every image of a class in the bundled set."""
    return TRAIN_PER_CLASS if labels == "all" else int(labels)


def hard_rows(result: HardExerciseResult) -> list[dict[str, Any]]:
    """The hard exercise as a table: one formatted row per model and epoch count."""
    return [{"model": r.model, "backbone": r.backbone, "epochs": r.epochs,
             "accuracy": f"{float(r.accuracy):.1%}", "protocol": r.protocol,
             "wall time (s)": round(float(r.wall_time_s), 1)} for r in result.rows]


def hard_caption(result: HardExerciseResult) -> str:
    """How many labels the hard exercise used, its command, and whether it is partial."""
    return (f"{result.labelled_subset} labelled images; produced by "
            "`python3 -m lesson.experiments.hard_exercise`."
            + (" Partial: the remaining runs had not finished when it was saved."
               if result.complete is False else ""))


def live_records(encoder: str, labels: str, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A live probe's CSV rows: one per random draw of the labels (a ``budget_probe`` row)."""
    return [{"encoder": encoder, "labels_per_class": labels, "n_train": row["n_train"],
             "seed": s, "accuracy": a}
            for s, a in zip(row["seeds"], row["accuracies"], strict=True)]
