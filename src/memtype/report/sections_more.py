"""The report's sections about where memory lives besides the processes' own: device and GPU memory,
shared-memory objects, the page cache's biggest files, memory cgroups, and swap by owner."""

from __future__ import annotations

from memtype.kinds import KINDS, Kind
from memtype.model.cgroups import cgroup_label
from memtype.output.human import size
from memtype.report import charts
from memtype.report.data import ReportInput
from memtype.report.sections import KIND_TITLES, Section, note
from memtype.report.table import Col, table

TOP = 15


def devices(data: ReportInput) -> Section:
    explain = ("Device memory is what a driver maps into a process: GPU driver state (/dev/nvidia*), DMA buffers "
               "(anon_inode:dmabuf), the [vdso]. It is RAM the kernel can neither drop nor swap. A GPU's own memory "
               "(VRAM) is not RAM at all and is shown apart, never inside the kinds.")
    procs = sorted((p for p in data.scan.processes if p.categories[Kind.DEVICE].pss),
                   key=lambda p: (-p.categories[Kind.DEVICE].pss, p.pid))
    out, html = [], ""
    if procs:
        rows = [(f"{p.comm} {p.pid}", {"device": p.categories[Kind.DEVICE].pss},
                 {"pid": p.pid, "device-pss": p.categories[Kind.DEVICE].pss,
                  "device-rss": p.categories[Kind.DEVICE].rss}) for p in procs[:TOP]]
        out.append(charts.stacked_rows("devices", "Device memory by process (PSS)", rows, ("device",), KIND_TITLES,
                                       "PSS of the device kind; RSS in the table."))
    else:
        html += note("No process maps driver memory.")
    if data.devices:
        html += table("device-maps", [Col("Mapped", "path"), Col("RSS", "rss", num=True), Col("PSS", "pss", num=True),
                                      Col("Mapped size", "size", num=True), Col("Processes", "count", num=True)],
                      [({"path": d.path, "rss": d.rss, "pss": d.pss, "size": d.size, "count": len(d.pids)},
                        [d.path, size(d.rss), size(d.pss), size(d.size), str(len(d.pids))]) for d in data.devices],
                      caption="Driver mappings by name, summed over processes (mapped size: address space, "
                      "including device BARs that are not RAM).")
    html += gpu(data)
    return Section("devices", "Device and GPU memory", explain, out, html)


def gpu(data: ReportInput) -> str:
    """GPU memory (issue 14's ``model.gpu.GpuView``), when the source read it: each device's memory used
    by the processes (attributed), used by no process we see (unattributed) and free; then per process."""
    view = data.gpu
    if view is None:
        return note("GPU memory: not read in this source (no GPU, no NVML or DRM reader, or not recorded).")
    html = ""
    rows = []
    for d in view.devices:
        name = d.id + (f" ({d.name})" if d.name else "")
        rows.append(({"device": d.id, "total": d.total, "used": d.used, "attributed": d.attributed,
                      "unattributed": d.unattributed, "bar1-used": d.bar1_used},
                     [name, size(d.used), size(d.total), size(d.attributed), size(d.unattributed),
                      size(d.bar1_used)]))
    if rows:
        html += table("gpu", [Col("GPU", "device"), Col("Used", "used", num=True), Col("Total", "total", num=True),
                              Col("By processes", "attributed", num=True),
                              Col("By no process seen", "unattributed", num=True),
                              Col("BAR1 used", "bar1-used", num=True)], rows,
                      caption="GPU memory (VRAM) per device: not RAM, never in the kinds.")
    else:
        html += note("GPU memory: no GPU device read.")
    comm = {p.pid: p.comm for p in data.scan.processes}
    uses = sorted(view.uses, key=lambda u: (-(u.vram or 0), u.pid, u.device))
    if uses:
        html += table("gpu-uses", [Col("PID", "pid", num=True), Col("Name", "comm"), Col("GPU", "device"),
                                   Col("VRAM", "vram", num=True), Col("Host RAM for the GPU", "system", num=True)],
                      [({"pid": u.pid, "device": u.device, "vram": u.vram, "system": u.system},
                        [str(u.pid), comm.get(u.pid, "?"), u.device, size(u.vram), size(u.system)]) for u in uses[:50]],
                      caption="GPU memory per process (\"-\": the driver reports it as not available).")
    html += "".join(note(p) for p in view.problems)
    return html


