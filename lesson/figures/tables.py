"""CSV text of the numbers behind a figure, for the pages' download buttons."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["matrix_to_csv", "records_to_csv"]


def records_to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of rows (header: every row's keys in first-seen order; a key a row lacks and
    None -> empty). Measured records leave out fields they have no value for, e.g. a training
    curve's loss at step 0, so the first row need not have every column."""
    if not records:
        raise ValueError("records_to_csv needs at least one row")
    buffer = io.StringIO()
    fieldnames = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def matrix_to_csv(matrix: np.ndarray, labels: Sequence[str], *, decimals: int = 5) -> str:
    """CSV of a square matrix with a header row and a first column of ``labels``."""
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
        raise ValueError(
            f"matrix must be square with one label per row; got {matrix.shape} and "
            f"{len(labels)} labels"
        )
    buffer = io.StringIO()
    buffer.write("," + ",".join(labels) + "\n")
    body = np.char.mod(f"%.{decimals}f", np.asarray(matrix, dtype=np.float64))  # (R, C) str
    for label, row in zip(labels, body, strict=True):
        buffer.write(label + "," + ",".join(row) + "\n")
    return buffer.getvalue()
