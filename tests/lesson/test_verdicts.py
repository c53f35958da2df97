"""Verdict lines are made from the numbers: flip the numbers and the sentence flips."""

from __future__ import annotations

from lesson.experiments.dino_collapse import DinoCollapseResult
from lesson.experiments.hard_exercise import HardExerciseResult
from lesson.experiments.infonce_tau import InfonceTauResult
from lesson.experiments.probe_table import ProbeTableResult
from lesson.probe_report import ProbeReport
from lesson.verdicts import (
    dino_verdict,
    distinct_names,
    finetune_verdict,
    full_protocol_verdict,
    hard_exercise_verdict,
    hard_pairs,
    probe_table_verdict,
    tau_verdict,
)


def hard(rows: list[tuple[str, int, float]]) -> HardExerciseResult:
    return HardExerciseResult.from_json({"labelled_subset": 1000, "rows": [
        {"model": model, "backbone": "unet_tiny_28", "epochs": epochs, "accuracy": accuracy,
         "protocol": "p", "wall_time_s": 1.0} for model, epochs, accuracy in rows]})


def test_hard_exercise_says_supervised_wins_at_the_longest_budget_when_it_does():
    result = hard([("MAE TinyUNet", 10, 0.72), ("Supervised TinyUNet", 10, 0.36),
                   ("MAE TinyUNet", 200, 0.70), ("Supervised TinyUNet", 200, 0.77),
                   ("MAE ViT", 10, 0.63), ("Supervised ViT", 10, 0.35)])
    assert hard_pairs(result)["TinyUNet"] == [(10, 0.72, 0.36), (200, 0.70, 0.77)]
    text = hard_exercise_verdict(result)
    assert "TinyUNet: MAE + linear probe wins at 10 epochs; supervised training wins at 200" in text
    assert "At 200 epochs, the longest budget, supervised TinyUNet beats MAE" in text
    assert "(77.0% vs 70.0%)" in text
    assert "Not measured at 200 epochs: ViT (up to 10)" in text


def test_hard_exercise_verdict_flips_when_mae_wins_at_the_longest_budget():
    result = hard([("MAE TinyUNet", 10, 0.72), ("Supervised TinyUNet", 10, 0.36),
                   ("MAE TinyUNet", 200, 0.80), ("Supervised TinyUNet", 200, 0.77)])
    text = hard_exercise_verdict(result)
    assert "MAE pretraining + probe still beats supervised TinyUNet (80.0% vs 77.0%)" in text
    assert "supervised training wins" not in text
    assert "no verdict" in hard_exercise_verdict(hard([("MAE TinyUNet", 10, 0.7)]))


def probe(raw: float, dino: float, random: float) -> ProbeTableResult:
    def row(name, label, kind, value, **extra):
        return {"name": name, "label": label, "kind": kind, "backbone": "b", "knn_k200": value,
                "knn_k20": value, "linear_all": value, "linear_1000": value, **extra}
    return ProbeTableResult.from_json({"protocol": {"summary": "s"}, "few_labels_key":
                                       "linear_1000", "rows": [
        row("dino", "DINO, vit (1500 steps)", "ssl", dino),
        row("dino_random", "vit as in dino, random init", "random", random, of="dino"),
        row("simclr", "SimCLR, cnn (10 steps)", "ssl", 0.9),
        row("raw_pixels", "raw pixels (784 values)", "raw", raw)]})


def test_probe_table_verdict_says_where_raw_pixels_win_and_flips():
    text = probe_table_verdict(probe(raw=0.8, dino=0.6, random=0.7))
    assert "Raw pixels, with no network at all, beat DINO on every column" in text
    assert "SimCLR beats raw pixels on every column" in text
    assert "Below its own architecture at random init: DINO (on every column)" in text
    flipped = probe_table_verdict(probe(raw=0.5, dino=0.6, random=0.55))
    assert "Raw pixels" not in flipped.split(".")[0] or "beat raw pixels" in flipped
    assert "DINO and SimCLR beat raw pixels on every column" in flipped
    assert "Every self-supervised encoder beats its random init on every column" in flipped


def report(tuned: float, scratch: float, probe_value: float) -> ProbeReport:
    return ProbeReport.from_json({
        "name": "simclr", "method": "simclr", "backbone": "cnn", "rows": [
            {"encoder": "simclr", "kind": "pretrained", "results": {
                "linear_100pc": {"column": "linear, 1,000 labels", "value": probe_value}}}],
        "finetune": {"n_labels": 1000, "fine_tuned": {"accuracy": tuned},
                     "scratch": {"accuracy": scratch}}})


def test_finetune_verdict_flips_with_the_numbers():
    up = finetune_verdict(report(0.85, 0.79, 0.83))
    assert "reaches 85.0%, 6.0 points above the same network trained from scratch" in up
    assert "2.0 points above a linear probe" in up and "pretraining pays off" in up
    down = finetune_verdict(report(0.75, 0.79, 0.83))
    assert "4.0 points below the same network" in down and "8.0 points below a linear" in down
    assert "does not pay off" in down


