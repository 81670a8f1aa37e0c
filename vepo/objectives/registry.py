"""Name → objective class registry; conf/algo/<name>.yaml picks an entry by name and passes its params."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_REGISTRY: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_objective(name: str) -> Callable[[T], T]:
    """Class decorator: register a dataclass objective under `name` (apply it on top of @dataclass)."""

    def decorator(cls: T) -> T:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"objective {name!r}: {cls.__name__} must be a dataclass (its init fields are its params)")
        old = _REGISTRY.get(name)
        # Re-registering the same class (module re-import) is harmless; a different class under one name is a bug.
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"objective name {name!r} already registered by {old.__module__}.{old.__qualname__}")
        _REGISTRY[name] = cls
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return decorator


def allowed_params(name: str) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(_lookup(name)) if f.init)


def _lookup(name: str) -> type:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; known: {', '.join(list_objectives())}") from None


def get_objective(name: str, **params: Any) -> Any:
    """Instantiate objective `name` with `params` overriding its defaults (ValueError on unknown name/param)."""
    cls = _lookup(name)
    allowed = allowed_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for objective "
            f"{name!r}; allowed: {', '.join(allowed)}"
        )
    return cls(**params)


def list_objectives() -> list[str]:
    return sorted(_REGISTRY)
