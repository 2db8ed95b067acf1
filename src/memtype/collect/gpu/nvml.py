"""NVML's answers as plain data: ``query_nvml()`` (live, through nvidia-ml-py) and ``read_recorded(root)``
(a capture's ``gpu/nvml.json``, which ``snapshot`` writes from ``query_nvml``).

The document (``SCHEMA``), every size in bytes as NVML gave it (2**64-1 or null: "not available";
``model.gpu`` reads it)::

    {"schema": "memtype-nvml/1", "driver_version": "580.159.04", "nvml_version": ..., "cuda_driver_version": 13000,
     "devices": [{"index": 0, "name": ..., "uuid": "GPU-...", "pci_bus_id": "00000000:00:06.0",
                  "memory": {"total", "used", "free", "reserved"} | null,   # nvmlDeviceGetMemoryInfo(_v2)
                  "bar1": {"total", "used", "free"} | null,                  # nvmlDeviceGetBAR1MemoryInfo
                  "mig_mode": {"current": 0|1, "pending": 0|1} | null,       # nvmlDeviceGetMigMode
                  "processes": {"compute" | "graphics" | "mps": [{"pid", "used", "gpu_instance_id",
                                                                   "compute_instance_id"}]},
                  "mig": [{"index", "uuid", "name", "gpu_instance_id", "compute_instance_id", "memory",
                           "bar1", "processes"}],                           # MIG devices of a MIG-mode GPU
                  "errors": {"what": "NVML's message"}}],                   # calls that failed: unknown
     "errors": {...}}

The process lists are ``nvmlDevice{Compute,Graphics,MPSCompute}RunningProcesses``, ``_v3`` where the
driver has it, else ``_v2`` (v2 and v3 add the MIG instance ids to v1's pid and usedGpuMemory). NVML
grows the buffer on NVML_ERROR_INSUFFICIENT_SIZE itself (nvidia-ml-py does). Nothing else of a process
is asked for (its name would be its command line's: sensitive).
"""

from __future__ import annotations

import json

from memtype.errors import MemtypeError
from memtype.model.gpu import NO_NVML_HINT
from memtype.source.root import Root

TYPE_CHECKING = False  # typing costs ~5 ms of start-up; mypy still reads these imports
if TYPE_CHECKING:
    from typing import Any

