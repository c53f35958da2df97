"""lesson.results: atomic JSON results with provenance, clear errors when missing."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lesson.results import (
    Record,
    Result,
    ResultFormatError,
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

    code = measure_and_save(Demo, lambda: {"x": 1}, argv=["--seeds", "0"], prog="demo",
                            directory=tmp_path)
    assert code == 0
    data = load_result("demo", directory=tmp_path)
    assert data["x"] == 1 and data["schema_version"] == 1
    assert data["provenance"]["command"] == "python3 -m lesson.experiments.demo --seeds 0"

    def bad() -> dict:
        raise ValueError("n_images must be >= 1")

    assert measure_and_save(Demo, bad, argv=[], prog="demo", directory=tmp_path / "b") == 2
    assert "demo: error: n_images must be >= 1" in capsys.readouterr().err
    assert measure_and_save(Demo, lambda: {"x": "one"}, argv=[], prog="demo",
                            directory=tmp_path / "b") == 2  # not the result's shape
    assert "expected an integer" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Demo(Result):
    NAME = "demo"

    x: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inner(Record):
    values: list[float]
    label: str | None = None
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outer(Result):
    NAME = "outer"

    count: int
    inner: Inner
    by_name: dict[str, Inner] = dataclasses.field(default_factory=dict)
    maybe: Inner | None = None


def test_records_convert_field_by_field_and_back(tmp_path):
    data = {"count": 2, "inner": {"values": [1, 2.5], "other": True},
            "by_name": {"a": {"values": []}}}
    outer = Outer.from_json(data)
    assert outer.inner.values == [1.0, 2.5] and isinstance(outer.inner.values[0], float)
    assert outer.inner.extra == {"other": True} and outer.maybe is None
    assert outer.to_json() == data | {"schema_version": 1}
    outer.save(command="test", directory=tmp_path)
    again = Outer.load(tmp_path)
    assert again.inner == outer.inner and again.provenance.command == "test"


@pytest.mark.parametrize(("data", "message"), [
    ({"inner": {"values": []}}, "lacks 'count'"),
    ({"count": "2", "inner": {"values": []}}, r"Outer.count: expected an integer"),
    ({"count": 2, "inner": {"values": ["x"]}}, r"Outer.inner.values\[0\]: expected a number"),
    ({"count": 2, "inner": []}, "expected an object"),
])
def test_records_say_where_the_shape_is_wrong(data, message):
    with pytest.raises(ResultFormatError, match=message):
        Outer.from_json(data)


def test_load_names_the_file_and_the_command_for_a_bad_shape_or_version(tmp_path):
    save_result("outer", {"count": 1}, command="test", directory=tmp_path)
    with pytest.raises(ResultFormatError, match=r"outer.json lacks 'inner'.*unexpected shape.*"
                                                r"lesson.experiments.outer"):
        Outer.load(tmp_path)
    save_result("outer", {"count": 1, "inner": {"values": []}, "schema_version": 9},
                command="test", directory=tmp_path)
    with pytest.raises(ResultFormatError, match="schema version 9"):
        Outer.load(tmp_path)
