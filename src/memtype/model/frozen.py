"""Read-only records without ``dataclasses``: slots set once in ``__init__``, changed copies by ``replace``.

``dataclasses(frozen=True)`` would do the same, but importing ``dataclasses`` pulls in ``inspect``
(about 7 ms of every run's start-up, measured with ``python -X importtime``; see model/records.py).
A subclass lists its fields in ``__slots__`` and sets them with ``fill(self, ...)`` in that order.
Setting an attribute afterwards raises ``AttributeError``. The guard costs about 0.15 µs per field
at construction (``object.__setattr__``), so the per-mapping value types (``KindUsage``, ``Totals``)
stay plain: they are built millions of times in ``maps --all``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any, TypeVar

    R = TypeVar("R", bound="Frozen")

_set = object.__setattr__


def fill(record: Frozen, *values: object) -> None:
    """Set ``record``'s fields, in ``__slots__`` order (its ``__init__`` calls this once)."""
    for name, value in zip(fields(record), values):
        _set(record, name, value)


def fields(record: Frozen) -> tuple[str, ...]:
    """The record's field names, in order."""
    names: tuple[str, ...] = type(record).__slots__
    return names


def _rebuild(cls: type[R], values: tuple[object, ...]) -> R:
    record = object.__new__(cls)
    fill(record, *values)
    return record


class Frozen:
    """Base of the read-only records (module docstring)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only: use replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def replace(self: R, **changes: Any) -> R:
        """A copy with ``changes`` (field name -> new value); the record itself stays as it is.

        Raises:
            TypeError: a name that is not a field.
        """
        names = fields(self)
        unknown = set(changes).difference(names)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        return _rebuild(type(self), tuple(changes[n] if n in changes else getattr(self, n) for n in names))

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle rebuild through fill()
        return (_rebuild, (type(self), tuple(getattr(self, n) for n in fields(self))))


class FrozenValue(Frozen):
    """A read-only record compared by value (every field equal); unhashable, as its fields may be dicts."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, n) == getattr(other, n) for n in fields(self))

    __hash__ = None  # type: ignore[assignment]
