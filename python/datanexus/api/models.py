"""Request body models: unknown fields are refused and so is any key starting with ``_``
at any depth (API-10): no request key ever names an attribute, private or not; strings
holding NUL (which PostgreSQL text cannot store) are refused too. All answer 422 before
the route runs, so nothing changes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["StrictModel", "nul_path", "underscore_key_path"]


def underscore_key_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first ``_``-prefixed key in ``value``, or None."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and key.startswith("_"):
                    return f"{where}.{key}"
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def nul_path(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first string (key or value) holding a NUL character, which
    PostgreSQL text cannot store, or None."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return f"{where}.{key!r}"
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_underscore_keys(cls, data: Any) -> Any:
        where = underscore_key_path(data)
        if where is not None:
            raise ValueError(f"key {where} starts with '_': such keys are never accepted")
        where = nul_path(data)
        if where is not None:
            raise ValueError(f"{where} contains a NUL character, which is never accepted")
        return data
