"""The full-protocol table: one row per pretrained encoder and per random-init twin, raw pixels
once, fine-tuned and from-scratch accuracies in one column."""

from __future__ import annotations

from lesson.figures.probe import END_TO_END, full_protocol_rows
from lesson.probe_report import ProbeReport


def report(name: str, backbone: str, knn: float, tuned: float | None) -> ProbeReport:
    rows = [{"encoder": f"{name} {backbone}", "kind": "pretrained",
             "results": {"knn_k200": {"column": "kNN k=200", "value": knn}}},
            {"encoder": f"{backbone} random", "kind": "random_init",
             "results": {"knn_k200": {"column": "kNN k=200", "value": 0.5}}},
            {"encoder": "raw pixels", "kind": "raw_pixels",
             "results": {"knn_k200": {"column": "kNN k=200", "value": 0.79},
                         "linear_all": {"column": "linear, all", "value": 0.835}}}]
    data = {"name": name, "method": name, "backbone": backbone, "step": 1500, "rows": rows}
    if tuned is not None:
        data["finetune"] = {"n_labels": 1000, "fine_tuned": {"accuracy": tuned},
                            "scratch": {"accuracy": 0.7}}
    return ProbeReport.from_json(data)


def test_rows_pretrained_then_twin_then_raw_pixels_once():
    rows = full_protocol_rows([report("simclr", "cnn", 0.845, 0.853),
                               report("mae", "vit", 0.8, None)])
    column = END_TO_END.format(n=1000)
    assert [r["encoder"] for r in rows] == [
        "SimCLR · cnn, step 1,500", "cnn, random init (as in SimCLR)",
        "MAE · vit, step 1,500", "vit, random init (as in MAE)", "raw pixels (no network)"]
    assert [r["kNN k=200"] for r in rows] == ["84.5%", "50.0%", "80.0%", "50.0%", "79.0%"]
    assert [r[column] for r in rows] == ["85.3%", "70.0%", "", "", ""]
    # a column only raw pixels has is still a column, blank where an encoder lacks it
    assert [r["linear, all"] for r in rows] == ["", "", "", "", "83.5%"]


def test_no_reports_no_rows():
    assert full_protocol_rows([]) == []


def test_each_report_keeps_its_own_random_init_row():
    """DINO and MAE both use vit_tiny_p4_28, with different pooling: two random-init rows."""
    rows = full_protocol_rows([report("dino", "vit", 0.6, None), report("mae", "vit", 0.62, None)])
    assert [r["encoder"] for r in rows] == [
        "DINO · vit, step 1,500", "vit, random init (as in DINO)", "MAE · vit, step 1,500",
        "vit, random init (as in MAE)", "raw pixels (no network)"]
