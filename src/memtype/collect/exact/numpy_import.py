"""numpy, or a one-line error saying how to get it."""

from __future__ import annotations

from types import ModuleType

from memtype.errors import MemtypeError


def numpy() -> ModuleType:
    try:
        import numpy as np
    except ImportError:
        raise MemtypeError("--exact needs numpy: pip install 'memtype[exact]'") from None
    return np
