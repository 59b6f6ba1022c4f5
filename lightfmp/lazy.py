"""`lazy_exports`: a package's names loaded from its submodules on first use (PEP 562), so importing the package
(for a torch-free config) does not import torch."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping


def lazy_exports(package: str, where: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: name -> ``package.<where[name]>``'s attribute, cached in ``namespace``."""
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{where[name]}"), name)
        namespace[name] = value
        return value
    return __getattr__
