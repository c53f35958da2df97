"""Every bundled result file reads through its experiment's typed result, and writes back the
same JSON: the pages and the report read exactly what the experiments wrote."""

from __future__ import annotations

import json

import pytest

from lesson.experiments import EXPERIMENTS, result_types
from lesson.results import available_results
from ssl_core import paths


def _without_nulls(value):
    """JSON with null-valued keys dropped (a field left at None is not written back)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_every_result_file_has_a_reader():
    assert set(available_results()) <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_bundled_result_round_trips_through_its_type(name):
    kind = result_types()[name]
    assert kind.NAME == name
    path = paths.results_dir() / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"{name} is not measured in this checkout")
    stored = json.loads(path.read_text(encoding="utf-8"))
    result = kind.load()
    assert result.provenance is not None and result.provenance.command
    written = result.to_json()
    assert written.pop("schema_version") == kind.SCHEMA_VERSION
    stored.pop("provenance")
    # files written before versions have none; a rerun of the experiment writes the current one
    assert stored.pop("schema_version", kind.SCHEMA_VERSION) == kind.SCHEMA_VERSION
    assert _without_nulls(written) == _without_nulls(stored)
