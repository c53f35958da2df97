"""lesson.results: atomic JSON results with provenance, clear errors when missing."""

from __future__ import annotations

import json

import pytest

from lesson.results import (
    ResultMissingError,
    available_results,
    load_result,
    result_path,
    save_result,
)


def test_round_trip_adds_provenance(tmp_path):
    path = save_result("demo", {"taus": [0.05, 0.1], "loss": [1.5, 2.0]}, command="python x.py",
                       wall_time_s=1.234, directory=tmp_path)
    assert path == tmp_path / "demo.json"
    data = load_result("demo", directory=tmp_path)
    assert data["taus"] == [0.05, 0.1] and data["loss"] == [1.5, 2.0]
    assert data["provenance"]["command"] == "python x.py"
    assert data["provenance"]["wall_time_s"] == 1.23
    assert data["provenance"]["machine"]["cpu_count"] >= 1
    assert available_results(directory=tmp_path) == ["demo"]


def test_missing_result_names_its_script(tmp_path):
    with pytest.raises(ResultMissingError, match=r"lesson\.experiments\.nothing"):
        load_result("nothing", directory=tmp_path)


def test_corrupt_and_non_object_files_are_refused(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_result("bad", directory=tmp_path)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match=r"binary\.json is not UTF-8"):
        load_result("binary", directory=tmp_path)
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="not a JSON object"):
        load_result("list", directory=tmp_path)


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a b", "x.json"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="result names"):
        result_path(name)


def test_nan_and_reserved_keys_are_refused(tmp_path):
    with pytest.raises(ValueError):
        save_result("nan", {"x": float("nan")}, directory=tmp_path)
    with pytest.raises(ValueError, match="provenance"):
        save_result("p", {"provenance": {}}, directory=tmp_path)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_measure_and_save_records_the_command_and_turns_bad_input_into_exit_code_2(
        tmp_path, capsys):
    from lesson.results import measure_and_save

    code = measure_and_save("demo", lambda: {"x": 1}, argv=["--seeds", "0"], prog="demo",
                            directory=tmp_path)
    assert code == 0
    data = load_result("demo", directory=tmp_path)
    assert data["x"] == 1
    assert data["provenance"]["command"] == "python3 -m lesson.experiments.demo --seeds 0"

    def bad() -> dict:
        raise ValueError("n_images must be >= 1")

    assert measure_and_save("bad", bad, argv=[], prog="demo", directory=tmp_path) == 2
    assert "demo: error: n_images must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
