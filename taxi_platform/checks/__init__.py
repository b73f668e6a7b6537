"""Asset checks per month x color partition, declared on the assets they check."""

from taxi_platform.checks.revenue import revenue_checks
from taxi_platform.checks.typed_trips import typed_trips_checks

trip_checks = [*typed_trips_checks, *revenue_checks]

__all__ = ["trip_checks"]