def shm(data: ReportInput) -> Section:
    explain = ("Shared-memory objects are memory with a name or a handle rather than an owner: files in /dev/shm "
               "and other tmpfs mounts, memfds, System V segments, shared anonymous mappings. They stay in RAM "
               "(or swap) while anything holds them, and a named one (a tmpfs file, a SysV segment not removed) "
               "stays even when no process does: an orphan. Killing a holder frees nothing while another holds on.")
    acc = data.shm
    if acc is None:
        return Section("shm", "Shared-memory objects and their holders", explain,
                       html=note("Not read for this source (a database does not record them)."))
    objs = sorted(acc.objects, key=lambda o: (-(o.resident or 0), o.key))
    rows = [({"key": o.key, "kind": o.kind, "resident": o.resident, "swapped": o.swapped, "size": o.size,
              "holders": len(o.pids)},
             [o.kind, o.name or o.key, size(o.resident), size(o.swapped), size(o.size),
              ", ".join(str(p) for p in o.pids[:8]) + (" …" if len(o.pids) > 8 else "") or
              ("orphaned" if o.orphaned else "-")]) for o in objs[:50]]
    html = table("shm", [Col("Kind", "kind"), Col("Object", "key"), Col("Resident", "resident", num=True),
                         Col("Swapped", "swapped", num=True), Col("Size", "size", num=True),
                         Col("Holders (PIDs)", "holders", num=True)], rows,
                 caption=f"{len(objs)} objects, largest resident first" + (" (50 shown)" if len(objs) > 50 else ""))
    parts = [(r.what, r.what, r.bytes) for r in acc.rows]
    out = []
    if acc.shmem:
        out.append(charts.whole_bar("shm-rows", "meminfo Shmem by kind of object",
                                    [(_shm_class(w), w, b) for w, _, b in parts], acc.shmem))
    html += table("shm-rows", [Col("Part of Shmem", "what"), Col("Bytes", "bytes", num=True)],
                  [({"what": r.what, "bytes": r.bytes}, [r.what, size(r.bytes)]) for r in acc.rows]
                  + [({"what": "total", "bytes": acc.shmem}, ["Shmem (meminfo)", size(acc.shmem)])])
    html += "".join(note(n) for n in acc.notes)
    return Section("shm", "Shared-memory objects and their holders", explain, out, html)


def _shm_class(what: str) -> str:
    return {"unaccounted": "unaccounted", "unknown size": "none"}.get(what, "shared")


