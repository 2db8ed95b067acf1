"""Parsers for memory cgroup files (v1 and v2) and for cgroup path shapes.

Pure functions on text (style.md rule 2); absent values are ``None`` (rule 3). File semantics:
kernel-spec.md section D (D.1 v1, D.2 v2) and the kernel's cgroup-v1/memory.rst and cgroup-v2.rst.
"""

from __future__ import annotations

import re

# v1 reports "no limit" as PAGE_COUNTER_MAX pages: LONG_MAX rounded down to a page
# (9223372036854771712 with 4 KiB pages, observed here). Any value within 1 MiB of 2^63 is that,
# whatever the page size (up to 1 MiB pages); no real limit is within 1 MiB of 8 EiB.
_V1_UNLIMITED = (1 << 63) - (1 << 20)


def parse_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, memory.events, memory.oom_control) -> {key: int}.

    Lines that are not ``word integer`` are ignored, so new or odd lines do no harm.
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_bytes(text: str) -> int | None:
    """A one-number file (memory.current, memory.usage_in_bytes, memory.max, memory.limit_in_bytes).

    Returns:
        The bytes, or ``None`` for "no limit": v2 ``max`` and v1's PAGE_COUNTER_MAX value.

    Raises:
        ValueError: the text is not a number.
    """
    word = text.strip()
    if word == "max":
        return None
    value = int(word)
    return None if value >= _V1_UNLIMITED else value


def parse_procs(text: str) -> list[int]:
    """cgroup.procs: one PID per line (the cgroup's own members, not its descendants')."""
    return sorted(int(w) for w in text.split() if w.isdigit())


class Pressure:
    """PSI of one resource (memory.pressure, /proc/pressure/memory): the share of wall time some (or
    all, ``full``) non-idle tasks were stalled waiting for memory, in %, over 10/60/300 s, and the
    total stall time in microseconds (Documentation/accounting/psi.rst)."""

    __slots__ = ("some", "full")

    def __init__(self, some: dict[str, float] | None, full: dict[str, float] | None) -> None:
        self.some, self.full = some, full

    def as_dict(self) -> dict[str, dict[str, float] | None]:
        return {"some": self.some, "full": self.full}


def parse_pressure(text: str) -> Pressure:
    """``some avg10=0.00 avg60=0.00 avg300=0.00 total=0`` and the same for ``full``."""
    lines: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if head not in ("some", "full"):
            continue
        values: dict[str, float] = {}
        for item in rest.split():
            key, _, value = item.partition("=")
            try:
                values[key] = int(value) if key == "total" else float(value)
            except ValueError:
                continue
        lines[head] = values
    return Pressure(lines.get("some"), lines.get("full"))


class Mount:
    """A cgroup hierarchy from mountinfo: where it is mounted and which version it is."""

    __slots__ = ("mountpoint", "version", "memory")

    def __init__(self, mountpoint: str, version: int, memory: bool) -> None:
        self.mountpoint, self.version = mountpoint, version
        self.memory = memory  # v1: the memory controller is bound here (v2: read cgroup.controllers)

    def __repr__(self) -> str:
        return f"Mount({self.mountpoint!r}, v{self.version}, memory={self.memory})"


def parse_cgroup_mounts(mountinfo: str) -> list[Mount]:
    """The cgroup (v1) and cgroup2 mounts of /proc/self/mountinfo (proc(5): the fields after `` - ``
    are the filesystem type, the source and the super-block options; v1 lists its controllers there)."""
    found: list[Mount] = []
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        point = fields[4].replace("\\040", " ")
        if tail[0] == "cgroup2":
            found.append(Mount(point, 2, False))
        elif tail[0] == "cgroup":
            found.append(Mount(point, 1, "memory" in tail[2].split(",")))
    return found


# -- readable names for cgroup paths ------------------------------------------------------------
# Real shapes (systemd and cgroupfs drivers of each runtime):
#   docker      /docker/<64hex>                        /system.slice/docker-<64hex>.scope
#   containerd  .../cri-containerd-<64hex>.scope       /kubepods/burstable/pod<uid>/<64hex>
#   CRI-O       .../crio-<64hex>.scope                 .../crio-conmon-<64hex>.scope
#   podman      /machine.slice/libpod-<64hex>.scope    /libpod_parent/libpod-<64hex>
#   kubernetes  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice
#   systemd     /system.slice/nginx.service            /user.slice/user-1000.slice/session-3.scope
#   LXC         /lxc.payload.<name>                    /lxc/<name>
_RUNTIMES = {"docker": "docker", "cri-containerd": "containerd", "crio": "crio", "crio-conmon": "crio-conmon",
             "libpod": "podman", "libpod-conmon": "podman-conmon", "containerd": "containerd",
             "nerdctl": "containerd", "cri-o": "crio"}
