"""What ``memtype snapshot`` keeps of the GPUs (``record_gpu``) so that ``ps``/``system --root`` show them.

* ``gpu/nvml.json``: NVML's answers (``collect.gpu.nvml.query_nvml``) where ``/dev/nvidiactl`` exists, with
  ``host_pidns`` (whether the capture was taken in the initial PID namespace, so its PIDs are the host's).
* ``proc/PID/fdinfo/N`` of DRM fds only (a link to ``/dev/dri/``, read with readlink(2), never followed;
  kept when the fdinfo names a ``drm-driver``). With ``--redact``, ``drm-client-name`` (a name the
  program chose) is left out.

Both are bounded: one NVML document, and fdinfo files of at most parse.drm_fdinfo.MAX_FDINFO bytes.
"""

from __future__ import annotations

import json
import os

from memtype.collect.gpu import NVIDIA_CONTROL, in_initial_pidns
from memtype.collect.gpu.drm import drm_fds, has_drm_devices
from memtype.collect.gpu.nvml import RECORDED, query_nvml
from memtype.errors import MemtypeError
from memtype.parse.drm_fdinfo import MAX_FDINFO, fdinfo_fields
from memtype.source.root import Root
from memtype.source.sinks import Sink


def nvidia_present() -> bool:
    """This machine has the NVIDIA driver's control device (else NVML is not asked at all)."""
    return os.path.exists("/" + NVIDIA_CONTROL)


def record_gpu(sink: Sink, pids: list[int] | None, redact: bool) -> tuple[int, list[str]]:
    """Write the GPU part of a capture; (files written, notes)."""
    notes: list[str] = []
    files = 0
    if nvidia_present():
        try:
            doc = query_nvml()
        except MemtypeError as exc:
            notes.append(f"the capture holds no NVML answers: {exc}")
        else:
            doc["host_pidns"] = in_initial_pidns()
            sink.add(RECORDED, json.dumps(doc, indent=1).encode())
            files += 1
    with Root("/") as root:
        if not has_drm_devices(root):
            return files, notes
        for pid in root.pids() if pids is None else pids:
            for fd in drm_fds(root, pid):
                rel = f"proc/{pid}/fdinfo/{fd}"
                try:
                    data = root.read_bytes(rel, pid, limit=MAX_FDINFO)
                except MemtypeError:
                    continue
                text = data.decode("utf-8", "replace")
                if fdinfo_fields(text) is None:
                    continue
                if redact:
                    text = "".join(line for line in text.splitlines(keepends=True)
                                   if not line.startswith("drm-client-name:"))
                sink.add(rel, text.encode())
                files += 1
    return files, notes
