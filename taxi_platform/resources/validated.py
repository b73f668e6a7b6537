"""Config values from the environment are checked when they are resolved, and errors name the variable.

A resource field given an `EnvVar` holds the variable's *name* until a run resolves it, so a
validator must let the name pass at definition time and judge the value at resolution. Dagster
resolves by building the resource again from the resolved values; `EnvValidated` catches that
validation error and says which variable held the bad value: `TAXI_SPARK_MASTER='foo': ...`.

It raises that as Dagster's own resource error, so the run's failure says it on its first line
(Dagster would otherwise wrap it as "Error executing resource_fn on ResourceDefinition spark" and
show the cause only below the stack trace).
"""

from __future__ import annotations

import sys
from typing import Any

from dagster import DagsterResourceFunctionError, EnvVar
from pydantic import ValidationError


class BadSetting(ValueError):
    """A configured value that cannot work; the message names the variable (or field) and the value."""


class EnvValidated:
    """Mixin for a ConfigurableResource (first in the bases): validation errors of resolved values name their EnvVar."""

    def _with_updated_values(self, values: dict[str, Any]) -> Any:
        try:
            try:
                return super()._with_updated_values(values)  # type: ignore[misc]
            except ValidationError as error:
                raise BadSetting("; ".join(_describe(self, problem) for problem in error.errors())) from None
        except BadSetting as bad:
            raise DagsterResourceFunctionError(str(bad), user_exception=bad, original_exc_info=sys.exc_info()) from bad


def _describe(resource: object, problem: Any) -> str:
    field = str(problem["loc"][0]) if problem["loc"] else ""
    origin = resource.__dict__.get(field)
    where = f"{origin.env_var_name}" if isinstance(origin, EnvVar) else f"{type(resource).__name__}.{field}"
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{where}={problem.get('input')!r}: {message}"


def is_unresolved(value: object) -> bool:
    """True for an `EnvVar` not resolved yet: validators check its value later, when a run resolves it."""
    return isinstance(value, EnvVar)
