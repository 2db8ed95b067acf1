"""DRM client fdinfo (``/proc/PID/fdinfo/N`` of a DRM fd): the memory figures, per region.

The format is Documentation/gpu/drm-usage-stats.rst ("DRM client usage stats"): one ``key: value``
per line, every standard key prefixed ``drm-``; ``drm-driver`` is mandatory and names a DRM client's
fdinfo (a non-DRM fd has none). Identity: ``drm-pdev`` (PCI slot; absent on platform devices such as
panfrost or msm), ``drm-client-id`` (unique per open device file; a dup'ed or inherited fd shows the same
id: "userspace should make sure to not double account"), ``drm-client-name``.

Memory, per region ``<r>`` (``vram``, ``gtt``, ``cpu`` on amdgpu; ``local0``/``system0`` on i915;
``vram0``/``gtt``/``stolen`` on xe; ``memory`` on msm/panfrost: "the region name memory is reserved
to refer to normal system memory"):

- ``drm-total-<r>``: all buffers created, backed or not; ``drm-resident-<r>``: those resident;
- ``drm-shared-<r>``: shared with another client; ``drm-purgeable-<r>``, ``drm-active-<r>``: subsets
  of resident (idle and marked purgeable; busy on an engine);
- ``drm-memory-<r>``: the older key, an alias of resident (deprecated; amdgpu prints both).

Values are ``<uint> [KiB|MiB]`` (bytes without a unit; GiB is accepted too, as newer drivers may
print it). Driver keys (``amd-evicted-vram``, ``amd-requested-gtt``...) are kept as they are.
"""

from __future__ import annotations

STATS = ("total", "resident", "shared", "purgeable", "active")  # drm-<stat>-<region>
_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
MAX_FDINFO = 64 << 10  # bytes of one fdinfo read (a DRM one is under 2 KiB; htop skips >= 4 KiB non-DRM ones)


def fdinfo_fields(text: str) -> dict[str, str] | None:
    """The ``key: value`` lines of an fdinfo whose ``drm-driver`` says it is a DRM client (``drm-*`` and
    the driver's own ``<driver>-*`` keys); ``None`` for any other fd's fdinfo."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not any(c.isspace() for c in key):
            fields.setdefault(key, value.strip())
    driver = fields.get("drm-driver")
    if not driver:
        return None
    own = driver + "-"
    return {k: v for k, v in fields.items() if k.startswith(("drm-", own, "amd-"))}


def size(value: str) -> int | None:
    """``"1024 KiB"`` -> 1048576; ``None`` for a value that is not ``<uint> [unit]``."""
    number, _, unit = value.partition(" ")
    scale = _UNITS.get(unit.strip())
    if scale is None or not number.isascii() or not number.isdigit():
        return None
    return int(number) * scale


def memory_regions(fields: dict[str, str]) -> dict[str, dict[str, int | None]]:
    """``{region: {stat: bytes}}`` for the ``drm-<stat>-<region>`` keys (``STATS``); a ``drm-memory-<r>``
    stands for resident where the client prints no ``drm-resident-<r>``. A stat the driver does not
    print is absent (unknown), never 0; a value that is not a size is ``None``."""
    regions: dict[str, dict[str, int | None]] = {}
    legacy: dict[str, int | None] = {}
    for key, value in fields.items():
        if not key.startswith("drm-"):
            continue
        stat, sep, region = key[4:].partition("-")
        if not sep or not region or region.startswith("cycles-"):  # drm-total-cycles-<engine>: utilization
            continue
        if stat in STATS:
            regions.setdefault(region, {})[stat] = size(value)
        elif stat == "memory":
            legacy[region] = size(value)
    for region, resident in legacy.items():
        regions.setdefault(region, {}).setdefault("resident", resident)
    return regions
