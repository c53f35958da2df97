"""The typed reader of ssl_core.probe's report: the bundled full-protocol report reads, and a
missing or malformed one is a message naming the command that writes it."""

from __future__ import annotations

import pytest

from lesson.probe_report import FULL_PROBE_COMMAND, ProbeReport, full_probe_path
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
