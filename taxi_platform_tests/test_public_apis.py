"""The package uses its libraries' public APIs only: what an upgrade of dagster or pyspark may change without notice
is not reached into, except PySpark's py4j gateway to the JVM, which has no public door, in `spark/jvm.py`."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import taxi_platform

PACKAGE = Path(taxi_platform.__file__).parent
GATEWAY = PACKAGE / "spark" / "jvm.py"


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_private_module_of_a_library_is_imported():
    found = []
    for path in package_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if not name.startswith("taxi_platform") and any(
                    part.startswith("_") and not part.startswith("__") for part in name.split(".")
                ):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {name}")
    assert found == []


def test_no_private_member_of_another_object_is_used():
    """`x._name` is read only on the object's own class (`self`, `cls`); the gateway module is the one exception."""
    found = []
    for path in package_files():
        if path == GATEWAY:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: .{node.attr}")
    assert found == []


def test_no_private_method_of_a_library_class_is_overridden():
    """A subclass of a Dagster or pydantic class defines no `_name` its library's classes already have."""
    found = []
    for module in pkgutil.walk_packages(taxi_platform.__path__, "taxi_platform."):
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if not cls.__module__.startswith("taxi_platform"):
                continue
            library = [base for base in cls.__mro__ if not base.__module__.startswith(("taxi_platform", "builtins"))]
            for name, member in vars(cls).items():
                method = inspect.isfunction(member) or isinstance(member, (property, classmethod, staticmethod))
                private = name.startswith("_") and not name.startswith("__")
                if method and private and any(name in vars(base) for base in library):
                    found.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert found == []


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules a file imports, at its top or inside a function (a lazy import is an edge too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found & modules


def test_the_package_has_no_import_cycle():
    names = {
        path: ".".join(("taxi_platform", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for path in package_files()
    }
    modules = set(names.values())
    graph = {names[path]: imported_modules(path, modules) - {names[path]} for path in package_files()}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in trail:
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in done:
                visit(target, [*trail, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []
