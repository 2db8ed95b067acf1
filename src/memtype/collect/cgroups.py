"""Memory cgroups (stub: the cgroups engineer fills this module)."""

from __future__ import annotations


def cgroup_label(path: str | None) -> str:
    """A readable name for a memory cgroup path (container, pod, systemd unit), for tables and grouping."""
    return path if path else "?"
