"""Where the tests find the repository and its committed TLC files, and the Spark settings they all share."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "taxi_platform_tests" / "data"
GREEN_CSV = DATA / "green_tripdata_2021_01.csv.gz"
YELLOW_CSV = DATA / "yellow_tripdata_2021-01.csv"
# The TLC feed's own parquet file for green 2024-01, and the zone lookup both sources publish.
GREEN_PARQUET = DATA / "green_tripdata_2024-01.parquet"
ZONE_LOOKUP = DATA / "taxi_zone_lookup.csv"
# Green months the mirror also serves, made from GREEN_CSV by moving its timestamps (see months.py).
MOVED_GREEN_MONTHS = ("2021-02", "2021-03")
# Tests run many Spark sessions one after another: no UI ports to fight over.
TEST_SPARK_CONFIG = {"spark.ui.enabled": "false", "spark.driver.memory": "2g"}
