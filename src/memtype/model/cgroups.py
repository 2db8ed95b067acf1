"""Memory cgroups as records: where the memory controller lives, each cgroup's figures, the tree,
and readable names for cgroup paths (containers, pods, systemd units).

``memtype.collect.cgroups`` reads them from a Root; the mapping of memory.stat onto the kinds and
what ``other`` holds are told there (kernel-spec.md D.1, D.2).
"""

from __future__ import annotations

import re

from memtype.model.group import Group

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.freed import Freed
    from memtype.parse.cgroupfiles import Pressure

CATEGORIES = ("anonymous", "shared", "file")


def cgroup_label(path: str | None) -> str:
    """A readable name for a memory cgroup path (container, pod, systemd unit), for tables and grouping.

    ``/system.slice/docker-<64 hex>.scope`` -> ``docker:1a2b3c4d5e6f``; ``/system.slice/nginx.service``
    -> ``unit:nginx.service``; see ``path_label`` for every shape.
    """
    return path_label(path) if path else "?"


class Hierarchy:
    """Where the memory controller lives: ``rel`` is its directory inside the Root."""

    __slots__ = ("version", "rel", "hybrid")

    def __init__(self, version: int, rel: str, hybrid: bool) -> None:
        self.version, self.rel = version, rel
        self.hybrid = hybrid  # v1 memory beside a cgroup2 mount (systemd's "hybrid" layout)

    def as_dict(self) -> dict[str, object]:
        return {"version": self.version, "mount": "/" + self.rel, "hybrid": self.hybrid}


class CgroupMemory:
    """One memory cgroup. Bytes; ``None`` = not reported (rule 3), or no limit for ``limit``."""

    __slots__ = ("path", "version", "hierarchical", "charged", "categories", "self_categories", "kernel",
                 "swapcached", "swap", "limit", "effective_limit", "oom_kills", "pressure", "pids", "members",
                 "unread", "reclaim", "freed")

    def __init__(self, path: str, version: int) -> None:
        self.path, self.version = path, version
        self.hierarchical = True  # the figures include the descendants' (v2 always; v1 from total_*)
        self.charged: int | None = None
        self.categories: dict[str, int | None] = dict.fromkeys(CATEGORIES)
        self.self_categories: dict[str, int | None] | None = None  # v1: this cgroup's own pages only
        self.kernel: int | None = None
        self.swapcached: int | None = None
        self.swap: int | None = None
        self.limit: int | None = None
        self.effective_limit: int | None = None  # the smallest limit on the way up to the root
        self.oom_kills: int | None = None
        self.pressure: Pressure | None = None
        self.pids: list[int] = []  # cgroup.procs: this cgroup's own members
        self.members = Group(path)  # processes of the subtree, their own view (smaps), summed
        self.unread: dict[str, int] = {}  # subtree members without a split: reason -> count
        self.reclaim: dict[str, int] | None = None  # model.reclaim classes of its LRU lists (bytes)
        self.freed: Freed | None = None  # what killing every process of its subtree frees (cgroups --freed)

    @property
    def name(self) -> str:
        return cgroup_label(self.path)

    @property
    def depth(self) -> int:
        return 0 if self.path == "/" else self.path.count("/")

    @property
    def other(self) -> int | None:
        """charged minus the rows shown; rows the kernel did not report are inside it (None where the
        rows are all unknown: an unreadable memory.stat)."""
        if self.charged is None or all(v is None for v in self.categories.values()):
            return None
        rows = [*self.categories.values(), self.kernel, self.swapcached]
        return self.charged - sum(v for v in rows if v is not None)

    def __repr__(self) -> str:
        return f"CgroupMemory({self.path!r}, v{self.version}, charged={self.charged})"


class CgroupTree:
    """Every memory cgroup, parents before children, and what could not be read."""

    __slots__ = ("hierarchy", "cgroups", "gone", "warnings")

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy
        self.cgroups: list[CgroupMemory] = []
        self.gone = 0  # cgroups removed while being read
        self.warnings: list[str] = []


def effective_limits(cgroups: list[CgroupMemory]) -> None:
    """Set each cgroup's ``effective_limit``: the smallest limit on its way up (parents come first)."""
    index = {cg.path: cg for cg in cgroups}
    for cg in cgroups:  # parents come first
        parent = index.get(cg.path.rsplit("/", 1)[0] or "/") if cg.path != "/" else None
        up = parent.effective_limit if parent is not None else None
        cg.effective_limit = cg.limit if up is None else up if cg.limit is None else min(cg.limit, up)


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
