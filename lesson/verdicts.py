"""Verdict lines: the sentence under a measured table that says who wins, made from its numbers.

Each function takes a typed result and returns one or a few sentences; when the numbers change
the sentence changes with them (the tests flip the numbers and check it flips). Nothing here
types a measured number in by hand.
"""

from __future__ import annotations

from collections import defaultdict

from lesson.experiments.dino_collapse import DinoCollapseResult
from lesson.experiments.hard_exercise import HardExerciseResult
from lesson.experiments.infonce_tau import InfonceTauResult
from lesson.experiments.probe_table import ProbeTableResult
from lesson.probe_report import ProbeReport, raw_pixels

__all__ = ["HardPair", "distinct_names", "dino_verdict", "finetune_verdict", "method_name",
           "full_protocol_verdict", "hard_exercise_verdict", "hard_pairs", "probe_columns",
           "probe_table_verdict", "tau_verdict"]

METHOD_NAMES = {"simclr": "SimCLR", "dino": "DINO", "mae": "MAE", "unet_mae": "U-Net MAE"}
HardPair = tuple[int, float, float]  # (epochs, MAE + probe accuracy, supervised accuracy)


def method_name(report: ProbeReport) -> str:
    """The report's method as the lesson names it ('SimCLR'), else its own name."""
    return METHOD_NAMES.get(report.method or "", report.method or report.name)


