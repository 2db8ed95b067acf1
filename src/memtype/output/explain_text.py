"""``memtype explain`` as text (wrapped to a width) and as JSON documents.

Plain text, not rich: the explanation is sentences, wrapped with ``textwrap`` at the console's width
(golden files at 80 columns: tests/golden/explain-*.txt). JSON keeps bytes as integers and the
findings as ``Finding.as_dict`` (the stable interface ``model.findings`` documents).
"""

from __future__ import annotations

import textwrap

from memtype.kinds import KINDS, Kind
from memtype.model.classify import RULES
from memtype.model.findings import Finding, size

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

    from memtype.model.explain import MappingStory, ProcessStory
    from memtype.model.records import HostInfo, Mapping

KIND_NAMES = {Kind.ANONYMOUS: "anonymous", Kind.SHARED: "shared", Kind.COW: "copy-on-write", Kind.FILE: "file",
              Kind.DEVICE: "device"}
PART_WORDS = {"anon_exclusive": "its own anonymous", "cow_exclusive": "copy-on-write only it maps",
              "swap_private": "its own swap", "page_tables": "page tables", "kernel_stack": "kernel stacks",
              "shm_last_holder": "shmem it holds last", "shm_swap": "that shmem's swap"}
_RECLAIM_WORDS = (("drop", "drop"), ("writeback", "write back"), ("swap", "swap"), ("never", "never"))


def _wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=first if rest is None else rest,
                         break_on_hyphens=False, break_long_words=True) or [first.rstrip()]


def host_line(host: HostInfo) -> str:
    where = "live" if host.live else f"capture {host.root.rstrip('/').rsplit('/', 1)[-1]}"
    return " · ".join(x for x in ("memtype explain", host.hostname, f"Linux {host.kernel}" if host.kernel else None,
                                   where) if x)


def findings_text(findings: list[Finding], width: int, heading: str = "Findings, largest first") -> list[str]:
    if not findings:
        return [f"{heading}: none"]
    lines = [f"{heading} ({len(findings)}):"]
    for i, f in enumerate(findings, 1):
        lines.append("")
        tag = f"[{f.severity}] {size(f.bytes)}" if f.bytes is not None else f"[{f.severity}]"
        lines += _wrap(f"{i}. {f.title} {tag} ({f.id})", width, "", "   ")
        for e in f.evidence:
            lines += _wrap(e, width, "   - ", "     ")
        if f.remedy:
            lines += _wrap(f"remedy: {f.remedy}", width, "   ", "     ")
    return lines


def machine_text(host: HostInfo, findings: list[Finding], width: int,
                 summary: tuple[list[tuple[str, int | None]], int, dict[str, int]] | None) -> str:
    """The machine: where MemTotal goes, what the kernel could reclaim, then the findings."""
    lines = [host_line(host), ""]
    if summary is not None:
        rows, total, reclaim = summary
        lines.append(f"Where MemTotal ({size(total)}) goes:")
        shown = [(title, b) for title, b in rows if b is None or b > 0]
        cells = [f"{title} {size(b) if b is not None else '- (not in meminfo)'}" for title, b in shown]
        lines += _wrap(", ".join(cells), width, "  ", "  ")
        parts = ", ".join(f"{word} {size(reclaim.get(key, 0))}" for key, word in _RECLAIM_WORDS)
        lines += _wrap(f"What the kernel could reclaim (its LRU lists): {parts}", width)
        lines.append("")
    lines += findings_text(findings, width)
    return "\n".join(lines) + "\n"


def _mapping_name(m: Mapping) -> str:
    return m.path or "[anon]"


def process_text(host: HostInfo, story: ProcessStory, width: int) -> str:
    p = story.process
    t = p.totals
    family = []
    if story.parent is not None:
        family.append(f"child of PID {story.parent}")
    if story.children:
        family.append(f"parent of {len(story.children)} read here")
    lines = [host_line(host), ""]
    lines += _wrap(f"PID {p.pid} ({p.comm})" + (f", {', '.join(family)}" if family else "")
                   + f": RSS {size(t.rss)}, PSS {size(t.pss)}, swap {size(t.swap)}"
                   + (f", hugetlb {size(t.hugetlb)}" if t.hugetlb else ""), width)
    if story.reclaim is not None:
        parts = ", ".join(f"{word} {size(story.reclaim.get(key, 0))}" for key, word in _RECLAIM_WORDS)
        lines += _wrap(f"What the kernel could take back of it: {parts}", width)
    seen: set[str] = set()
    for k in story.kinds:
        lines.append("")
        head = f"{KIND_NAMES[k.kind]}: {size(k.rss)} resident (PSS {size(k.pss)})"
        if k.swap:
            head += f", {size(k.swap)} in swap"
        lines += _wrap(head + f", in {k.mappings} mapping{'s' if k.mappings != 1 else ''}", width)
        if k.why:
            lines += _wrap(f"why: {k.why}", width, "  ", "    ")
        for h in k.holders:
            m = h.mapping
            lines += _wrap(f"{m.start:x} {m.perms} {size(h.bytes)} {_mapping_name(m)}", width, "  - ", "    ")
            if h.rule in seen:
                lines += _wrap(f"rule {h.rule} (above)", width, "    ")
            else:
                seen.add(h.rule)
                lines += _wrap(f"rule {h.rule}: {RULES[h.rule]}", width, "    ", "      ")
        lines += _wrap(f"the kernel: {k.fate}", width, "  ", "    ")
    lines.append("")
    lines += _freed_lines(story, width)
    if story.gpu:
        lines.append("")
        lines += _wrap("GPU memory (device memory, not RAM: in no kind): " + ", ".join(
            f"{size(vram) if vram is not None else 'not available'} on {device}" for device, vram in story.gpu),
            width)
    if story.findings:
        lines.append("")
        lines += findings_text(list(story.findings), width, "Findings about it")
    return "\n".join(lines) + "\n"


