"""Regenerate ``outputs/results.md`` and ``outputs/figures/*.png`` from the measured results.

    python3 scripts/make_report.py                      # assets/results -> outputs/
    python3 scripts/make_report.py --results-dir DIR --out OUT --checkpoints CKPTS

Every number in the report is read from a JSON file: the result files in ``assets/results/``
(written by ``python3 -m lesson.experiments.<name>``, each with its command and wall time, and
read here through the experiment's typed result, as the pages read them) and the bundled
checkpoints' ``config.json`` / ``metrics.jsonl``. A result that was never measured
gets a line saying which command measures it; nothing is filled in by hand. Each section states
the protocol beside its numbers and the command that produced them.

One script, read top to bottom: formatting helpers, then one ``section_*`` per result in the
report's order, then the assembly. It stays whole (over 400 lines) because each section is
short and the sections only make sense side by side; the reading of each file is not here but
in the experiment's result class.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lesson.experiments.dino_collapse import DinoCollapseResult  # noqa: E402
from lesson.experiments.hard_exercise import HardExerciseResult  # noqa: E402
from lesson.experiments.infonce_tau import InfonceTauResult  # noqa: E402
from lesson.experiments.label_efficiency import LabelEfficiencyResult  # noqa: E402
from lesson.experiments.mae_ratio import MaeBlock, MaeRatioResult  # noqa: E402
from lesson.experiments.probe_table import ProbeTableResult  # noqa: E402
from lesson.experiments.simclr_batch import SimclrBatchResult  # noqa: E402
from lesson.figures.probe import full_protocol_rows  # noqa: E402
from lesson.probe_report import (  # noqa: E402
    FULL_MAE_RATIO_COMMAND,
    FULL_PROBE_COMMAND,
    floor_checks,
    load_all,
)
from lesson.results import (  # noqa: E402
    Provenance,
    Result,
    ResultFormatError,
    ResultMissingError,
    available_results,
    load_result,
)
from lesson.verdicts import full_protocol_verdict  # noqa: E402
from ssl_core import paths  # noqa: E402
from ssl_core.checkpoints import list_checkpoints  # noqa: E402

Figure = tuple[str, Callable[[Path], None]]  # (file name, draw(path))
Section = tuple[list[str], list[Figure]]  # (markdown lines, figures to draw)


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage (``0.8712 -> '87.1%'``); '—' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * float(value):.{digits}f}%"


def num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{float(value):.{digits}f}"


def seconds(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str = "") -> list[str]:
    """A Markdown table; ``align`` is one char per column ('l' or 'r', default 'l')."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def provenance_lines(prov: Provenance) -> list[str]:
    """'Command: ...; wall time ...; finished ...' from a result's provenance block."""
    machine = prov.machine
    where = ", ".join(str(x) for x in (machine.get("processor"), machine.get("gpu")) if x)
    parts = [f"Made by `{prov.command}`"]
    if prov.wall_time_s is not None:
        parts.append(f"wall time {seconds(prov.wall_time_s)}")
    if prov.finished_utc:
        parts.append(f"finished {prov.finished_utc}")
    if where:
        parts.append(f"on {where} ({machine.get('cpu_count', '?')} CPUs, "
                     f"torch {machine.get('torch', '?')})")
    return ["", "; ".join(parts) + ".", ""]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)


def _style(ax: Any, *, xlabel: str, ylabel: str, log_x: bool = False,
           legend_size: int = 8) -> None:
    """The report's axes: labels, a light grid and a legend (``log_x``: a log-scale x axis)."""
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


@contextmanager
def _chart(path: Path, *, size: tuple[float, float] = (6, 4), **style: Any) -> Iterator[Any]:
    """One-axes figure saved to ``path`` once the block has drawn on it (see :func:`_style`)."""
    fig, ax = _plt().subplots(figsize=size)
    yield ax
    _style(ax, **style)
    _save(fig, path)


def _plot_points(ax: Any, points: Sequence[tuple[float, float]], **kwargs: Any) -> None:
    """A line through ``(x, y)`` points; nothing when there are none."""
    if points:
        ax.plot(*zip(*points, strict=True), **kwargs)


# --------------------------------------------------------------------------------------------
# sections, one per result file
# --------------------------------------------------------------------------------------------


