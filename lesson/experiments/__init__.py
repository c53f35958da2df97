"""The lesson's measured experiments: one module each, with run(...), main(argv) and a typed result.

``python3 -m lesson.experiments.<name>`` measures one and writes ``assets/results/<name>.json``;
``run`` returns the result's JSON form and the module's :class:`lesson.results.Result` subclass
(``ProbeTableResult``, ``DinoCollapseResult``, ...) is the one reader of that file, for the
pages and for ``scripts/make_report.py`` alike. :func:`result_types` lists them by name.
"""

from __future__ import annotations

import importlib

from lesson.results import Result

__all__ = ["EXPERIMENTS", "result_types"]

# experiment module -> the name of its Result subclass
EXPERIMENTS: dict[str, str] = {
    "probe_table": "ProbeTableResult",
    "label_efficiency": "LabelEfficiencyResult",
    "mae_ratio": "MaeRatioResult",
    "mae_photos": "MaePhotosResult",
    "mae_speedup": "MaeSpeedupResult",
    "infonce_tau": "InfonceTauResult",
    "simclr_batch": "SimclrBatchResult",
    "dino_collapse": "DinoCollapseResult",
    "hard_exercise": "HardExerciseResult",
    "attention_foreground": "AttentionForegroundResult",
}


def result_types() -> dict[str, type[Result]]:
    """Result name -> its typed reader (imports the experiment modules). For code that goes over
    every result file: the test that each bundled one reads and writes back unchanged."""
    return {name: getattr(importlib.import_module(f"lesson.experiments.{name}"), kind)
            for name, kind in EXPERIMENTS.items()}