SCHEMA = "memtype-nvml/1"
RECORDED = "gpu/nvml.json"  # where a capture holds it
LISTS = (("compute", "nvmlDeviceGetComputeRunningProcesses"), ("graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
         ("mps", "nvmlDeviceGetMPSComputeRunningProcesses"))
MAX_DOCUMENT = 4 << 20  # bytes of a recorded document (one device with 1000 processes: ~100 KiB)


def load_nvml() -> Any:
    """The ``pynvml`` module of nvidia-ml-py, or MemtypeError saying why GPU columns are empty."""
    try:
        import pynvml  # optional (memtype[gpu]); here, not at module level: ps without a GPU never pays for it
    except ImportError:
        raise MemtypeError(NO_NVML_HINT) from None
    return pynvml


def query_nvml(nvml: Any = None) -> dict[str, Any]:
    """Ask NVML now. ``nvml``: the pynvml module (a stand-in in tests).

    Raises:
        MemtypeError: nvidia-ml-py is missing, or NVML does not start (no driver, no libnvidia-ml):
            one line, NVML's own message.
    """
    nv = load_nvml() if nvml is None else nvml
    try:
        nv.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, OSError of ctypes
        raise MemtypeError(f"NVML did not start: {_message(exc)}") from None
    try:
        doc: dict[str, Any] = {"schema": SCHEMA}
        errors: dict[str, str] = {}
        doc["driver_version"] = _call(nv, errors, "driver_version", "nvmlSystemGetDriverVersion")
        doc["nvml_version"] = _call(nv, errors, "nvml_version", "nvmlSystemGetNVMLVersion")
        doc["cuda_driver_version"] = _call(nv, errors, "cuda_driver_version", "nvmlSystemGetCudaDriverVersion")
        count = _call(nv, errors, "device_count", "nvmlDeviceGetCount") or 0
        doc["devices"] = [_device(nv, i) for i in range(count)]
        doc["errors"] = errors
        return doc
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:
            pass


def _device(nv: Any, index: int) -> dict[str, Any]:
    errors: dict[str, str] = {}
    handle = _call(nv, errors, "handle", "nvmlDeviceGetHandleByIndex", index)
    dev: dict[str, Any] = {"index": index, "errors": errors}
    if handle is None:
        return dev
    dev.update(_identity(nv, handle, errors))
    dev["pci_bus_id"] = _text(getattr(_call(nv, errors, "pci", "nvmlDeviceGetPciInfo", handle), "busId", None))
    dev["memory"] = _memory(nv, handle, errors)
    dev["bar1"] = _sizes(_call(nv, errors, "bar1", "nvmlDeviceGetBAR1MemoryInfo", handle),
                         ("total", "bar1Total"), ("used", "bar1Used"), ("free", "bar1Free"))
    mode = _call(nv, errors, "mig_mode", "nvmlDeviceGetMigMode", handle)
    dev["mig_mode"] = None if mode is None else {"current": int(mode[0]), "pending": int(mode[1])}
    dev["processes"] = _process_lists(nv, handle, errors)
    dev["mig"] = _mig(nv, handle, errors) if mode is not None and int(mode[0]) == 1 else []
    return dev


def _identity(nv: Any, handle: Any, errors: dict[str, str]) -> dict[str, Any]:
    return {"name": _text(_call(nv, errors, "name", "nvmlDeviceGetName", handle)),
            "uuid": _text(_call(nv, errors, "uuid", "nvmlDeviceGetUUID", handle))}


def _memory(nv: Any, handle: Any, errors: dict[str, str]) -> dict[str, Any] | None:
    version = getattr(nv, "nvmlMemory_v2", None)
    mem = None
    if version is not None:  # v2 reports the driver's reserve apart (used excludes it)
        mem = _call(nv, {}, "memory", "nvmlDeviceGetMemoryInfo", handle, version=version)
    if mem is None:
        mem = _call(nv, errors, "memory", "nvmlDeviceGetMemoryInfo", handle)
    return _sizes(mem, ("total", "total"), ("used", "used"), ("free", "free"), ("reserved", "reserved"))


def _process_lists(nv: Any, handle: Any, errors: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    lists: dict[str, list[dict[str, Any]]] = {}
    for name, function in LISTS:
        got = None
        for suffix in ("_v3", "_v2", ""):
            if not hasattr(nv, function + suffix):
                continue
            tried: dict[str, str] = {}
            got = _call(nv, tried, name, function + suffix, handle)
            if got is not None:
                break
            errors[f"processes.{name}"] = tried.get(name, "failed")
        if got is not None:
            errors.pop(f"processes.{name}", None)
            lists[name] = [{"pid": int(p.pid), "used": _size(getattr(p, "usedGpuMemory", None)),
                            "gpu_instance_id": _size(getattr(p, "gpuInstanceId", None)),
                            "compute_instance_id": _size(getattr(p, "computeInstanceId", None))} for p in got]
    return lists


def _mig(nv: Any, handle: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    found = []
    count = _call(nv, errors, "mig_count", "nvmlDeviceGetMaxMigDeviceCount", handle) or 0
    for i in range(count):
        mig_errors: dict[str, str] = {}
        mh = _call(nv, mig_errors, "handle", "nvmlDeviceGetMigDeviceHandleByIndex", handle, i)
        if mh is None:
            continue  # NVML_ERROR_NOT_FOUND: no instance in this slot
        m: dict[str, Any] = {"index": i, **_identity(nv, mh, mig_errors)}
        m["gpu_instance_id"] = _call(nv, mig_errors, "gpu_instance_id", "nvmlDeviceGetGpuInstanceId", mh)
        m["compute_instance_id"] = _call(nv, mig_errors, "compute_instance_id", "nvmlDeviceGetComputeInstanceId", mh)
        m["memory"] = _memory(nv, mh, mig_errors)
        m["bar1"] = _sizes(_call(nv, mig_errors, "bar1", "nvmlDeviceGetBAR1MemoryInfo", mh),
                           ("total", "bar1Total"), ("used", "bar1Used"), ("free", "bar1Free"))
        m["processes"] = _process_lists(nv, mh, mig_errors)
        m["errors"] = mig_errors
        found.append(m)
    return found


def read_recorded(root: Root) -> dict[str, Any] | None:
    """A capture's recorded NVML document; ``None`` where it holds none.

    Raises:
        MemtypeError: one line: the file is damaged or not such a document (a capture is untrusted:
            the Root refuses links and devices, and the size is capped).
    """
    if not root.exists(RECORDED):
        return None
    data = root.read_bytes(RECORDED, limit=MAX_DOCUMENT)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise MemtypeError(f"{RECORDED}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise MemtypeError(f"{RECORDED}: not a {SCHEMA} document (schema: {found!r})")
    return doc


def _call(nv: Any, errors: dict[str, str], what: str, function: str, *args: Any, **kwargs: Any) -> Any:
    """``nv.function(*args)``, or ``None`` with NVML's message in ``errors[what]`` (Not Supported,
    No Permission, Function Not Found on an old driver...)."""
    try:
        return getattr(nv, function)(*args, **kwargs)
    except Exception as exc:  # NVMLError and its per-code subclasses; AttributeError: an old nvidia-ml-py
        errors[what] = _message(exc)
        return None


def _sizes(struct: Any, *names: tuple[str, str]) -> dict[str, Any] | None:
    if struct is None:
        return None
    return {key: _size(getattr(struct, attr, None)) for key, attr in names}


def _size(value: Any) -> int | None:
    return None if value is None else int(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