def section_probe_table(data: ProbeTableResult) -> Section:
    rows = data.rows
    few = data.few_key
    protocol = data.protocol
    lines = []
    if protocol.get("summary"):
        lines += [f"Protocol: {protocol['summary']}.", ""]
    n_few = few.removeprefix("linear_")
    lines += table(
        ["encoder", "kind", "kNN k=200 T=0.1", "kNN k=20 T=0.1", "linear, all labels",
         f"linear, {n_few} labels", "pretraining (steps x batch, wall time)"],
        [[row.label, row.kind, pct(row.knn_k200), pct(row.knn_k20), pct(row.linear_all),
          pct(row.column(few)),
          (f"{row.steps if row.steps is not None else '?'} x "
           f"{row.batch_size if row.batch_size is not None else '?'}, "
           f"{seconds(row.train_wall_time_s)}" if row.kind == "ssl" else "—")]
         for row in rows],
        align="llrrrrl",
    )
    if any(row.features_from_cache for row in rows):
        lines += ["", "Features of the rows were read from the feature cache of an earlier run "
                  "(same checkpoints and data, keyed by sha256), so the wall time below leaves "
                  "out the encoders' forward passes."]
    commands = [(row.name, row.command) for row in rows if row.command]
    if commands:
        lines += ["", "Pretraining commands:", ""]
        lines += [f"- `{name}`: `{command}`" for name, command in commands]
    targets = data.targets
    if targets:
        lines += ["", "Targets of the issue (from the numbers above):", ""]
        beats = targets.get("beats_random") or {}
        for check in beats.get("checkpoints", []):
            if check.get("measured"):
                lines.append(
                    f"- `{check['name']}` vs its random init: kNN k=200 "
                    f"{pct(check['knn_k200'])} vs {pct(check['random_knn_k200'])} "
                    f"({100 * check['knn_gain']:+.1f} points), linear (all) "
                    f"{pct(check['linear_all'])} vs {pct(check['random_linear_all'])} "
                    f"({100 * check['linear_gain']:+.1f} points): "
                    f"{'beats it' if check['beats_random'] else 'does NOT beat it'}")
        lines.append(f"- every SSL checkpoint beats its random init: "
                     f"**{'met' if beats.get('met') else 'not met'}**")
        for key, what in (("best_knn_k200", "best SSL kNN k=200"),
                          ("best_linear_all", "best SSL linear probe (all labels)")):
            target = targets.get(key)
            if target:
                lines.append(f"- {what} >= {pct(target['threshold'], 0)}: "
                             f"{pct(target['best'])} (`{target['best_name']}`) -> "
                             f"**{'met' if target['met'] else 'not met'}**")
    details = [(k, v) for k, v in protocol.items() if k != "summary"]
    if details:
        lines += ["", "Protocol of each column, as recorded:", ""]
        lines += [f"- `{key}`: {text}" for key, text in details]

    def draw(path: Path) -> None:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 2.0))
        y = list(range(len(rows)))
        ax.barh([i + 0.2 for i in y], [r.knn_k200 for r in rows], height=0.4,
                label="kNN k=200")
        ax.barh([i - 0.2 for i in y], [r.linear_all for r in rows], height=0.4,
                label="linear, all labels")
        ax.set_yticks(y, [r.label for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("test accuracy (Fashion-MNIST)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
        _save(fig, path)

    return lines, [("probe_table.png", draw)]


def section_label_efficiency(data: LabelEfficiencyResult) -> Section:
    budgets = data.labels_per_class
    curves = data.curves
    lines = []
    if data.protocol:
        lines += [f"Protocol: {data.protocol}.", ""]

    def cell(curve: Any, i: int) -> str:
        std = curve.std or []
        spread = f" ± {100 * std[i]:.1f}" if i < len(std) and std[i] else ""
        return pct(curve.accuracy[i]) + spread

    lines += table(["encoder", *[f"{b} / class" for b in budgets]],
                   [[c.label, *[cell(c, i) for i in range(len(budgets))]] for c in curves],
                   align="l" + "r" * len(budgets))
    lines += ["", "(mean ± sample std over the seeds, in points; the last column is one run)",
              "", "![label efficiency](figures/label_efficiency.png)"]

    def draw(path: Path) -> None:
        families = list(dict.fromkeys(c.name.removesuffix("_random") for c in curves))
        with _chart(path, size=(7, 4.5), xlabel="labels per class (log scale)",
                    ylabel="linear-probe test accuracy", log_x=True, legend_size=7) as ax:
            for curve in curves:  # a checkpoint and its random init share a colour
                style = {"ssl": "-", "random": ":", "raw": "--"}.get(curve.kind, "-")
                colour = f"C{families.index(curve.name.removesuffix('_random')) % 10}"
                ax.errorbar(budgets, curve.accuracy, yerr=curve.std, label=curve.label,
                            linestyle=style, marker="o", capsize=3, color=colour)

    return lines, [("label_efficiency.png", draw)]


def _mae_block(block: MaeBlock, ratios: Sequence[float], title: str) -> list[str]:
    mae, interp, others = block.mae, block.interpolation, block.others or []
    bih = block.biharmonic
    header = ["mask ratio", f"`{mae.checkpoint}` masked MSE", "interpolation masked MSE",
              "advantage (interp − model)",
              *(["biharmonic masked MSE", "model / biharmonic"] if bih else []),
              *[f"`{o.checkpoint}`" for o in others]]
    rows = []
    for i, ratio in enumerate(ratios):
        rows.append([f"{ratio:.0%}", f"{num(mae.mse[i])} ± {num(mae.sem[i])}",
                     f"{num(interp.mse[i])} ± {num(interp.sem[i])}",
                     num(mae.advantage[i]) if mae.advantage else "—",
                     *([f"{num(bih.mse[i])} ± {num(bih.sem[i])}",
                        f"{mae.mse[i] / bih.mse[i]:.2f}x"] if bih else []),
                     *[f"{num(o.mse[i])} ± {num(o.sem[i])}" for o in others]])
    lines = [f"**{title}** ({num(block.n_images)} images). "
             f"Protocol: {block.protocol or ''}.", ""]
    lines += table(header, rows, align="lrrr" + "rr" * bool(bih) + "r" * len(others))
    lines += ["", "(mean ± standard error over images)"]
    if block.explanation:
        lines += ["", f"Reading (text generated from the numbers): {block.explanation}"]
    return lines


def section_mae_ratio(data: MaeRatioResult) -> Section:
    ratios = data.ratios
    lines = _mae_block(data, ratios, "Fashion-MNIST")
    if data.rgb is not None:
        lines += [""] + _mae_block(data.rgb, ratios, "Photo crops")
    lines += ["", "![MAE vs interpolation](figures/mae_ratio.png)"]

    def draw(path: Path) -> None:
        plt = _plt()
        blocks = [("Fashion-MNIST", data)] + ([("photo crops", data.rgb)]
                                              if data.rgb is not None else [])
        fig, axes = plt.subplots(1, len(blocks), figsize=(6 * len(blocks), 4), squeeze=False)
        for ax, (title, block) in zip(axes[0], blocks, strict=True):
            series = [(block.mae.checkpoint, block.mae), ("interpolation", block.interpolation),
                      *[(o.checkpoint, o) for o in block.others or []]]
            for label, curve in series:
                ax.errorbar(ratios, curve.mse, yerr=curve.sem, marker="o", capsize=3,
                            label=label)
            ax.set_title(title)
            _style(ax, xlabel="mask ratio", ylabel="masked-patch MSE (pixels in [0, 1])")
        _save(fig, path)

    return lines, [("mae_ratio.png", draw)]


def section_infonce_tau(data: InfonceTauResult) -> Section:
    taus, syn, real = data.taus, data.synthetic, data.real
    lines = [f"Synthetic: N={syn.n} pairs, D={syn.d}, noise {syn.noise:g}, {syn.seeds} seeds; "
             "'aligned' = positives are noisy copies, 'random' = unrelated embeddings"
             + (f"; log(2N−1) = {num(syn.reference_loss)}" if syn.reference_loss is not None
                else "") + "."]
    if real is not None:
        lines[-1] += (f" Real: `{real.encoder}` encoder, {real.n_pairs} pairs of augmented "
                      "views" + (f" ({real.features})" if real.features else "") + ".")
    header = ["τ", "synthetic aligned", "synthetic random"]
    if real is not None:
        header.append("real (trained encoder)")
    rows = []
    for i, tau in enumerate(taus):
        row = [f"{tau:g}", num(syn.aligned[i]), num(syn.random[i])]
        if real is not None:
            row.append(num(real.loss[i]))
        rows.append(row)
    lines += [""] + table(header, rows, align="lrrr")
    lines += ["", "(InfoNCE loss, nats)"]

    def draw(path: Path) -> None:
        with _chart(path, xlabel="temperature τ (log scale)", ylabel="InfoNCE loss (nats)",
                    log_x=True) as ax:
            ax.plot(taus, syn.aligned, marker="o", label="synthetic aligned")
            ax.plot(taus, syn.random, marker="o", label="synthetic random")
            if real is not None:
                ax.plot(taus, real.loss, marker="o", label=f"real ({real.encoder})")

    return lines, [("infonce_tau.png", draw)]


def section_simclr_batch(data: SimclrBatchResult) -> Section:
    runs = data.runs
    lines = [f"Each run sees the same {num(data.images_seen)} images in all; kNN on "
             "frozen features (weighted, T=0.1) measured along the way.", ""]
    rows = []
    for run in runs:
        last = run.curve[-1] if run.curve else None
        rows.append([run.batch_size, run.steps, num(run.lr, 5),
                     pct(last.knn_k200 if last else None), pct(last.knn_k20 if last else None),
                     seconds(run.wall_time_s)])
    lines += table(["batch size", "steps", "lr", "final kNN k=200", "final kNN k=20",
                    "wall time"], rows, align="rrrrrr")

    def draw(path: Path) -> None:
        with _chart(path, xlabel="images seen", ylabel="kNN accuracy") as ax:
            for run in runs:
                _plot_points(ax, [(p.images_seen, p.knn_k200) for p in run.curve], marker="o",
                             label=f"batch {run.batch_size} (knn_k200)")

    return lines, [("simclr_batch.png", draw)]


def section_dino_collapse(data: DinoCollapseResult) -> Section:
    variants = data.variants
    lines = [f"{num(data.steps)} steps per variant; the recipe: `{data.recipe}`.", ""]
    rows = []
    for key, variant in variants.items():
        last = variant.last if variant.curve else {}
        knn = variant.last_knn() if variant.curve else None
        rows.append([variant.label or key, "yes" if variant.centering else "no",
                     "yes" if variant.sharpening else "no",
                     f"{num(last.get('teacher_entropy'), 3)} / {num(last.get('max_entropy'), 3)}",
                     num(last.get("kl_teacher_student"), 3), num(last.get("output_std"), 4),
                     num(last.get("dominant_dim_share"), 3), pct(knn) if knn is not None else "—",
                     variant.verdict])
    lines += table(["variant", "centering", "sharpening", "teacher entropy / max (final)",
                    "KL(teacher‖student)", "output std", "dominant dim share", "last kNN k=20",
                    "verdict"], rows, align="lllrrrrrl")

    def draw(path: Path) -> None:
        with _chart(path, xlabel="step", ylabel="teacher entropy (nats)") as ax:
            for key, variant in variants.items():
                _plot_points(ax, [(p["step"], p["teacher_entropy"]) for p in variant.curve
                                  if p.get("teacher_entropy") is not None],
                             label=variant.label or key)

    return lines, [("dino_collapse.png", draw)]


def section_hard_exercise(data: HardExerciseResult) -> Section:
    rows = data.rows
    lines = [f"Test accuracy with {num(data.labelled_subset)} labelled images."]
    if data.protocol:
        lines[-1] += f" Protocol: {data.protocol}."
    lines += [""] + table(
        ["model", "backbone", "epochs", "accuracy", "wall time"],
        [[r.model, r.backbone, r.epochs, pct(r.accuracy), seconds(r.wall_time_s)]
         for r in rows], align="llrrr")
    protocols = [(f"{r.model}, {r.epochs} epochs", r.protocol) for r in rows if r.protocol]
    if protocols:
        lines += ["", "Protocol of each row, as recorded:", ""]
        lines += [f"- {who}: {text}" for who, text in protocols]

    def draw(path: Path) -> None:
        with _chart(path, xlabel="epochs on the labelled subset (log scale)",
                    ylabel="test accuracy", log_x=True) as ax:
            for model in dict.fromkeys(r.model for r in rows):
                _plot_points(ax, sorted((r.epochs, r.accuracy) for r in rows if r.model == model),
                             marker="o", label=model)

    return lines, [("hard_exercise.png", draw)]


SECTIONS: list[tuple[type[Result], str, Callable[[Any], Section]]] = [
    (ProbeTableResult, "Probing the bundled encoders", section_probe_table),
    (LabelEfficiencyResult, "Label efficiency", section_label_efficiency),
    (MaeRatioResult, "MAE: why 75% and not 15%", section_mae_ratio),
    (InfonceTauResult, "InfoNCE against temperature", section_infonce_tau),
    (SimclrBatchResult, "SimCLR: batch size at a fixed number of images",
     section_simclr_batch),
    (DinoCollapseResult, "DINO: centring, sharpening and collapse", section_dino_collapse),
    (HardExerciseResult, "Hard exercise: MAE ViT vs TinyUNet vs supervised",
     section_hard_exercise),
]


# --------------------------------------------------------------------------------------------
# the checkpoints table
# --------------------------------------------------------------------------------------------


def checkpoints_section(directory: Path) -> list[str]:
    try:
        infos = list_checkpoints(directory)
    except ValueError as error:
        return [f"The checkpoints in {directory} could not be read: {error}"]
    if not infos:
        return [f"No bundled checkpoints in `{directory}`."]
    rows = []
    for info in infos:
        data = ", ".join(f"{name} `{sha[:16]}…`" for name, sha in info.data_sha256.items())
        rows.append([f"`{info.name}`", info.method, info.backbone,
                     f"{info.step} of {info.total_steps}", info.batch_size,
                     seconds(info.wall_time_s), seconds(info.median_time_s),
                     f"{info.data_name or '?'}; {data or '—'}",
                     f"{info.size_bytes / 1e6:.1f} MB", f"`{info.sha256[:16]}…`"])
    lines = ["From each checkpoint's config.json and metrics.jsonl (wall time = the trainer's "
             "last `elapsed_s`, which also counts steps slowed by other jobs on the CPU; at the "
             "median step = steps x the median logged step time, the run's pace unloaded); "
             "sizes of model.safetensors.", ""]
    lines += table(["name", "method", "backbone", "steps", "batch", "wall time",
                    "at the median step", "data (sha256)", "weights", "weights sha256"], rows,
                   align="lllrrrrlrl")
    commands = [(info.name, info.command) for info in infos if info.command]
    if commands:
        lines += ["", "Training commands:", ""]
        lines += [f"- `{name}`: `{command}`" for name, command in commands]
    return lines


def _full_mae_ratio(directory: Path) -> tuple[MaeRatioResult | None, list[str]]:
    """The ``mae_ratio`` result on the whole test set in ``directory`` (None if absent), and a
    line saying where the masked-patch floors' numbers come from."""
    try:
        result = MaeRatioResult.load(directory)
    except ResultMissingError:
        return None, [f"Masked-patch floors: not measured (no `{_show(directory)}/"
                      f"mae_ratio.json`; `{FULL_MAE_RATIO_COMMAND}` writes it)."]
    except ValueError as error:
        return None, [f"Masked-patch floors: `{_show(directory)}/mae_ratio.json` could not be "
                      f"read: {error}"]
    command = result.provenance.command if result.provenance is not None else "?"
    return result, [f"Masked-patch floors from `{_show(directory)}/mae_ratio.json`, written by "
                    f"`{command}`."]


def full_protocol_section(directory: Path, mae_ratio_dir: Path | None = None) -> list[str]:
    """The full-protocol reports (``ssl_core.probe --protocol full``) as one table, and the
    issue's floors checked against them and the MAE's masked-patch errors on the whole test
    set (``mae_ratio_dir``, next to ``directory`` by default)."""
    reports, problems = load_all(directory)
    lines = [f"- `{problem}` could not be read" for problem in problems]
    if not reports:
        return lines + [f"Not measured yet: run `{FULL_PROBE_COMMAND}`."]
    rows = full_protocol_rows(reports)
    header = list(rows[0])
    lines += [f"{reports[0].evaluation.get('data', '')}; from `{_show(directory)}`, written by "
              f"`{FULL_PROBE_COMMAND}`. The end-to-end column: fine-tuned from the pretrained "
              "weights on a pretrained row, the same recipe from scratch on its random-init row.",
              ""]
    lines += table(header, [[row[h] for h in header] for row in rows],
                   align="l" + "r" * (len(header) - 1))
    mae_ratio, source = _full_mae_ratio(mae_ratio_dir if mae_ratio_dir is not None
                                         else directory.parent / "mae-ratio-full")
    lines += ["", full_protocol_verdict(reports), "", "Floors of issue 13, from these numbers:",
              ""]
    marks = {True: "met", False: "**not met**", None: "not measured"}
    lines += [f"- {c.floor}: {c.numbers} -> {marks[c.met]}"
              for c in floor_checks(reports, mae_ratio)]
    return lines + ["", *source]


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def build_report(results_dir: Path, out_dir: Path, checkpoints_dir: Path,
                 probe_dir: Path | None = None) -> Path:
    """Write ``out_dir/results.md`` and ``out_dir/figures/*.png``; returns the Markdown path.
    ``probe_dir`` holds the full-protocol reports [``out_dir/probe-full``]."""
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    md = ["# Measured results", "",
          "Generated by `python3 scripts/make_report.py` from the JSON result files in "
          f"`{_show(results_dir)}` and the checkpoints in `{_show(checkpoints_dir)}` "
          "(do not edit by hand; re-run the script). Accuracies are on held-out test images; "
          "times were measured on a shared CPU, so they are indicative.", "",
          "## Bundled checkpoints", ""]
    md += checkpoints_section(checkpoints_dir)
    md += ["", "## The full Fashion-MNIST protocol (60,000 train, 10,000 test)", ""]
    md += full_protocol_section(probe_dir if probe_dir is not None else out_dir / "probe-full",
                                out_dir / "mae-ratio-full")
    for kind, title, render in SECTIONS:
        name = kind.NAME
        md += ["", f"## {title}", ""]
        figure_names: list[str] = []
        try:
            data = kind.load(results_dir)
        except ResultMissingError:
            md.append(f"Not measured yet: run `python3 -m lesson.experiments.{name}`.")
            data = None
        except ResultFormatError as error:
            md.append(f"`{name}.json` does not have the expected shape ({error}).")
            data = None
        except ValueError as error:  # not JSON at all
            md.append(f"The result file could not be read ({error}).")
            data = None
        if data is not None:
            try:
                lines, figures = render(data)
            except (KeyError, TypeError, ValueError, IndexError) as error:
                md.append(f"`{name}.json` does not have the expected shape ({error!r}); re-run "
                          f"`python3 -m lesson.experiments.{name}`.")
                lines, figures = [], []
            md += lines
            for file_name, draw in figures:
                draw(figures_dir / file_name)
                figure_names.append(file_name)
            if figure_names and not any(f"figures/{f}" in line for line in lines
                                        for f in figure_names):
                md += [""] + [f"![{name}](figures/{f})" for f in figure_names]
            if data.provenance is not None:
                md += provenance_lines(data.provenance)
        for stale in figures_dir.glob(f"{name}*.png"):
            if stale.name not in figure_names:
                stale.unlink()
    known = {kind.NAME for kind, _, _ in SECTIONS}
    others = [name for name in available_results(directory=results_dir) if name not in known]
    if others:
        md += ["", "## Other result files", "",
               "Measured by other experiments and shown on their pages; not summarised here:", ""]
        for name in others:
            try:
                prov = load_result(name, directory=results_dir).get("provenance") or {}
            except ValueError as error:
                md.append(f"- `{name}.json`: could not be read ({error})")
                continue
            md.append(f"- `{name}.json`: made by `{prov.get('command', '?')}`, wall time "
                      f"{seconds(prov.get('wall_time_s'))}")
    path = out_dir / "results.md"
    path.write_text("\n".join(line.rstrip() for line in md).rstrip() + "\n", encoding="utf-8")
    return path


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 scripts/make_report.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", default=str(paths.results_dir()),
                        help="folder of result JSON files [assets/results]")
    parser.add_argument("--out", default=str(ROOT / "outputs"),
                        help="writes OUT/results.md and OUT/figures/*.png [outputs]")
    parser.add_argument("--checkpoints", default=str(paths.checkpoints_dir()),
                        help="folder of bundled checkpoints [assets/checkpoints]")
    parser.add_argument("--probe-dir", default=None,
                        help="full-protocol reports of ssl_core.probe [OUT/probe-full]")
    args = parser.parse_args(argv)
    path = build_report(Path(args.results_dir), Path(args.out), Path(args.checkpoints),
                        Path(args.probe_dir) if args.probe_dir else None)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
