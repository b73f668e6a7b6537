"""What every warehouse must do with a report, asserted the same way for DuckDB and BigQuery."""

from __future__ import annotations

import re

import pytest

from taxi_platform.resources.warehouse import RevenueWarehouse, StrayRows
from taxi_platform.tlc import TripMonth


def assert_refuses_a_report_of_another_month(warehouse: RevenueWarehouse, files: list[str], month: TripMonth) -> None:
    """Loaded as the next month's, `month`'s report would escape the slice replace: refused naming its
    folder, nothing changed in either slice or in the record of loads."""
    warehouse.replace_revenue(files, month, "{}", "first")
    kept = warehouse.slice_rows(month)
    other = TripMonth.parse(month.color, "2021-02" if month.yyyy_mm != "2021-02" else "2021-03")
    folder = re.escape(files[0].rsplit("/", 1)[0])
    with pytest.raises(StrayRows, match=rf"^{other.label}: {folder}: \d+ report rows are not in {other.label}"):
        warehouse.replace_revenue(files, other, "{}", "second")
    assert warehouse.slice_rows(other) == [] and warehouse.slice_rows(month) == kept
    assert warehouse.last_load(month).run_id == "first" and warehouse.last_load(other) is None