def _freed_lines(story: ProcessStory, width: int) -> list[str]:
    f = story.freed
    parts = ", ".join(f"{PART_WORDS.get(k, k)} {size(v)}" for k, v in f.parts.items() if v != 0)
    total = size(f.bytes) if f.bytes is not None else "an unknown amount"
    lines = _wrap(f"If it exited now the kernel would free {total}" + (f": {parts}" if parts else "")
                  + (" (estimated: " + "; ".join(f.estimates.values()) + ")" if f.estimates else ""), width, "", "  ")
    grouped: dict[tuple[str, str], list[int | None]] = {}
    for s in f.stays:  # one line per reason: five objects that stay for the same reason are one line
        if s.bytes != 0:
            grouped.setdefault((s.what, s.why), []).append(s.bytes)
    for (what, why), sizes in grouped.items():
        unknown = sizes.count(None)
        amount = size(sum(b or 0 for b in sizes)) if unknown < len(sizes) else "unknown"
        if unknown and unknown < len(sizes):
            amount += f" (and {unknown} of unknown size)"
        count = f" in {len(sizes)} objects" if len(sizes) > 1 else ""
        lines += _wrap(f"stays: {what.replace('_', ' ')} {amount}{count}: {why}", width, "  - ", "    ")
    return lines


def mapping_text(host: HostInfo, story: MappingStory, width: int) -> str:
    m = story.mapping
    lines = [host_line(host), ""]
    lines += _wrap(f"PID {story.pid} ({story.comm}): {m.start:x}-{m.end:x} {m.perms} {m.offset:08x} {m.dev} "
                   f"{m.inode} {_mapping_name(m)}", width)
    lines += _wrap(f"class {m.mapclass}, rule {story.rule}: {RULES[story.rule]}", width, "", "  ")
    lines += ["", "Fields (as smaps prints them):"]
    for name, value in story.fields:
        lines.append(f"  {name + ':':<17}{value:>10} kB" + (f"  ({size(value * 1024)})" if value >= 1024 else ""))
    lines += _wrap(f"VmFlags: {' '.join(m.vmflags) or '(none printed)'}", width, "  ", "    ")
    lines += ["", "Split into kinds:"]
    for line in story.split:
        lines += _wrap(line, width, "  - ", "    ")
    if story.fates:
        lines += ["", "What the kernel can do with it:"]
        for kind, text in story.fates:
            lines += _wrap(f"{KIND_NAMES[kind]}: {text}", width, "  - ", "    ")
    return "\n".join(lines) + "\n"


def _mapping_dict(m: Mapping) -> dict[str, Any]:
    return {"start": m.start, "end": m.end, "perms": m.perms, "path": m.path, "class": m.mapclass,
            "vmflags": list(m.vmflags), "size": m.totals.size, "rss": m.totals.rss, "pss": m.totals.pss,
            "swap": m.totals.swap, "kinds": {k.value: m.categories[k].rss for k in KINDS}}


def process_document(story: ProcessStory) -> dict[str, Any]:
    p = story.process
    return {"pid": p.pid, "comm": p.comm, "ppid": p.ppid, "parent_read": story.parent,
            "children_read": list(story.children),
            "rss": p.totals.rss, "pss": p.totals.pss, "swap": p.totals.swap, "reclaim": story.reclaim,
            "swap_total": story.swap.total, "swap_free": story.swap.free, "swappiness": story.swap.swappiness,
            "kinds": [{"kind": k.kind.value, "rss": k.rss, "pss": k.pss, "swap": k.swap, "mappings": k.mappings,
                       "why": k.why, "kernel_can": k.fate,
                       "held_by": [{**_mapping_dict(h.mapping), "bytes": h.bytes, "rule": h.rule} for h in k.holders]}
                      for k in story.kinds],
            "findings": [f.as_dict() for f in story.findings],
            "gpu": {device: vram for device, vram in story.gpu},
            "freed_if_killed": story.freed.as_dict()}


def mapping_document(story: MappingStory) -> dict[str, Any]:
    return {"pid": story.pid, "comm": story.comm, "mapping": _mapping_dict(story.mapping), "rule": story.rule,
            "rule_text": RULES[story.rule], "fields_kb": dict(story.fields), "split": list(story.split),
            "kernel_can": {k.value: text for k, text in story.fates}}
