"""A page-count replica of classic LRU reclaim: mm/vmscan.c of Linux 6.x with ``CONFIG_LRU_GEN`` off.

It runs the kernel's loops on four counters instead of four lists, call by call, as a cgroup
limit cut (``try_to_free_mem_cgroup_pages``) or direct reclaim (``try_to_free_pages``) does:

* ``do_try_to_free_pages``: priority 12 (DEF_PRIORITY) down to 0 until the call has reclaimed
  its ``nr_to_reclaim`` (SWAP_CLUSTER_MAX = 32 pages), then a retry with forced deactivation
  when an active list was skipped.
* ``prepare_scan_control``: ``inactive_is_low`` per type decides deactivation; cache trim mode
  when ``inactive_file >> priority`` and the inactive file list is not low.
* ``get_scan_count``: SCAN_FILE without swap room (or swappiness 0 in a cgroup) and in cache trim
  mode; SCAN_EQUAL at priority 0; SCAN_ANON when no file is left (machine); else SCAN_FRACT:
  ``ap = swappiness (T+1)/(anon_cost+1)``, ``fp = (200-swappiness) (T+1)/(file_cost+1)``, each
  list's target ``(size >> priority) × fraction / (ap+fp)``, integer arithmetic as the kernel's.
* ``shrink_lruvec``: batches of 32 over inactive anon, active anon, inactive file, active file;
  after ``nr_to_reclaim``, the smaller side stops and the larger is cut to its proportion.
* ``isolate_lru_folios`` takes whole folios: a scan of n pages of a file list moves at least one
  folio (``file_folio`` pages; ext4 keeps large folios, 256 pages for 1 MiB writes here).
* ``folio_check_references``: a mapped page with a referenced PTE is rotated on its first scan;
  the replica assumes all of the inactive anon list was referenced (``lap``). Clean file pages
  are reclaimed when scanned; active pages scanned are deactivated.
* ``lru_note_cost``: ``cost = 32 × pages written (swap-out, dirty file) + pages rotated``,
  halved while the two costs exceed a quarter of the LRU.

Inputs and results are in pages. Checked against the kernel by tests/live/test_pressure_live.py.
"""

from __future__ import annotations

from math import isqrt

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
MAX_SWAPPINESS = 200
IA, AA, IF, AF = range(4)  # enum lru_list order: for_each_evictable_lru


def inactive_is_low(inactive: int, active: int) -> bool:
    """mm/vmscan.c inactive_is_low, in 4 KiB pages: ``inactive × √(10 × GiB) < active``."""
    gb = (inactive + active) >> 18
    ratio = isqrt(10 * gb) if gb else 1
    return inactive * ratio < active


