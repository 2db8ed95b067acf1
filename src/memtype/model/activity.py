"""The machine's memory activity: reclaim by reclaimer, refaults, swap traffic and PSI, from one Sample.

Every figure is a kernel counter since boot (/proc/vmstat, mm/vmstat.c ``vmstat_text``) or the memory
PSI line (/proc/pressure/memory, Documentation/accounting/psi.rst). A counter this kernel does not
print is ``None``, never 0 (``pgscan_proactive`` came with 6.15, ``zswpin`` with 5.19 and only with
CONFIG_ZSWAP, ``workingset_refault_anon`` with 5.9); no PSI (before 4.20, ``psi=0``) is ``None``.

* ``pgscan``/``pgsteal`` by reclaimer: pages scanned / reclaimed by kswapd (background), direct
  reclaim (an allocating task stalls), khugepaged, and proactive reclaim (memory.reclaim, 6.15+;
  before, counted as direct). The four are disjoint, but up to 7.0 they leave out reclaim aimed at a
  cgroup (its limit, memory.high, memory.reclaim), which only ``pg{scan,steal}_{anon,file}`` count
  machine-wide: ``model.reclaimers`` names that remainder ``unattributed``.
* ``allocstall``: direct-reclaim entries, summed over the zones (``allocstall_normal``, ``_dma32``...;
  one ``allocstall`` line before 4.8).
* ``workingset_refault``/``workingset_activate`` by LRU type (anon, file: 5.9+): evicted pages faulted
  back in, and those of them activated at once (the working set did not fit).
"""

from __future__ import annotations

RECLAIMERS = ("kswapd", "direct", "khugepaged", "proactive")
LRU_TYPES = ("anon", "file")
# Counters read as they are, in pages unless named here (``MachineActivity`` attribute = vmstat line).
PAGE_COUNTERS = ("pgrefill", "pswpin", "pswpout", "zswpin", "zswpout")
EVENT_COUNTERS = ("pgmajfault", "oom_kill")


class MachineActivity:
    """Memory activity counters of the machine since boot (module docstring); ``None``: not printed.

    Attributes:
        pgscan, pgsteal: reclaimer (``RECLAIMERS``) -> pages scanned / reclaimed.
        allocstall: direct-reclaim stalls, all zones.
        pgrefill: pages reclaim moved from an active list to an inactive one.
        pswpin, pswpout: pages read from / written to swap devices. zswpin, zswpout: pages loaded from /
            stored into zswap.
        workingset_refault, workingset_activate: LRU type (``LRU_TYPES``) -> pages.
        pgmajfault: major faults (reads from disk or swap). oom_kill: processes the OOM killer killed.
        pressure: PSI ``{"some": {"avg10": %, "avg60", "avg300", "total": µs}, "full": {...}}`` (``None``: no PSI).
    """

    __slots__ = ("pgscan", "pgsteal", "allocstall", "pgrefill", "pswpin", "pswpout", "zswpin", "zswpout",
                 "workingset_refault", "workingset_activate", "pgmajfault", "oom_kill", "pressure")

    def __init__(self, vmstat: dict[str, int] | None, pressure: dict[str, dict[str, float]] | None) -> None:
        v = vmstat or {}
        self.pgscan = {r: v.get(f"pgscan_{r}") for r in RECLAIMERS}
        self.pgsteal = {r: v.get(f"pgsteal_{r}") for r in RECLAIMERS}
        stalls = [n for k, n in v.items() if k == "allocstall" or k.startswith("allocstall_")]
        self.allocstall = sum(stalls) if stalls else None
        self.pgrefill, self.pswpin, self.pswpout, self.zswpin, self.zswpout = (v.get(k) for k in PAGE_COUNTERS)
        self.workingset_refault = {t: v.get(f"workingset_refault_{t}") for t in LRU_TYPES}
        self.workingset_activate = {t: v.get(f"workingset_activate_{t}") for t in LRU_TYPES}
        self.pgmajfault, self.oom_kill = (v.get(k) for k in EVENT_COUNTERS)
        self.pressure = pressure

    def psi(self, line: str, name: str) -> float | None:
        """One PSI figure (``some``/``full``; ``avg10``, ``avg60``, ``avg300``, ``total``); ``None``: unknown."""
        values = None if self.pressure is None else self.pressure.get(line)
        return None if values is None else values.get(name)
