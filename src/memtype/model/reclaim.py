"""What the kernel could take back (stub: the reclaim engineer fills this module)."""

from __future__ import annotations

from memtype.model.records import Scan
from memtype.source.root import Root


def annotate(scan: Scan, root: Root) -> None:
    """Set ``reclaim`` ({"drop","writeback","swap","never"}, bytes) on every process of ``scan``."""