class Vmscan:
    """The four lists of one lruvec and the reclaim state around them (all in pages)."""

    def __init__(self, lists: tuple[int, int, int, int], swappiness: int, swap_pages: int, *, cgroup: bool,
                 file_folio: int = 1, dirty: int = 0) -> None:
        self.lru = list(lists)
        self.lap = lists[IA]  # referenced inactive anon: rotated on first sight
        self.swappiness, self.swap_left, self.cgroup = swappiness, swap_pages, cgroup
        self.folio = max(1, file_folio)
        self.clean_left = max(0, lists[IF] + lists[AF] - dirty)  # clean page cache is taken before dirty
        self.cost = [0, 0]  # anon, file
        self.reclaimed = [0, 0]  # anon, file
        self.written = 0  # dirty page cache written back before it was dropped
        self.phases: dict[str, int] = {}
        self._skipped = False

    # -- one reclaim call ----------------------------------------------------------------------
    def call(self, nr_to_reclaim: int = SWAP_CLUSTER_MAX) -> int:
        """One try_to_free_*_pages call; returns the pages it reclaimed."""
        done = 0
        for force in (False, True):
            self._skipped = False
            for priority in range(DEF_PRIORITY, -1, -1):
                done += self._shrink_lruvec(priority, force, nr_to_reclaim, done)
                if done >= nr_to_reclaim:
                    return done
            if not self._skipped:
                break
        return done

    def _anon_ok(self) -> bool:
        return (self.swap_left > 0 and self.lru[IA] + self.lru[AA] > 0
                and not (self.cgroup and self.swappiness == 0))

    def _balance(self, priority: int, deactivate_file: bool) -> tuple[str, str, int, int]:
        """get_scan_count: (phase, mode, anon fraction, file fraction); mode is file, anon, equal or fract."""
        if not self._anon_ok():
            return "page cache only (anon cannot be swapped)", "file", 0, 1
        no_file = self.lru[IF] + self.lru[AF] == 0
        left = "anon and shmem (no page cache left)"
        if priority == 0 and self.swappiness:
            return (left if no_file else "anon and page cache equally (priority 0)"), "equal", 1, 1
        if no_file and not self.cgroup:  # file_is_tiny
            return left, "anon", 1, 0
        if self.lru[IF] >> priority and not deactivate_file:
            return "page cache first (cache trim)", "file", 0, 1
        return (left if no_file else "balanced by swappiness"), "fract", *self._fract()

    def _fract(self) -> tuple[int, int]:
        """SCAN_FRACT's (ap, fp): swappiness against 200 - swappiness, weighted by the reclaim costs."""
        s = self.swappiness
        anon_cost, file_cost = self.cost
        total = anon_cost + file_cost
        anon_cost, file_cost = total + anon_cost, total + file_cost
        total = anon_cost + file_cost
        ap = s * (total + 1) // (anon_cost + 1)
        fp = (MAX_SWAPPINESS - s) * (total + 1) // (file_cost + 1)
        return ap, fp

    def _shrink_lruvec(self, priority: int, force: bool, nr_to_reclaim: int, done: int) -> int:
        lru = self.lru
        deactivate = (True, True) if force else (inactive_is_low(lru[IA], lru[AA]), inactive_is_low(lru[IF], lru[AF]))
        phase, mode, fa, ff = self._balance(priority, deactivate[1])
        if mode == "fract":
            denominator = fa + ff or 1
            targets = [(size >> priority) * (ff if i >= IF else fa) // denominator for i, size in enumerate(lru)]
        else:  # SCAN_EQUAL: every list by its size; SCAN_FILE / SCAN_ANON: one type, in full
            targets = [(size >> priority) * (ff if i >= IF else fa) for i, size in enumerate(lru)]
        nr = list(targets)
        got = 0
        while nr[IA] or nr[IF] or nr[AF]:
            for i in (IA, AA, IF, AF):
                if nr[i]:
                    n = min(nr[i], SWAP_CLUSTER_MAX)
                    nr[i] -= n
                    got += self._shrink_list(i, n, deactivate, phase)
            if done + got < nr_to_reclaim:
                continue
            n_file, n_anon = nr[IF] + nr[AF], nr[IA] + nr[AA]
            if not n_file or not n_anon:
                break
            if n_file > n_anon:  # stop the smaller side, cut the larger to its proportion
                pct = n_anon * 100 // (targets[IA] + targets[AA] + 1)
                small, big = (IA, AA), (IF, AF)
            else:
                pct = n_file * 100 // (targets[IF] + targets[AF] + 1)
                small, big = (IF, AF), (IA, AA)
            for i in small:
                nr[i] = 0
            for i in big:
                scanned = targets[i] - nr[i]
                nr[i] = targets[i] * (100 - pct) // 100
                nr[i] -= min(nr[i], scanned)
        if self._anon_ok() and inactive_is_low(lru[IA], lru[AA]):  # age the anon lists anyway
            self._shrink_list(AA, SWAP_CLUSTER_MAX, (True, True), phase)
        return got

    def _shrink_list(self, i: int, n: int, deactivate: tuple[bool, bool], phase: str) -> int:
        lru = self.lru
        if i in (AA, AF):  # shrink_active_list
            if not deactivate[i == AF]:
                self._skipped = True
                return 0
            moved = min(lru[i], -(-n // self.folio) * self.folio if i == AF else n)
            lru[i] -= moved
            lru[i - 1] += moved
            return 0
        if i == IF:  # clean pages dropped; dirty ones written back (v1 waits for it), then dropped
            took = min(lru[IF], -(-n // self.folio) * self.folio)
            lru[IF] -= took
            clean = min(took, self.clean_left)
            self.clean_left -= clean
            self.written += took - clean
            self._note(1, took - clean, 0)
            self.reclaimed[1] += took
            self._count(phase, took)
            return took
        scanned = min(lru[IA], n)  # inactive anon: rotated once if referenced, then swapped out
        seen = min(self.lap, scanned)
        self.lap -= seen
        took = min(scanned - seen, self.swap_left)
        lru[IA] -= took
        self.swap_left -= took
        self._note(0, took, scanned - took)
        self.reclaimed[0] += took
        self._count(phase, took)
        return took

    def _note(self, kind: int, io: int, rotated: int) -> None:
        """lru_note_cost: IO weighs SWAP_CLUSTER_MAX rotations; decays past a quarter of the LRU."""
        cost = io * SWAP_CLUSTER_MAX + rotated
        if not cost:
            return
        self.cost[kind] += cost
        if sum(self.cost) > sum(self.lru) // 4:
            self.cost = [c // 2 for c in self.cost]

    def _count(self, phase: str, pages: int) -> None:
        if pages:
            self.phases[phase] = self.phases.get(phase, 0) + pages

    # -- many calls ----------------------------------------------------------------------------
    def run(self, want: int, nr_to_reclaim: int = SWAP_CLUSTER_MAX) -> int:
        """Call until ``want`` pages are reclaimed or a call finds nothing (v1: EBUSY; else OOM)."""
        total = 0
        while total < want:
            got = self.call(nr_to_reclaim)
            if not got:
                break
            total += got
        return total
