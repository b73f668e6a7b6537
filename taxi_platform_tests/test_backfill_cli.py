"""`python -m taxi_platform.backfill`: which partitions a command line names (the runs are Dagster's own)."""

import pytest

from taxi_platform.backfill import expand


def test_a_range_names_every_month_in_it_and_a_single_month_itself():
    assert [(m.color, m.yyyy_mm) for m in expand(["green:2021-11..2022-02", "yellow:2021-01"])] == [
        ("green", "2021-11"),
        ("green", "2021-12"),
        ("green", "2022-01"),
        ("green", "2022-02"),
        ("yellow", "2021-01"),
    ]


@pytest.mark.parametrize("item", ["green:2021-03..2021-01", "blue:2021-01", "green:2021-13", "green:2021"])
def test_a_backwards_range_or_a_malformed_item_is_refused(item):
    with pytest.raises(ValueError, match=item):
        expand([item])
