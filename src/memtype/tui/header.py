"""The header of ``memtype top``: the machine by kind as one stacked bar, swap, PSI and reclaim.

Pure rendering (rich ``Text``), no Textual. The bar's segments are ``MachineMemory.rows`` (meminfo's
split, as ``memtype system``): they sum to MemTotal, ``unaccounted`` being the remainder, so the bar's
cells are shared out by largest remainder and always fill the width exactly.

Reclaim activity is the pages the kernel stole (reclaimed) per second between two samples, from
/proc/vmstat: ``pgsteal_anon + pgsteal_file`` (every reclaimer, split by LRU type, 5.x+), else the
per-reclaimer counters ``pgsteal_kswapd*`` + ``pgsteal_direct*`` (+ khugepaged, proactive: 6.x)
(landscape-next.md section 6.1). kswapd's and direct reclaim's shares are named when known.
"""

from __future__ import annotations

from rich.text import Text

from memtype.kinds import ROW_COLOURS
from memtype.output.human import size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from memtype.model.derive import Model
    from memtype.model.machine import MachineMemory

# Row id -> (legend word, style): the colours of memtype.kinds.ROW_COLOURS (Okabe-Ito, colour-blind safe),
# the same as the report's and the tables'; the legend names every segment, so colour is not the only cue.
_WORDS = {"anonymous": "anon", "cow": "cow", "shared": "shared", "file": "file", "device": "device",
          "swap_cache": "swapcache", "kernel": "kernel", "hugetlb": "hugetlb", "free": "free", "unaccounted": "other"}
SEGMENTS = {rid: (word, ROW_COLOURS[rid]) for rid, word in _WORDS.items()}
_BY_WHO = ("kswapd", "direct", "khugepaged", "proactive")


def bar_cells(machine: MachineMemory, width: int) -> list[tuple[str, int]]:
    """(row id, cells) for a bar ``width`` cells wide: proportional to bytes, summing to ``width``."""
    rows = [(r.id, max(r.bytes or 0, 0)) for r in machine.rows]  # None: not known from meminfo (a 0 cell)
    whole = sum(b for _, b in rows)
    if whole <= 0 or width <= 0:
        return [(rid, 0) for rid, _ in rows]
    exact = [(rid, b * width / whole) for rid, b in rows]
    cells = {rid: int(x) for rid, x in exact}
    left = width - sum(cells.values())
    for rid, x in sorted(exact, key=lambda item: item[1] - int(item[1]), reverse=True)[:left]:
        cells[rid] += 1
    return [(rid, cells[rid]) for rid, _ in rows]


def machine_bar(machine: MachineMemory | None, width: int) -> Text:
    """The stacked bar, then a legend of the rows with their sizes (wrapped by the widget)."""
    out = Text(no_wrap=False)
    if machine is None:
        return out.append("machine: no /proc/meminfo (MemTotal, MemFree) in this root", style="dim")
    for rid, cells in bar_cells(machine, max(width, 10)):
        out.append("█" * cells, style=SEGMENTS.get(rid, (rid, "white"))[1])
    out.append("\n")
    items = []
    for r in machine.rows:
        word, style = SEGMENTS.get(r.id, (r.id, "white"))
        if r.bytes is None or (r.bytes == 0 and r.id in ("swap_cache", "hugetlb")):
            continue  # nothing to see, or not known (meminfo's device row); the sum still holds
        items.append((f"{word} {size(r.bytes)}", style))
    items.append((f"= {size(machine.total)} MemTotal", ""))
    used = 0
    for label, style in items:  # wrapped here, between items, never inside one
        cells = len(label) + (2 if style else 0)
        if used and used + 2 + cells > width:
            out.append("\n")
            used = 0
        elif used:
            out.append("  ")
            used += 2
        if style:
            out.append("█ ", style=style)
        out.append(label, style="" if style else "dim")
        used += cells
    return out


def stolen(vmstat: dict[str, int] | None) -> tuple[int | None, dict[str, int]]:
    """Pages stolen since boot, and by reclaimer (module docstring); ``None``: vmstat lacks them."""
    if not vmstat:
        return None, {}
    by_who = {w: sum(v for k, v in vmstat.items() if k.startswith(f"pgsteal_{w}")) for w in _BY_WHO
              if any(k.startswith(f"pgsteal_{w}") for k in vmstat)}
    if "pgsteal_anon" in vmstat and "pgsteal_file" in vmstat:
        return vmstat["pgsteal_anon"] + vmstat["pgsteal_file"], by_who
    return (sum(by_who.values()) if by_who else None), by_who


def reclaim_rate(model: Model, previous: Model | None) -> tuple[float | None, dict[str, float]]:
    """Pages stolen per second since ``previous``, in all and by reclaimer."""
    if previous is None:
        return None, {}
    now, now_who = stolen(model.sample.vmstat)
    then, then_who = stolen(previous.sample.vmstat)
    a, b = model.sample.monotonic, previous.sample.monotonic
    if now is None or then is None or a is None or b is None or a <= b:
        return None, {}
    seconds = a - b
    return max(0, now - then) / seconds, {w: max(0, v - then_who.get(w, v)) / seconds for w, v in now_who.items()}


def status_line(model: Model, previous: Model | None, *, live: bool) -> Text:
    """``swap 0 of 256M · PSI some 0.00% full 0.00% (10 s) · reclaim 0 pages/s``."""
    out = Text()
    m = model.machine
    if m is None:
        out.append("swap -")
    elif m.swap_total == 0:
        out.append("swap: none")
    else:
        out.append("swap ")
        out.append(size(m.swap_used), style="bold" if m.swap_used else "")
        out.append(f" of {size(m.swap_total)}")
    out.append("  ·  ")
    psi = model.sample.pressure
    some = psi.get("some") if psi else None
    full = psi.get("full") if psi else None
    if some is None and full is None:
        out.append("PSI -", style="dim")
    else:
        out.append("PSI ")
        for name, line in (("some", some), ("full", full)):
            value = line.get("avg10") if line else None
            text = "-" if value is None else f"{value:.2f}%"
            out.append(f"{name} ")
            out.append(text, style="bold red" if value else "")
            out.append(" ")
        out.append("(10 s)", style="dim")
    out.append("  ·  ")
    rate, who = reclaim_rate(model, previous)
    page = model.sample.host.page_size
    if rate is None:
        out.append("reclaim -" if live or previous is not None else "reclaim: one sample", style="dim")
    else:
        out.append("reclaim ")
        out.append(f"{rate:,.0f} pages/s", style="bold red" if rate else "")
        if rate:
            out.append(f" ({size(int(rate * page))}/s)")
        parts = [f"{w} {v:,.0f}" for w, v in who.items() if w in ("kswapd", "direct")]
        if rate and parts:
            out.append(" " + ", ".join(parts), style="dim")
    return out