def distinct_names(reports: list[ProbeReport]) -> dict[str, str]:
    """Report name -> its method as the lesson names it, with the backbone added where two
    reports share a method ('DINO on cnn_base_28', 'DINO on vit_tiny_p4_28')."""
    methods = [method_name(r) for r in reports]
    return {r.name: (f"{m} on {r.backbone}" if methods.count(m) > 1 and r.backbone else m)
            for r, m in zip(reports, methods, strict=True)}


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _join(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def hard_pairs(result: HardExerciseResult) -> dict[str, list[HardPair]]:
    """Backbone label (the model name without 'MAE' / 'Supervised') -> ``(epochs, MAE + probe,
    supervised)`` at each budget where both sides were measured, by epochs."""
    sides: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in result.rows:
        kind, _, backbone = row.model.partition(" ")
        sides[backbone or row.backbone][row.epochs][kind.lower()] = float(row.accuracy)
    return {backbone: [(e, s["mae"], s["supervised"]) for e, s in sorted(budgets.items())
                       if "mae" in s and "supervised" in s]
            for backbone, budgets in sides.items()}


def hard_exercise_verdict(result: HardExerciseResult) -> str:
    """Who wins the hard exercise at each budget, per backbone, and at the longest one."""
    pairs = {b: p for b, p in hard_pairs(result).items() if p}
    if not pairs:
        return "No budget has both an MAE and a supervised row yet: no verdict."
    sentences = []
    for backbone, rows in pairs.items():
        mae_wins = [f"{e}" for e, m, s in rows if m > s]
        sup_wins = [f"{e}" for e, m, s in rows if s >= m]
        parts = []
        if mae_wins:
            parts.append(f"MAE + linear probe wins at {_join(mae_wins)} epochs")
        if sup_wins:
            parts.append(f"supervised training wins at {_join(sup_wins)} epochs")
        sentences.append(f"{backbone}: " + "; ".join(parts) + ".")
    longest = max(e for rows in pairs.values() for e, _, _ in rows)
    at_longest = {b: next(r for r in rows if r[0] == longest) for b, rows in pairs.items()
                  if rows[-1][0] == longest}
    for backbone, (_, mae, sup) in at_longest.items():
        if sup >= mae:
            sentences.append(
                f"At {longest} epochs, the longest budget, supervised {backbone} beats MAE "
                f"pretraining + probe ({_pct(sup)} vs {_pct(mae)}): with enough epochs, "
                "1,000 labelled images are enough to train the network end to end, and "
                "pretraining on the same 1,000 images adds nothing.")
        else:
            sentences.append(
                f"At {longest} epochs, the longest budget, MAE pretraining + probe still beats "
                f"supervised {backbone} ({_pct(mae)} vs {_pct(sup)}).")
    short = [f"{b} (up to {rows[-1][0]})" for b, rows in pairs.items()
             if rows[-1][0] != longest]
    if short:
        sentences.append(f"Not measured at {longest} epochs: {_join(short)}.")
    return " ".join(sentences)


def probe_columns(result: ProbeTableResult) -> dict[str, str]:
    """Column key -> heading, in the table's order (the label-scarce column named by size)."""
    few = result.few_key
    n = few.removeprefix("linear_")
    return {"knn_k200": "kNN k=200", "knn_k20": "kNN k=20", "linear_all": "linear (all labels)",
            few: f"linear ({int(n):,} labels)" if n.isdigit() else few}


def _short(label: str) -> str:
    """'DINO, vit_tiny_p4_28 (1500 steps)' -> 'DINO'."""
    return label.split(",")[0]


def probe_table_verdict(result: ProbeTableResult) -> str:
    """Which SSL encoders raw pixels beat, on which columns, and which beat their random init."""
    columns = probe_columns(result)
    raw = next((r for r in result.rows if r.kind == "raw"), None)
    ssl = [r for r in result.rows if r.kind == "ssl"]
    if not ssl:
        return "No self-supervised encoder in the table: no verdict."
    sentences = []
    if raw is not None:
        everywhere, partly, won = [], [], []
        for row in ssl:
            worse = [h for k, h in columns.items()
                     if row.column(k) is not None and raw.column(k) is not None
                     and raw.column(k) > row.column(k)]
            if len(worse) == len(columns):
                everywhere.append(_short(row.label))
            elif worse:
                partly.append(f"{_short(row.label)} on {_join(worse)}")
            else:
                won.append(_short(row.label))
        if everywhere:
            sentences.append(f"Raw pixels, with no network at all, beat {_join(everywhere)} on "
                             "every column.")
        if partly:
            sentences.append(f"Raw pixels beat {'; '.join(partly)}.")
        if won:
            sentences.append(f"{_join(won)} {'beats' if len(won) == 1 else 'beat'} raw pixels "
                             "on every column.")
        else:
            sentences.append("No self-supervised encoder beats raw pixels on every column.")
    below = []
    for row in ssl:
        base = next((r for r in result.rows if r.kind == "random" and r.of == row.name), None)
        if base is None:
            continue
        worse = [h for k, h in columns.items()
                 if row.column(k) is not None and base.column(k) is not None
                 and base.column(k) > row.column(k)]
        if len(worse) == len(columns):
            below.append(f"{_short(row.label)} (on every column)")
        elif worse:
            below.append(f"{_short(row.label)} (on {_join(worse)})")
    if below:
        sentences.append(f"Below its own architecture at random init: {'; '.join(below)}.")
    else:
        sentences.append("Every self-supervised encoder beats its random init on every column.")
    best = max(ssl, key=lambda r: r.linear_all)
    sentences.append(f"Best linear probe (all labels): {_short(best.label)}, "
                     f"{_pct(best.linear_all)}.")
    return " ".join(sentences)


def finetune_verdict(report: ProbeReport) -> str:
    """Fine-tuning vs from scratch vs a linear probe with the same labels, from the report."""
    ft = report.finetune
    if ft is None:
        return "This report has no fine-tuning run: no verdict."
    tuned, scratch = ft.fine_tuned.accuracy, ft.scratch.accuracy
    gain = (tuned - scratch) * 100
    name = method_name(report)
    sentence = (f"Fine-tuning the pretrained {name} on {ft.n_labels:,} "
                f"labels reaches {_pct(tuned)}, {abs(gain):.1f} points "
                f"{'above' if gain > 0 else 'below'} the same network trained from scratch on "
                f"them ({_pct(scratch)})")
    pretrained = report.row("pretrained")
    probe = None
    if pretrained is not None:
        probe = next((c for k, c in pretrained.results.items()
                      if k.startswith("linear_") and k != "linear_all"), None)
    if probe is not None:
        delta = (tuned - probe.value) * 100
        sentence += (f" and {abs(delta):.1f} points {'above' if delta > 0 else 'below'} a "
                     f"linear probe on its frozen features ({_pct(probe.value)}; "
                     f"{probe.column})")
    verdict = ("pretraining pays off when the labels are few" if gain > 0
               else "with these labels pretraining does not pay off")
    return sentence + f": {verdict}."


def full_protocol_verdict(reports: list[ProbeReport]) -> str:
    """Which encoders beat raw pixels on the full protocol's kNN k=200 and all-label linear probe,
    and what fine-tuning on few labels adds over training from scratch, from the reports."""
    keys = ("knn_k200", "linear_all")
    raw = raw_pixels(reports)
    names = distinct_names(reports)
    both, some, neither = [], [], []
    for report in reports:
        row = report.row("pretrained")
        if raw is None or row is None or not all(k in row.results and k in raw.results
                                                 for k in keys):
            continue
        name = names[report.name]
        wins = [row.results[k].value > raw.results[k].value for k in keys]
        knn, pixels = row.results["knn_k200"].value, raw.results["knn_k200"].value
        entry = f"{name} ({_pct(knn)} vs {_pct(pixels)} on kNN k=200)"
        (both if all(wins) else some if any(wins) else neither).append(entry)
    if not (both or some or neither):
        return "These reports lack the kNN k=200, linear or raw-pixel rows: no verdict."
    sentences = []
    if both:
        sentences.append(f"On the full protocol {_join(both)} beat{'s' if len(both) == 1 else ''}"
                         " raw pixels on both kNN k=200 and the all-label linear probe.")
    if some:
        sentences.append(f"{_join(some)} beat{'s' if len(some) == 1 else ''} raw pixels on one "
                         "of the two only.")
    if neither:
        sentences.append(f"Raw pixels beat {_join(neither)} on both: that pretraining has not "
                         "learned more than the pixels already hold.")
    gains = [(names[r.name], (r.finetune.fine_tuned.accuracy - r.finetune.scratch.accuracy) * 100)
             for r in reports if r.finetune is not None]
    if gains:
        n = next(r.finetune.n_labels for r in reports if r.finetune is not None)
        parts = [f"{name} {gain:+.1f}" for name, gain in gains]
        sentences.append(f"Fine-tuned end to end on {n:,} labels, minus the same network "
                         f"trained from scratch on them (points): {', '.join(parts)}.")
    return " ".join(sentences)


def tau_verdict(result: InfonceTauResult) -> str:
    """What lowering τ does to the loss of aligned pairs, random pairs and the trained model."""
    taus = list(result.taus)
    lo, hi = taus.index(min(taus)), taus.index(max(taus))

    def move(values: list[float], what: str) -> str:
        a, b = values[hi], values[lo]
        verb = "falls" if b < a else "rises"
        return f"the loss of {what} {verb} from {a:.3g} to {b:.3g}"

    syn = result.synthetic
    parts = [move(syn.aligned, "aligned toy pairs"), move(syn.random, "random toy pairs")]
    if result.real is not None:
        parts.append(move(result.real.loss, "the trained SimCLR on real pairs"))
    return (f"As τ drops from {taus[hi]:g} to {taus[lo]:g}, " + "; ".join(parts)
            + ". A cold τ rewards an encoder that already tells positives from negatives and "
            "punishes one that cannot.")


def dino_verdict(result: DinoCollapseResult) -> str:
    """Which of the measured DINO variants stayed healthy and how the others collapsed (each
    run's own verdict, ``collapse_verdict`` of its numbers, up to its first colon)."""
    healthy = [v.label for v in result.variants.values() if v.verdict.startswith("healthy")]
    failed = [f"{v.label} → {v.verdict.split(':')[0]}" for v in result.variants.values()
              if not v.verdict.startswith("healthy")]
    sentences = [f"After {result.steps} steps, "
                 + (f"only {_join(healthy)} stayed healthy" if healthy and failed
                    else f"{_join(healthy)} stayed healthy" if healthy
                    else "no variant stayed healthy") + "."]
    if failed:
        sentences.append("; ".join(failed) + ".")
    return " ".join(sentences)
