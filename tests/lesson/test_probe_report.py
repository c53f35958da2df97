"""The typed reader of ssl_core.probe's report: the bundled full-protocol report reads, and a
missing or malformed one is a message naming the command that writes it."""

from __future__ import annotations

import json

import pytest

from lesson.probe_report import (
    FULL_PROBE_COMMAND,
    FULL_PROBE_NAMES,
    ProbeReport,
    full_probe_path,
    load_all,
)
from lesson.results import ResultFormatError, ResultMissingError


def test_the_bundled_full_protocol_report_reads():
    path = full_probe_path()
    if path is None or not path.is_file():
        pytest.skip("outputs/probe-full is not in this checkout")
    report = ProbeReport.load()
    assert {row.kind for row in report.rows} == {"pretrained", "random_init", "raw_pixels"}
    assert report.finetune is not None and report.finetune.n_labels == 1000
    assert 0 < report.finetune.scratch.accuracy < 1 and 0 < report.finetune.fine_tuned.accuracy < 1
    assert report.row("pretrained").results["linear_all"].column.startswith("linear")
    assert report.row("nope") is None


def test_every_bundled_fashion_encoder_has_a_current_full_report():
    """Each bundled 28 x 28 gray checkpoint is in FULL_PROBE_NAMES, and its report in
    outputs/probe-full was made from that checkpoint (same backbone and step), so a retrained
    or renamed checkpoint cannot keep an old model's numbers."""
    from ssl_core.checkpoints import checkpoint_info, checkpoint_names
    from ssl_core.paths import checkpoints_dir

    path = full_probe_path()
    if path is None or not path.parent.is_dir():
        pytest.skip("outputs/probe-full is not in this checkout")
    for name in checkpoint_names():
        info = checkpoint_info(checkpoints_dir() / name)
        if not info.is_fashion:
            continue
        assert name in FULL_PROBE_NAMES, f"{name} is bundled but not probed on the full protocol"
        report_path = full_probe_path(name)
        assert report_path.is_file(), f"no {report_path}; made by {FULL_PROBE_COMMAND}"
        report = json.loads(report_path.read_text())
        assert report["checkpoint"] == f"assets/checkpoints/{name}"
        assert (report["backbone"], report["step"]) == (info.backbone, info.step), name


def test_a_missing_report_names_its_command(tmp_path):
    with pytest.raises(ResultMissingError, match="--protocol full"):
        ProbeReport.load(tmp_path / "probe-simclr.json")
    assert "--protocol full --out outputs/probe-full" in FULL_PROBE_COMMAND


@pytest.mark.parametrize(("text", "match"), [("{not json", "is not JSON"),
                                             ('{"name": "x"}', "lacks 'rows'")])
def test_a_malformed_report_is_a_format_error(tmp_path, text, match):
    path = tmp_path / "probe-simclr.json"
    path.write_text(text)
    with pytest.raises(ResultFormatError, match=match):
        ProbeReport.load(path)


def _write(folder, name, **extra):
    (folder / f"probe-{name}.json").write_text(json.dumps({
        "name": name, "method": name, "rows": [
            {"encoder": name, "kind": "pretrained",
             "results": {"knn_k200": {"column": "kNN k=200", "value": 0.8}}}]} | extra))


def test_load_all_reads_every_report_bundled_names_first(tmp_path):
    for name in ("zeta", "mae", "simclr", "dino"):
        _write(tmp_path, name)
    (tmp_path / "probe-broken.json").write_text("{not json")
    reports, problems = load_all(tmp_path)
    assert [r.name for r in reports] == ["simclr", "dino", "mae", "zeta"]
    assert len(problems) == 1 and problems[0].startswith("probe-broken.json: ")
    assert load_all(tmp_path / "absent") == ([], [])


def test_the_command_names_every_bundled_encoder():
    for name in FULL_PROBE_NAMES:
        assert f"assets/checkpoints/{name} " in FULL_PROBE_COMMAND