def cgroups(data: ReportInput) -> Section:
    explain = ("A memory cgroup is a group of processes the kernel counts together and can limit: a container, a "
               "systemd service, a Kubernetes pod. Its charge is what memory.current says it uses, page cache and "
               "kernel memory included, which is why it can exceed the sum of its processes. When the charge "
               "reaches the limit, the kernel reclaims inside the cgroup, and then kills one of its processes.")
    tree = data.cgroups
    if tree is None:
        return Section("cgroups", "Memory cgroups: limit and charge", explain,
                       html=note("No memory cgroups in this source."))
    cgs = sorted((c for c in tree.cgroups if c.path != "/" and c.charged), key=lambda c: (-(c.charged or 0), c.path))
    parts_of = ("anonymous", "shared", "file")
    bars = []
    for c in cgs[:TOP]:
        parts = {k: c.categories.get(k) or 0 for k in parts_of}
        parts["kernel"] = c.kernel or 0
        parts["unaccounted"] = max(0, c.other or 0)
        limit = c.effective_limit
        bars.append((cgroup_label(c.path) + (f" ≤ {size(limit)}" if limit else ""), parts,
                     {"cgroup": c.path, "charged": c.charged, "limit": limit}))
    out = [charts.stacked_rows("cgroups", "Memory cgroups by charge", bars, (*parts_of, "kernel", "unaccounted"),
                               {**KIND_TITLES, "kernel": "kernel", "unaccounted": "other"},
                               "memory.stat by kind; ≤ the limit (the smallest on the way up).")] if bars else []
    rows = []
    for c in cgs:
        limit = c.effective_limit
        use = f"{100 * c.charged / limit:.0f}%" if limit and c.charged is not None else "-"
        rows.append(({"cgroup": c.path, "charged": c.charged, "limit": limit, "swap": c.swap,
                      "pss": c.members.totals.pss, "oom": c.oom_kills},
                     [cgroup_label(c.path), size(c.charged), size(limit) if limit else "none", use, size(c.swap),
                      size(c.members.totals.pss), "-" if c.oom_kills is None else str(c.oom_kills)]))
    html = table("cgroups", [Col("Cgroup", "cgroup"), Col("Charged", "charged", num=True),
                             Col("Limit", "limit", num=True), Col("Of limit", "charged", num=True),
                             Col("Swap", "swap", num=True), Col("Processes' PSS", "pss", num=True),
                             Col("OOM kills", "oom", num=True)], rows,
                 caption=f"{len(cgs)} cgroups with a charge; \"none\": no limit on the way up.")
    return Section("cgroups", "Memory cgroups: limit and charge", explain, out, html)


def swap(data: ReportInput) -> Section:
    explain = ("Swap holds anonymous and shared pages the kernel wrote out to free RAM; a process touching one "
               "waits for it to be read back. Here: who owns what is in swap, by process (its Swap, split by the "
               "kind the page came from) and by cgroup.")
    sm = data.system
    total = sm.swap.get("total") if sm is not None else None
    if not total:
        return Section("swap", "Swap by owner", explain, html=note(
            "No swap device is active: nothing is in swap." if sm is not None else "Swap not known in this source."))
    procs = sorted((p for p in data.scan.processes if p.totals.swap), key=lambda p: (-p.totals.swap, p.pid))
    rows = [(f"{p.comm} {p.pid}", {k.value: p.categories[k].swap for k in KINDS},
             {"pid": p.pid, "swap": p.totals.swap}) for p in procs[:TOP]]
    out = [charts.stacked_rows("swap", "Swap by process, by kind", rows, [k.value for k in KINDS], KIND_TITLES,
                               "Swap (smaps) of each process by the kind it came from.")] if rows else []
    html = "" if rows else note("No process has pages in swap.")
    if data.cgroups is not None:
        cgs = sorted((c for c in data.cgroups.cgroups if c.swap and c.path != "/"), key=lambda c: -(c.swap or 0))
        if cgs:
            html += table("swap-cgroups", [Col("Cgroup", "cgroup"), Col("Swap", "swap", num=True)],
                          [({"cgroup": c.path, "swap": c.swap}, [cgroup_label(c.path), size(c.swap)])
                           for c in cgs[:TOP]])
    return Section("swap", "Swap by owner", explain, out, html)


def files(data: ReportInput) -> Section:
    explain = ("The page cache keeps recently read files in RAM; the kernel drops it first when memory is short "
               "(writing dirty pages back first). These are the files with the most pages cached.")
    if data.files is None:
        return Section("files", "The page cache's biggest files", explain,
                       html=note("Not read for this source (memtype files lists them on a live machine)."))
    rows = [({"path": path, "cached": n}, [path, size(n)]) for path, n in data.files]
    return Section("files", "The page cache's biggest files", explain,
                   html=table("files", [Col("File", "path"), Col("Cached", "cached", num=True)], rows))