_SCOPE = re.compile(r"^(docker|cri-containerd|crio-conmon|crio|libpod-conmon|libpod|containerd|nerdctl|cri-o)"
                    r"-([0-9a-f]{64})(?:\.scope)?$")
_BARE_ID = re.compile(r"^[0-9a-f]{64}$")
_POD_SLICE = re.compile(r"^kubepods(?:-[a-z]+)?-pod([0-9a-f_]+)\.slice$")
_POD_DIR = re.compile(r"^pod([0-9a-f-]{32,36})$")
_USER_SLICE = re.compile(r"^user-(\d+)\.slice$")
_LXC = re.compile(r"^lxc\.payload\.(.+)$")
_UNIT = re.compile(r"\.(service|scope|slice|socket|mount|swap)$")
_LONG_HEX = re.compile(r"[0-9a-f]{32,}")
ID_CHARS = 12  # docker's short container id


def short_id(text: str) -> str:
    """Hex runs of 32+ characters cut to their first 12 (docker's short id)."""
    return _LONG_HEX.sub(lambda m: m.group(0)[:ID_CHARS], text)


def component_name(name: str, parent: str | None) -> tuple[str, str]:
    """Classify one path component. Returns (what, label), what being ``container``, ``pod``,
    ``user``, ``unit`` or ``plain``: ``("container", "docker:1a2b3c4d5e6f")``, ``("pod", "pod:0c1d2e3f")``,
    ``("unit", "nginx.service")``."""
    m = _SCOPE.match(name)
    if m:
        return "container", f"{_RUNTIMES[m.group(1)]}:{m.group(2)[:ID_CHARS]}"
    if _BARE_ID.match(name):
        runtime = "docker" if parent == "docker" else "ctr"
        return "container", f"{runtime}:{name[:ID_CHARS]}"
    m = _POD_SLICE.match(name) or _POD_DIR.match(name)
    if m:
        return "pod", "pod:" + m.group(1).replace("_", "-")[:8]
    m = _USER_SLICE.match(name)
    if m:
        return "user", f"user:{m.group(1)}"
    m = _LXC.match(name)
    if m or parent == "lxc":
        return "container", f"lxc:{m.group(1) if m else name}"
    if _UNIT.search(name):
        return "unit", name
    return "plain", short_id(name)


def path_label(path: str) -> str:
    """A readable name for a cgroup path: the container (with its pod), else the user session or the
    systemd unit, else the path with long hex ids shortened.

    ``/kubepods.slice/.../kubepods-burstable-pod0c1d..slice/crio-ab12...scope`` -> ``pod:0c1d2e3f/crio:ab12...``;
    ``/system.slice/nginx.service`` -> ``unit:nginx.service``; ``/user.slice/user-1000.slice/session-3.scope``
    -> ``user:1000/session-3.scope``.
    """
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "/"
    kinds = [component_name(p, parts[i - 1] if i else None) for i, p in enumerate(parts)]
    last_ctr = max((i for i, (what, _) in enumerate(kinds) if what == "container"), default=None)
    pods = [i for i, (what, _) in enumerate(kinds) if what == "pod"]
    users = [i for i, (what, _) in enumerate(kinds) if what == "user"]
    if last_ctr is not None or pods:
        anchor = last_ctr if last_ctr is not None else pods[-1]
        head = [kinds[i][1] for i in pods if i < anchor][-1:]
        return "/".join(head + [kinds[anchor][1]] + [label for _, label in kinds[anchor + 1:]])
    if users:
        tail = [label for _, label in kinds[users[-1] + 1:] if not label.startswith("user@")]
        return "/".join([kinds[users[-1]][1]] + tail[-1:])
    if kinds[-1][0] == "unit":
        return "unit:" + parts[-1]
    return "/" + "/".join(label for _, label in kinds)
