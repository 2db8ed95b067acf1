"""Fields of ``memtype shm``: shared-memory objects, their holders, and the reconciliation rows that add
up to meminfo ``Shmem:`` (``model.shm``)."""

from __future__ import annotations

from memtype.model.fields import Registry, gauge, info, label
from memtype.model.freed import kill_fate
from memtype.model.shm import ShmAccount, ShmHolder, ShmObject, ShmRow

SHM_OBJECT = Registry("shm_object", "one shared-memory object: SysV, /dev/shm, tmpfs, memfd, shared anon "
                      "(memtype shm)", [
    label("key", "Key", "stable id: sysv:SHMID, inode:DEV:INO, anon:PID:START", lambda o: o.key),
    label("kind", "Kind", "sysv, posix (/dev/shm), tmpfs, memfd, shared_anon (MAP_SHARED|MAP_ANONYMOUS), deleted",
          lambda o: o.kind),
    info("name", "Name", "path, memfd:NAME or SysV key (null: none)", lambda o: o.name),
    info("named", "Named", "a name keeps it alive after every holder is gone (a linked path, a SysV segment "
         "not marked for removal)", lambda o: o.named),
    gauge("size", "Size", "its size (st_size; SysV segment size)", lambda o: o.size),
    gauge("resident", "Resident", "bytes in RAM, counted once (sysvipc rss, cachestat; see measured)",
          lambda o: o.resident),
    gauge("swapped", "Swapped", "bytes in swap (sysvipc swap, cachestat nr_evicted)", lambda o: o.swapped),
    info("orphaned", "Orphaned", "resident pages and no holder at all: only removing it frees them",
         lambda o: o.orphaned),
    info("marked_removed", "Removed", "SysV: IPC_RMID done while attached (SHM_DEST); null: not SysV",
         lambda o: o.marked_removed),
    info("measured", "Measured", "where resident comes from: sysvipc, cachestat, st_blocks, mappings (a lower bound)",
         lambda o: o.measured),
    gauge("holders_count", "Holders", "distinct processes that map it, hold it open or are attached",
          lambda o: len(o.pids), unit="count", attr="pids"),
    gauge("mapped_rss", "Mapped", "the largest Rss one holder maps of it", lambda o: o.mapped_rss),
    gauge("nattch", "Attached", "SysV attachments (nattch)", lambda o: o.nattch, unit="count"),
    gauge("attached_unseen", "Unseen", "SysV attachments no process we read maps", lambda o: o.attached_unseen,
          unit="count"),
    info("cpid", "Creator", "SysV: the creating PID", lambda o: o.cpid),
    info("lpid", "Last", "SysV: the PID of the last shmat/shmdt", lambda o: o.lpid),
    info("uid", "UID", "SysV: the owner's uid", lambda o: o.uid),
    info("mount", "Mount", "the tmpfs mount point it lives on (null: the kernel's internal shm mount)",
         lambda o: o.mount),
    info("dev", "Dev", "its device as maps prints it", lambda o: o.dev),
    info("inode", "Inode", "its inode (SysV: the shmid)", lambda o: o.inode),
    gauge("freed_if_holders_killed", "Kill frees", "what killing every holder frees of it: resident + swapped, 0 "
          "when a name keeps it (memtype.model.freed.kill_fate; null: unknown)", lambda o: kill_fate(o)[0],
          attr="holders"),
    info("kill_why", "Why", "why killing its holders frees it or not", lambda o: kill_fate(o)[1], attr="holders"),
], labels=("key",), exclude={"holders": "records of their own (shm_holder), nested in JSON"},
    csv=("key", "kind", "name", "named", "size", "resident", "swapped", "orphaned", "marked_removed", "measured",
         "holders_count", "nattch", "mount"))

SHM_HOLDER = Registry("shm_holder", "a process holding a shared-memory object (memtype shm --holders)", [
    label("pid", "PID", "process id", lambda h: h.pid),
    label("how", "How", "map (maps it), fd (holds it open), attach (SysV attachment with no mapping seen)",
          lambda h: h.how),
    info("comm", "Name", "the process name", lambda h: h.comm),
    gauge("rss", "Rss", "bytes of the object this process maps (smaps Rss; 0 for fd; null: not read)",
          lambda h: h.rss),
    info("cgroup", "Cgroup", "its memory cgroup", lambda h: h.cgroup),
    gauge("swap", "Swap", "smaps Swap of its mappings of the object: the object's swapped pages in the mapped "
          "range, the same in every mapper (null: not a mapper, or not read)", lambda h: h.swap),
], labels=("pid", "how"))

SHM_HOLDING = Registry("shm_holding", "one holder of one object: (object, holder) pairs (memtype shm --table "
                       "holders)", [
    label("key", "Key", "the object's key", lambda x: x[0].key),
    info("kind", "Kind", "the object's kind", lambda x: x[0].kind),
    info("name", "Object", "the object's name", lambda x: x[0].name),
    *[type(f)(f.id, f.title, f.unit, f.kind, f.help, (lambda g: lambda x: g(x[1]))(f.get)) for f in SHM_HOLDER],
], labels=("key", "pid", "how"))

SHM_ROW = Registry("shm_row", "one row of the reconciliation with meminfo Shmem (the rows add up to it)", [
    label("what", "Part", "a kind of object, or a named remainder (unaccounted: Shmem minus the rest)",
          lambda r: r.what),
    gauge("bytes", "Size", "resident bytes (null: not known)", lambda r: r.bytes),
    gauge("objects", "Objects", "how many objects", lambda r: r.objects, unit="count"),
    info("why", "What it is", "what the row holds", lambda r: r.why),
], labels=("what",))

SHM = Registry("shm", "shared memory and its holders (memtype shm)", [
    gauge("shmem", "Shmem", "meminfo Shmem: every shmem page in RAM", lambda a: a.shmem),
    gauge("resident", "Objects", "Σ resident of the objects found", lambda a: a.resident),
    gauge("unaccounted", "Unaccounted", "Shmem no object explains (a row of its own)", lambda a: a.unaccounted),
    gauge("processes", "Processes", "processes whose maps and fds were read", lambda a: a.processes, unit="count"),
], exclude={"objects": "records of their own (shm_object)", "rows": "records of their own (shm_row)",
            "skipped": "the envelope's summary", "notes": "the envelope's notes"})

REGISTRIES = (SHM, SHM_OBJECT, SHM_HOLDER, SHM_HOLDING, SHM_ROW)
COVERS = ((SHM, ShmAccount), (SHM_OBJECT, ShmObject), (SHM_HOLDER, ShmHolder), (SHM_ROW, ShmRow))
