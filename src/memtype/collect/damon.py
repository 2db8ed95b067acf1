"""DAMON's sysfs interface as read: ``/sys/kernel/mm/damon/admin`` (Documentation/admin-guide/mm/damon/usage.rst)
and the DAMON modules' parameters (``/sys/module/damon_reclaim``, ``damon_lru_sort``, ``damon_stat``).

``read_damon`` returns the tree raw: a nested dict mirroring the directories, each file's text
(stripped) or ``None`` where it could not be read (the admin files are 0600: root only).
``model.damon.damon_state`` interprets it; the raw form is what a capture stores (``snapshot`` copies
the same files) and round-trips as JSON.

A capture is untrusted input: every read goes through the Root (no symlink, FIFO or device followed;
``source.safeio``), a value is capped at ``MAX_VALUE`` bytes, the walk at ``MAX_DEPTH`` levels and
``MAX_FILES`` files (``truncated`` says it stopped), and the lists that can be long (a scheme's
``tried_regions``, a target's ``regions``) keep their first ``MAX_LISTED`` entries.

The scheme stats in sysfs are not live: the kernel copies them there only when root writes
``update_schemes_stats`` to the kdamond's ``state`` file (or, where the kernel has ``refresh_ms``,
every that many ms). ``refresh_damon`` does that write, only when asked (``memtype reclaim
--damon-refresh``): it is a write to a kernel interface, which a read-only tool does not do by itself.
"""

from __future__ import annotations

import os

from memtype.errors import MemtypeError
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

ADMIN = "sys/kernel/mm/damon/admin"
MODULES = ("damon_reclaim", "damon_lru_sort", "damon_stat")
MAX_VALUE = 4096  # bytes of one file (a DAMON file holds one number or word; memcg_path a path)
MAX_DEPTH = 10  # kdamonds/N/contexts/N/schemes/N/quotas/goals/N/current_value is 9 below admin
MAX_FILES = 4096
MAX_LISTED = 64  # numbered entries kept of tried_regions/ and regions/
_LONG_LISTS = ("tried_regions", "regions")
_SKIP = ("memory_idle_ms_percentiles",)  # damon_stat: 101 numbers, not needed here


class _Walk:
    def __init__(self, root: Root) -> None:
        self.root, self.files, self.truncated = root, 0, False

    def tree(self, rel: str, depth: int) -> dict[str, Any]:
        try:
            entries = sorted(self.root.scandir(rel), key=lambda e: (not e[0].isdigit(), _order(e[0])))
        except MemtypeError:
            return {}
        out: dict[str, Any] = {}
        numbered = 0
        for name, is_dir, _ in entries:
            if self.files >= MAX_FILES:
                self.truncated = True
                break
            if name.isdigit() and rel.rpartition("/")[2] in _LONG_LISTS:
                numbered += 1
                if numbered > MAX_LISTED:
                    self.truncated = True
                    continue
            if is_dir:
                if depth < MAX_DEPTH:
                    out[name] = self.tree(f"{rel}/{name}", depth + 1)
                else:
                    self.truncated = True
            elif name not in _SKIP:
                self.files += 1
                out[name] = self.value(f"{rel}/{name}")
        return out

    def value(self, rel: str) -> str | None:
        try:
            return self.root.read_bytes(rel, limit=MAX_VALUE).decode("utf-8", "replace").strip()
        except MemtypeError:
            return None  # 0600 and not root, write-only, refused in a capture, or gone meanwhile


def _order(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (0, name)


def read_damon(root: Root) -> dict[str, Any] | None:
    """The DAMON sysfs tree and module parameters as read (module docstring); ``None``: this root has
    neither (no CONFIG_DAMON_SYSFS, or a capture made before memtype captured DAMON).

    Shape: ``{"admin": {"kdamonds": {"0": {"state": "on", "pid": "79", "contexts": {...}}, ...}} | None,
    "modules": {"damon_reclaim": {"enabled": "Y", ...}}, "truncated": bool}``; a reader that refreshed the
    stats first adds ``"refreshed": true`` (``Sampler(damon_refresh=True)``).
    """
    walk = _Walk(root)
    admin = walk.tree(ADMIN, 0) if root.exists(f"{ADMIN}/kdamonds") else None
    modules = {}
    for name in MODULES:
        rel = f"sys/module/{name}/parameters"
        if root.exists(rel):
            modules[name] = walk.tree(rel, MAX_DEPTH)
    if admin is None and not modules:
        return None
    return {"admin": admin, "modules": modules, "truncated": walk.truncated}


def refresh_damon(root: Root) -> list[str]:
    """Ask every running kdamond to copy its schemes' stats to sysfs (``update_schemes_stats`` written
    to ``kdamonds/N/state``; usage.rst). Only on this machine, as root. Returns one line per kdamond
    that could not be refreshed (empty: all were, or none runs)."""
    if not root.live:
        raise MemtypeError("--damon-refresh writes to this machine's DAMON; a capture's stats are as captured")
    problems: list[str] = []
    base = f"{ADMIN}/kdamonds"
    try:
        names = sorted(n for n in root.subdirs(base) if n.isdigit())
    except MemtypeError:
        return problems
    for n in names:
        rel = f"{base}/{n}/state"
        try:
            if root.read_text(rel).strip() != "on":
                continue
        except MemtypeError as exc:
            problems.append(f"kdamond {n}: {exc}")
            continue
        try:  # no O_CREAT: a sysfs attribute that is there; no link followed
            fd = os.open(root.join(rel), os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, b"update_schemes_stats")
            finally:
                os.close(fd)
        except OSError as exc:
            problems.append(f"kdamond {n}: cannot write update_schemes_stats to {rel}: {exc.strerror}")
    return problems