def tau(aligned: list[float], random: list[float]) -> InfonceTauResult:
    return InfonceTauResult.from_json({"taus": [0.05, 0.5], "synthetic": {
        "n": 16, "d": 32, "noise": 0.5, "seeds": 3, "aligned": aligned, "random": random}})


def test_tau_verdict_flips_with_the_numbers():
    text = tau_verdict(tau([0.001, 1.8], [7.8, 3.5]))
    assert "As τ drops from 0.5 to 0.05" in text
    assert "aligned toy pairs falls from 1.8 to 0.001" in text
    assert "random toy pairs rises from 3.5 to 7.8" in text
    flipped = tau_verdict(tau([2.5, 1.8], [3.0, 3.5]))
    assert "aligned toy pairs rises" in flipped and "random toy pairs falls" in flipped


def dino(verdicts: dict[str, str]) -> DinoCollapseResult:
    return DinoCollapseResult.from_json({"recipe": {}, "steps": 300, "variants": {
        name: {"label": name, "centering": True, "sharpening": True, "curve": [{"step": 1.0}],
               "verdict": verdict} for name, verdict in verdicts.items()}})


def test_dino_verdict_names_what_stayed_healthy():
    text = dino_verdict(dino({"healthy": "healthy: entropy 3.6", "no_centering":
                              "collapsed to a constant at step 14: one dimension"}))
    assert text.startswith("After 300 steps, only healthy stayed healthy.")
    assert "no_centering → collapsed to a constant at step 14." in text
    assert "no variant stayed healthy" in dino_verdict(dino({"a": "collapsed to uniform: x"}))


def full(name: str, knn: float, linear: float, tuned: float, scratch: float) -> ProbeReport:
    """A full-protocol report of ``name`` with raw pixels at kNN 0.79 / linear 0.835."""
    def cells(k: float, lin: float) -> dict:
        return {"knn_k200": {"column": "kNN k=200", "value": k},
                "linear_all": {"column": "linear, all", "value": lin}}
    return ProbeReport.from_json({
        "name": name, "method": name, "backbone": "net", "step": 100, "rows": [
            {"encoder": f"{name} net", "kind": "pretrained", "results": cells(knn, linear)},
            {"encoder": f"net random {name}", "kind": "random_init",
             "results": cells(0.7, 0.8)},
            {"encoder": "raw pixels", "kind": "raw_pixels", "results": cells(0.79, 0.835)}],
        "finetune": {"n_labels": 1000, "fine_tuned": {"accuracy": tuned},
                     "scratch": {"accuracy": scratch}}})


def test_full_protocol_verdict_sorts_encoders_by_whether_they_beat_raw_pixels():
    reports = [full("simclr", 0.845, 0.889, 0.853, 0.787), full("dino", 0.635, 0.78, 0.7, 0.75),
               full("mae", 0.80, 0.80, 0.86, 0.80)]
    said = full_protocol_verdict(reports)
    assert "SimCLR (84.5% vs 79.0% on kNN k=200) beats raw pixels on both" in said
    assert "MAE (80.0% vs 79.0% on kNN k=200) beats raw pixels on one of the two only" in said
    assert "Raw pixels beat DINO (63.5% vs 79.0% on kNN k=200) on both" in said
    assert "SimCLR +6.6, DINO -5.0, MAE +6.0" in said
    flipped = full_protocol_verdict([full("dino", 0.85, 0.9, 0.8, 0.7)])
    assert "DINO (85.0% vs 79.0% on kNN k=200) beats raw pixels on both" in flipped
    assert "Raw pixels beat" not in flipped and "DINO +10.0" in flipped


def test_two_reports_of_one_method_are_told_apart_by_their_backbone():
    cnn, vit = full("dino", 0.833, 0.877, 0.843, 0.787), full("dino_vit", 0.635, 0.78, 0.7, 0.66)
    cnn, vit = (ProbeReport.from_json(r.to_json() | {"method": "dino", "backbone": b})
                for r, b in ((cnn, "cnn_base_28"), (vit, "vit_tiny_p4_28")))
    said = full_protocol_verdict([cnn, vit])
    assert "DINO on cnn_base_28 (83.3% vs 79.0% on kNN k=200) beats raw pixels on both" in said
    assert "Raw pixels beat DINO on vit_tiny_p4_28 (63.5% vs 79.0% on kNN k=200)" in said
    assert "DINO on cnn_base_28 +5.6, DINO on vit_tiny_p4_28 +4.0" in said
    assert distinct_names([cnn]) == {"dino": "DINO"}  # alone, no backbone needed


def test_full_protocol_verdict_without_the_columns_says_so():
    bare = ProbeReport.from_json({"name": "x", "rows": [
        {"encoder": "x", "kind": "pretrained", "results": {}}]})
    assert "no verdict" in full_protocol_verdict([bare])
