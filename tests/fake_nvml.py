"""A stand-in for nvidia-ml-py's ``pynvml`` (no GPU on the development or CI machines): the calls
collect/gpu/nvml.py makes, answering what the captured H200 host's nvidia-smi.txt shows (one H200,
PID 421 with 2658 MiB), with the shapes nvidia-ml-py returns (ctypes structures' fields by name,
``usedGpuMemory`` None for NVML_VALUE_NOT_AVAILABLE, NVMLError with NVML's message)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

MiB = 1 << 20
nvmlMemory_v2 = 0x02000028


class NVMLError(Exception):
    pass


class FakeNvml:
    """``procs``: {list name: [(pid, used or None)]}; ``missing``: functions this "driver" lacks."""

    nvmlMemory_v2 = nvmlMemory_v2

    def __init__(self, procs: dict[str, list[tuple[int, int | None]]] | None = None,
                 missing: tuple[str, ...] = (), fail_init: str | None = None) -> None:
        self.procs = procs if procs is not None else {"compute": [(421, 2658 * MiB)]}
        self.missing, self.fail_init = missing, fail_init
        self.calls: list[str] = []
        self.shut = False

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise NVMLError(self.fail_init)

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlSystemGetNVMLVersion(self) -> str:
        raise NVMLError("Function Not Found")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 13000

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> object:
        return ("handle", i)

    def nvmlDeviceGetName(self, h: object) -> bytes:
        return b"NVIDIA H200"

    def nvmlDeviceGetUUID(self, h: object) -> str:
        return "GPU-00000000-0000-0000-0000-000000000421"

    def nvmlDeviceGetPciInfo(self, h: object) -> object:
        return SimpleNamespace(busId=b"00000000:00:06.0")

    def nvmlDeviceGetMemoryInfo(self, h: object, version: int | None = None) -> object:
        if version is not None and "memory_v2" in self.missing:
            raise NVMLError("Function Not Found")
        total, used = 143771 * MiB, 2667 * MiB
        reserved = 0 if version is None else 512 * MiB
        return SimpleNamespace(total=total, used=used, free=total - used - reserved, reserved=reserved)

    def nvmlDeviceGetBAR1MemoryInfo(self, h: object) -> object:
        raise NVMLError("Not Supported")

    def nvmlDeviceGetMigMode(self, h: object) -> list[int]:
        return [0, 0]

    def _list(self, name: str) -> list[object]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=used, gpuInstanceId=0xFFFFFFFF, computeInstanceId=0xFFFFFFFF)
                for pid, used in self.procs.get(name, [])]

    def nvmlDeviceGetComputeRunningProcesses_v3(self, h: object) -> list[object]:
        if "v3" in self.missing:
            raise NVMLError("Function Not Found")
        self.calls.append("compute_v3")
        return self._list("compute")

    def nvmlDeviceGetComputeRunningProcesses_v2(self, h: object) -> list[object]:
        self.calls.append("compute_v2")
        return self._list("compute")

    def nvmlDeviceGetGraphicsRunningProcesses_v3(self, h: object) -> list[object]:
        return self._list("graphics")

    def nvmlDeviceGetMPSComputeRunningProcesses_v3(self, h: object) -> list[object]:
        return self._list("mps")
