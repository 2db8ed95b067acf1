"""``snapshot --redact``: file paths in smaps are cut to their last component.

What ``--redact`` changes: command lines are not stored, ``exe`` keeps only the executable's name, and
each file path in an smaps header becomes ``/.../NAME`` (``/usr/lib/x86_64-linux-gnu/libc.so.6`` ->
``/.../libc.so.6``; ``/dev/shm/app/x`` -> ``/dev/shm/x``).

What stays, because classifying the mapping needs it or because there is no directory to hide: the
addresses, permissions, offset, device and inode of every mapping; anonymous and bracketed names
(``[heap]``, ``[anon:NAME]``); kernel object names (``/SYSV…``, ``/memfd:NAME``, ``/dev/zero``,
``/anon_hugepage``, …, the shared-memory names of kernel-spec A.4) and device nodes under ``/dev/``.
The rest of the capture is stored as read: process names (comm, status ``Name:``), user names,
the hostname, cgroup paths (container and service names), mount points in mountinfo and swap file
paths in ``/proc/swaps``.
"""

from __future__ import annotations

import re

# The shared-memory names model.classify recognises by prefix (kernel-spec A.4): never rewritten,
# or the mapping would change class. tests/test_capture_safety.py checks the two lists agree.
KEPT_PREFIXES = (b"/dev/zero", b"/memfd:", b"/SYSV", b"/secretmem", b"/anon_hugepage", b"/i915",
                 b"/drm mm object")
_HEADER = re.compile(rb"^([0-9a-f]+-[0-9a-f]+ [-rwxsp]{4} [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ [0-9]+ +)(/[^\n]*)$",
                     re.MULTILINE)


def redact_path(path: bytes) -> bytes:
    """``path`` (as smaps prints it, possibly ending " (deleted)") with its directories hidden."""
    if path.startswith(KEPT_PREFIXES) or path.count(b"/") <= 1:
        return path
    name = path.rsplit(b"/", 1)[1]
    if path.startswith(b"/dev/shm/"):
        return b"/dev/shm/" + name
    if path.startswith(b"/dev/"):
        return path  # a device node names a driver, not a user's file
    return b"/.../" + name


def redact_smaps(data: bytes) -> bytes:
    """smaps (or maps) text with every file path passed through redact_path."""
    return _HEADER.sub(lambda m: m.group(1) + redact_path(m.group(2)), data)
