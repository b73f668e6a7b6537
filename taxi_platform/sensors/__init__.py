"""Sensors that keep the platform current: new files in the landing zone, new months at the source."""

from taxi_platform.sensors.landing import landing_files_sensor
from taxi_platform.sensors.source import source_months_sensor

trip_sensors = [landing_files_sensor, source_months_sensor]

__all__ = ["landing_files_sensor", "source_months_sensor", "trip_sensors"]
