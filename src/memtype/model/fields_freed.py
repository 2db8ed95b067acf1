"""The fields of "freed if killed" (``memtype.model.freed``), shared by ``ps --freed`` and ``cgroups --freed``:
``freed_if_killed``, its RAM and swap split, each part, and the detail (estimates, what stays, objects)."""

from __future__ import annotations

from memtype.model.fields import gauge, info
from memtype.model.freed import PART_HELP, PARTS as FREED_PARTS, RAM_PARTS, SWAP_PARTS

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from memtype.model.fields import Field, Getter


# A table's sum row (``model.group.Group``) has no ``freed``: a sum of per-process figures is not what
# killing them all frees (``model.freed.freed_if_group_killed`` is), so it reads as unknown.
def _freed(name: str) -> Getter:
    return lambda p: f.parts.get(name) if (f := getattr(p, "freed", None)) is not None else None


def _freed_attr(name: str) -> Getter:
    return lambda p: getattr(f, name) if (f := getattr(p, "freed", None)) is not None else None


def _detail(part: Getter) -> Getter:
    return lambda p: part(f) if (f := getattr(p, "freed", None)) is not None else None


# freed_if_killed = its parts; the RAM and swap subtotals split it (``memtype.model.freed``).
FREED_PARTITIONS = {"freed_if_killed": tuple(f"freed.parts.{n}" for n in FREED_PARTS),
                    "freed.ram": tuple(f"freed.parts.{n}" for n in RAM_PARTS),
                    "freed.swap": tuple(f"freed.parts.{n}" for n in SWAP_PARTS)}


def freed_fields(what: str) -> list[Field]:
    """``freed_if_killed`` and its parts (``memtype.model.freed``; only with ``--freed``)."""
    return [
        gauge("freed_if_killed", "Freed", f"what the kernel would free if {what} exited now: RAM plus swap "
              "(exclusive anon, private swap, page tables, stacks, unnamed shmem it is the last holder of; "
              "None: unknown)", _freed_attr("bytes"), attr="freed", option="freed", default=True),
        gauge("freed.ram", "Freed RAM", "the RAM part of freed_if_killed", _freed_attr("ram"), attr="freed",
              option="freed"),
        gauge("freed.swap", "Freed swap", "the swap part of freed_if_killed", _freed_attr("swap"), attr="freed",
              option="freed"),
        *[gauge(f"freed.parts.{n}", n, PART_HELP[n], _freed(n), attr="freed", option="freed",
                labels=(("part", n),), metric="freed.part") for n in FREED_PARTS],
        info("freed.exact", "Freed exact", "every part of freed_if_killed is exact (else see freed.estimates)",
             _freed_attr("exact"), attr="freed", option="freed"),
        info("freed.estimates", "Estimates", "the parts that are estimates, and why",
             _detail(lambda f: dict(f.estimates)), attr="freed", option="freed"),
        info("freed.stays", "Stays", "what a kill would not free: what, bytes, why, the PIDs that keep it",
             _detail(lambda f: [s.as_dict() for s in f.stays]), attr="freed", option="freed"),
        info("freed.objects", "Objects", "the shmem objects it holds: freed or not, and why",
             _detail(lambda f: [o.as_dict() for o in f.objects]), attr="freed", option="freed"),
    ]

