"""What ``memtype snapshot`` keeps so that ``memtype shm --root`` sees what it saw live (``record_shm``).

Written into the capture: each shmem fd's link target as a text file ``proc/PID/fd/N`` (read with
readlink(2), never followed: a capture holds no links), and ``memtype/shm.json`` (``shm_probe``): each
such fd's identity (st_dev, st_ino), the tmpfs mounts and the paths of their files, and per shmem
object its stat figures and cachestat residency. Results, not file contents: nothing is read from
any tmpfs file or memfd. Only shmem fds are kept (a device of a tmpfs mount or of the kernel's shm
mount): the capture stays small, and other files' names stay out of it. With ``--redact`` every path
is rewritten as smaps paths are (``source.redact.redact_path``).
"""

from __future__ import annotations

import json
import os

from memtype.collect.holders import scan_holders, stat_fd
from memtype.collect.shm_probe import SIDECAR, LiveProbe, dev_str
from memtype.source.redact import redact_path
from memtype.source.root import Root
from memtype.source.sinks import Sink

MAX_FDS = 200_000  # fd links kept at most


def _redacted(path: str) -> str:
    return redact_path(path.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")


def record_shm(sink: Sink, pids: list[int] | None, redact: bool) -> tuple[int, list[str]]:
    """Write the shm part of a capture; (files written, notes)."""
    notes: list[str] = []
    with Root("/") as root:
        probe = LiveProbe(root)
        devs = {m.dev for m in probe.mounts()} | ({probe.shm_dev} if probe.shm_dev else set())
        wanted = set(pids) if pids is not None else None
        fds: dict[int, dict[str, tuple[int, int]]] = {}
        kept = 0

        def identity(pid: int, name: str) -> tuple[int, int] | None:
            nonlocal kept
            ident = stat_fd(root, pid, name)
            if ident is not None and dev_str(ident[0]) in devs and (wanted is None or pid in wanted) and kept < MAX_FDS:
                fds.setdefault(pid, {})[name] = ident
                kept += 1
            return ident

        holders = scan_holders(root, fd_identity=identity, devices=frozenset(devs) if probe.shm_dev else None)
        for held in holders.files.values():
            dev = dev_str(held.dev)
            if dev in devs and (wanted is None or not wanted.isdisjoint(held.mapped_by | held.open_by)):
                probe.measure(dev, held.ino, held.opener)  # with --pid: only what those processes hold
        files = 0
        for pid, names in fds.items():
            for name in names:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{name}")
                except OSError:
                    continue
                data = target.encode("utf-8", "surrogateescape")
                sink.add(f"proc/{pid}/fd/{name}", redact_path(data) if redact else data)
                files += 1
        doc = probe.record(fds, _redacted if redact else None)
        sink.add(SIDECAR, json.dumps(doc, separators=(",", ":")).encode("utf-8", "surrogateescape"))
        notes.extend(probe.notes)
        if kept >= MAX_FDS:
            notes.append(f"more than {MAX_FDS} shared-memory fds: the others were left out")
    return files + 1, notes
