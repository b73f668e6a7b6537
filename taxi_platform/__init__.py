"""taxi_platform: the NYC TLC batch-processing course as Dagster software-defined assets."""
