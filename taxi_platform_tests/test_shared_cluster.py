"""Two runs share one standalone cluster: each application takes its share of the worker's cores."""

from __future__ import annotations

import subprocess
import sys

from taxi_platform_tests.support.data import REPO

# One process per run (one SparkContext each, as two Dagster runs have): a session, then work that
# outlasts the other's executor_wait_seconds, so the second only succeeds if the first left it a core.
_RUN = """
import sys, time
from taxi_platform.resources import SparkResource
spark = SparkResource(master=sys.argv[1], master_ui_url=sys.argv[2], executor_wait_seconds=5,
                      spark_config={"spark.ui.enabled": "false"}, start_early=False)
session = spark.spark_session
print(spark.application["spark_cores_max"], flush=True)
session.range(4).rdd.map(lambda x: time.sleep(2) or x).collect()
spark.teardown_after_execution(None)
"""


def test_two_applications_each_take_one_of_two_cores(standalone_cluster):
    ui = f"http://127.0.0.1:{standalone_cluster.master_ui}"
    runs = [
        subprocess.Popen([sys.executable, "-c", _RUN, standalone_cluster.master_url, ui], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        assert out.strip() == "1"
    apps = standalone_cluster.master_state()["completedapps"]
    assert len(apps) == 2
    assert [app["cores"] for app in apps] == [1, 1]
