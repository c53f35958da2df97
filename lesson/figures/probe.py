"""Linear-probe figure data: the measured label-efficiency curves and hard-exercise table as
the lesson shows them, the live probe's CSV rows, and the published ImageNet figures it quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lesson.experiments.hard_exercise import HardExerciseResult
from lesson.probe_report import ProbeReport, raw_pixels
from lesson.verdicts import method_name

__all__ = ["END_TO_END", "IMAGENET_LINEAR_PROBE", "TRAIN_PER_CLASS", "full_protocol_rows",
           "hard_caption", "hard_rows", "labels_per_class", "live_records"]

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


END_TO_END = "end to end, {n:,} labels"  # heading of the fine-tuning / from-scratch column


def full_protocol_rows(reports: list[ProbeReport]) -> list[dict[str, Any]]:
    """Every full-protocol report as one table: each pretrained encoder, then its random-init
    twin (each report's own: two reports on one backbone name may differ in pooling or input
    scaling), raw pixels once at the end (the same in every report). Cells are formatted accuracies;
    a column a report lacks is blank. The end-to-end column holds the fine-tuned accuracy on a
    pretrained row and the from-scratch accuracy (same recipe, same labels) on its random-init
    row, so the two read one above the other."""
    headings: dict[str, str] = {}
    for report in reports:
        for row in report.rows:
            for key, cell in row.results.items():
                headings.setdefault(key, cell.column)
    n_labels = next((r.finetune.n_labels for r in reports if r.finetune is not None), None)
    end_to_end = END_TO_END.format(n=n_labels) if n_labels is not None else None

    def formatted(label: str, row: Any, tuned: float | None) -> dict[str, Any]:
        cells = {heading: (f"{row.results[key].value:.1%}" if key in row.results else "")
                 for key, heading in headings.items()}
        if end_to_end is not None:
            cells[end_to_end] = f"{tuned:.1%}" if tuned is not None else ""
        return {"encoder": label} | cells

    table = []
    for report in reports:
        ft = report.finetune
        method = method_name(report)
        for row in report.rows:
            if row.kind == "raw_pixels":
                continue
            if row.kind == "pretrained":
                step = f", step {report.step:,}" if report.step is not None else ""
                label = f"{method} · {report.backbone}{step}"
                table.append(formatted(label, row, ft.fine_tuned.accuracy if ft else None))
            else:
                label = f"{report.backbone or row.encoder}, random init (as in {method})"
                table.append(formatted(label, row, ft.scratch.accuracy if ft else None))
    raw = raw_pixels(reports)
    if raw is not None:
        table.append(formatted("raw pixels (no network)", raw, None))
    return table
