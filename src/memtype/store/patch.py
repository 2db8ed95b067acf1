"""A compact patch between two JSON-ready documents (dicts, lists, numbers, strings, None), and back.

The store keeps a sample's machine part (``model.sample_dict.to_dict`` without its processes) and
each process's dict as a patch against the previous sample's: nothing about a field's meaning is
known here, so a field a newer Sample adds (``Sample.cgroups``...) is stored with no schema change.

A patch of a dict or of a list of the same length is a list of ops ``[key, op, value]``:
``"="`` set (a new key, or a value of another type), ``"+"`` add an int to an int (counters grow by
little: a few digits instead of twenty), ``"*"`` add that many 4096-byte pages (store schema 2 on),
``"~"`` a nested patch, ``"-"`` delete the key. Any other
change replaces the whole value (``diff`` returns ``["=", new]`` at the top; ``apply`` takes it).
``apply`` never changes its input: the containers it touches are copied, the others shared, so
samples already handed out stay as they were.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SET, ADD, NESTED, DELETE, PAGES = "=", "+", "~", "-", "*"
PAGE = 4096  # most kernel byte counts move by whole pages: "* -3917" is shorter than "+ -16044032"


def diff(old: Any, new: Any) -> Any:
    """The patch from ``old`` to ``new``, or ``None`` when they are equal."""
    if type(old) is type(new) and old == new:
        return None
    ops = _ops(old, new)
    return [SET, new] if ops is None else ops


def _ops(old: Any, new: Any) -> list[list[Any]] | None:
    """The ops turning container ``old`` into ``new``; None where they cannot be patched in place."""
    if type(old) is dict and type(new) is dict:
        pairs: Any = new.items()
        gone = [[k, DELETE, None] for k in old if k not in new]
    elif type(old) is list and type(new) is list and len(old) == len(new):
        pairs, gone = enumerate(new), []
    else:
        return None
    ops = []
    for key, value in pairs:
        if type(old) is dict and key not in old:
            ops.append([key, SET, value])
            continue
        before = old[key]
        if type(before) is type(value) and before == value:
            continue
        if type(value) is int and type(before) is int:
            change = value - before
            ops.append([key, PAGES, change // PAGE] if change % PAGE == 0 else [key, ADD, change])
            continue
        nested = _ops(before, value)
        ops.append([key, SET, value] if nested is None else [key, NESTED, nested])
    return ops + gone


def apply(old: Any, patch: Any) -> Any:
    """``old`` with ``patch`` applied (``None``: unchanged).

    Raises:
        ValueError: a patch that does not fit ``old`` (a damaged record).
    """
    if patch is None:
        return old
    if type(patch) is not list:
        raise ValueError(f"a patch is a list, not {type(patch).__name__}")
    if len(patch) == 2 and patch[0] == SET:
        return patch[1]
    return _apply_ops(old, patch)


def _apply_ops(old: Any, ops: list[Any]) -> Any:
    if type(old) is dict:
        out: Any = dict(old)
    elif type(old) is list:
        out = list(old)
    else:
        raise ValueError(f"a patch of fields applied to a {type(old).__name__}")
    for op in ops:
        if type(op) is not list or len(op) != 3:
            raise ValueError("a patch op is [key, op, value]")
        key, kind, value = op
        if type(out) is list and (type(key) is not int or not 0 <= key < len(out)):
            raise ValueError(f"list index {key!r} out of range")
        if type(out) is dict and type(key) is not str:
            raise ValueError(f"dict key {key!r} is not a string")
        if kind == SET:
            out[key] = value
        elif kind == ADD or kind == PAGES:
            before = out[key]
            if type(before) is not int or type(value) is not int:
                raise ValueError(f"{kind} on {type(before).__name__}")
            out[key] = before + (value if kind == ADD else value * PAGE)
        elif kind == NESTED:
            if type(value) is not list:
                raise ValueError("a nested patch is a list of ops")
            out[key] = _apply_ops(out[key], value)
        elif kind == DELETE and type(out) is dict:
            del out[key]
        else:
            raise ValueError(f"unknown patch op {kind!r}")
    return out
