"""Findings: what deserves a look on this machine, in words, ranked by the bytes at stake.

A ``Finding`` is the stable interface of ``memtype explain`` (JSON ``"findings"``, a list ranked by
``bytes``, largest first; a finding of unknown size last). Other tools may key on ``id`` (one of
``FINDINGS``, never renamed; new ones may be added), ``severity`` (``SEVERITIES``), ``bytes`` (the
memory at stake, ``None``: not known) and ``figures`` (the numbers behind the evidence, bytes unless
the name says otherwise; ``None``: not known). ``evidence`` and ``remedy`` are sentences for people.

The finders are ``model.find_process`` (fork families, page cache one process maps, device memory,
GPU memory, swap of active processes) and ``model.find_machine`` (no swap, unaccounted memory, shmem no process
maps, cgroups near their limit, who is reclaiming, trends of a recorded history). All are pure: they
read a ``Model`` and the few facts a Sample does not hold (swappiness), never a Root.
"""

from __future__ import annotations

from memtype.model.frozen import FrozenValue, fill

SEVERITIES = ("warning", "notice", "info")  # warning: costs memory now or soon; notice: worth knowing

# id -> what it means (README "Explain and lab" lists them; tests/test_explain.py checks both agree).
FINDINGS = {
    "cow-broken": "a fork family (a parent and the children it forked, e.g. a PyTorch DataLoader) whose "
                  "copy-on-write sharing is being broken: the children hold private copies of inherited pages",
    "file-cache-one-process": "large page cache mapped by one process only (a model, a dataset, a database file)",
    "shmem-unmapped": "shared memory (shmem) no process maps: tmpfs and /dev/shm files, SysV segments no one "
                      "attaches, memfds only a fd holds",
    "device-memory": "driver memory mapped into processes (GPU driver pages, io_uring, [vdso]): never reclaimable, "
                     "and not in /proc/meminfo",
    "gpu-memory": "memory in use on a GPU (NVML or DRM fdinfo), by device and process: not RAM, in no kind",
    "swap-active": "a process with memory in swap that is faulting it back in (major faults since the sample before)",
    "cgroup-near-limit": "a memory cgroup near its limit with little the kernel could reclaim in it",
    "no-swap": "no swap device: anonymous and shared memory can never be reclaimed, only freed",
    "unaccounted": "memory /proc/meminfo counts in no row: drivers, GPU host allocations, balloons",
    "reclaim": "who reclaimed memory since boot (kswapd, direct reclaim, khugepaged, proactive)",
    "trend": "a kind of memory that grew steadily over a recorded history (memtype record)",
}


class Finding(FrozenValue):
    """One finding (module docstring). ``pids``: the processes it is about, sorted (may be empty)."""

    __slots__ = ("id", "severity", "bytes", "title", "evidence", "remedy", "pids", "figures")

    id: str
    severity: str
    bytes: int | None
    title: str
    evidence: tuple[str, ...]
    remedy: str | None
    pids: tuple[int, ...]
    figures: dict[str, int | float | None]

    def __init__(self, id: str, severity: str, bytes: int | None, title: str, evidence: tuple[str, ...] = (),
                 remedy: str | None = None, pids: tuple[int, ...] = (),
                 figures: dict[str, int | float | None] | None = None) -> None:
        if id not in FINDINGS:
            raise ValueError(f"unknown finding id {id!r}")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        fill(self, id, severity, bytes, title, tuple(evidence), remedy, tuple(sorted(pids)), dict(figures or {}))

    def as_dict(self) -> dict[str, object]:
        """The JSON form (bytes as integers, ``None`` as null)."""
        return {"id": self.id, "severity": self.severity, "bytes": self.bytes, "title": self.title,
                "evidence": list(self.evidence), "remedy": self.remedy, "pids": list(self.pids),
                "figures": dict(self.figures)}

    def __repr__(self) -> str:
        return f"Finding({self.id!r}, {self.severity!r}, {self.bytes}, {self.title!r})"


def ranked(findings: list[Finding]) -> list[Finding]:
    """Largest ``bytes`` first; unknown sizes last; ties by severity, then id and title (stable output)."""
    return sorted(findings, key=lambda f: (f.bytes is None, -(f.bytes or 0), SEVERITIES.index(f.severity),
                                           f.id, f.title))


def size(n: int | None) -> str:
    """Bytes in words for evidence: ``29.9 MiB``, ``1.2 GiB``, ``512 KiB``, ``0 B``; ``unknown`` for None."""
    if n is None:
        return "unknown"
    value, units = float(abs(n)), ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    sign = "-" if n < 0 else ""
    text = str(int(value)) if unit == 0 else (f"{value:.1f}" if value < 100 else f"{value:.0f}")
    return f"{sign}{text} {units[unit]}"


def pid_list(pids: list[int] | tuple[int, ...]) -> str:
    """``421, 450-453``: runs of consecutive PIDs shortened."""
    out: list[str] = []
    ordered = sorted(set(pids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if j == i else f"{ordered[i]}-{ordered[j]}" if j > i + 1
                   else f"{ordered[i]}, {ordered[j]}")
        i = j + 1
    return ", ".join(out)
