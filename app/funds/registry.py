"""Fund adapters: found by name through the entry-point group `coopledger.fund_adapters`.

Shaped like SQLAlchemy dialects and stevedore drivers: a small Protocol, an entry-point
group, `get(name)` that names an unknown adapter clearly, and `register()` for tests.
Built-ins are declared in pyproject.toml like any third party's.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from app.core.errors import ValidationFailed

GROUP = "coopledger.fund_adapters"


@runtime_checkable
class FundAdapter(Protocol):
    """What every fund adapter provides (the remittances feature extends this contract)."""

    name: str

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Return the config normalised, or raise ValueError naming what is wrong."""
        ...


_registered: dict[str, type[FundAdapter] | FundAdapter] = {}


def register(name: str, adapter: type[FundAdapter] | FundAdapter) -> None:
    """Register an adapter by hand (tests, or an application embedding coopledger)."""
    _registered[name] = adapter


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _discovered() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def names() -> list[str]:
    return sorted(set(_discovered()) | set(_registered))


def get(name: str) -> FundAdapter:
    """The adapter called `name`; ValidationFailed (field `adapter`) if none is installed."""
    found: Any = _registered.get(name)
    if found is None:
        ep = _discovered().get(name)
        if ep is None:
            known = ", ".join(names()) or "none installed"
            raise ValidationFailed.field(
                "adapter", f"no fund adapter named {name!r} (known: {known})"
            )
        found = ep.load()
    return found() if isinstance(found, type) else found
