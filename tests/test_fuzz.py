"""Issue 8: a seeded mutation fuzzer over captured roots, run in CI.

Each case mutates one or two files of a capture (the trimmed GPU capture, its cgroup tree, the v1
tree, and a small snapshot of this machine taken at the start): bytes flipped, a file cut short,
a number made huge, negative or non-ASCII ('²'), a line doubled, a file swapped for a symlink,
FIFO, directory or garbage, a file deleted, or the whole root packed into a damaged .tar.gz. Then it
runs a few commands in-process and checks what a user would see: exit 0, 1 or 2, no traceback, and
stderr made of one-line ``memtype: ...`` messages. The mutation is undone after each case.

``MEMTYPE_FUZZ_SEED`` and ``MEMTYPE_FUZZ_CASES`` change the run (default: seed 8, 300 cases);
a failure names its seed and case so that ``MEMTYPE_FUZZ_CASE=N`` replays only that one.
"""

from __future__ import annotations

import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.source.capture import capture

from conftest import ROOTS, Result

Run = Callable[..., Result]
SEED = int(os.environ.get("MEMTYPE_FUZZ_SEED", "8"))
CASES = int(os.environ.get("MEMTYPE_FUZZ_CASES", "300"))
ONLY = os.environ.get("MEMTYPE_FUZZ_CASE")
_NUMBER = re.compile(rb"\d+")
_HUGE = (b"18446744073709551616", b"9" * 30, b"9" * 400, b"-1", b"0", b"99999999999999999999999 kB")
_ODD_DIGITS = ("²".encode(), "٣".encode(), "１".encode())


def _commands(pid: int) -> list[list[str]]:
    return [[], ["ps"], ["ps", "--format", "json", "--cmdline"], ["ps", "--group", "program"],
            ["maps", str(pid)], ["maps", str(pid), "--format", "json"], ["maps", "--all", "--group", "path"],
            ["system"], ["system", "--format", "json"], ["cgroups"], ["cgroups", "--tree", "--format", "json"],
            ["swap"], ["pressure", "--need", "100M"], ["pressure", "--need", "1G", "--format", "json"], ["files"]]


class Mutator:
    """One mutation of one root, undone by ``undo`` (the files come back from the pristine copy)."""

    def __init__(self, rng: random.Random, root: Path, pristine: Path, outside: Path) -> None:
        self.rng, self.root, self.pristine, self.outside = rng, root, pristine, outside
        self.touched: list[str] = []
        self.archive: Path | None = None

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file() and not p.is_symlink())

    def pick(self) -> Path:
        files = self.files()
        hot = [p for p in files if p.name in ("meminfo", "smaps", "status", "stat", "memory.stat", "cgroup.procs",
                                              "mountinfo", "swaps", "zoneinfo", "manifest.json", "cgroup",
                                              "memory.current", "memory.max", "shm", "vmstat", "exe")]
        return self.rng.choice(hot if hot and self.rng.random() < 0.7 else files)

    def mutate(self) -> str:
        kinds = ["flip", "truncate", "huge", "odd_digit", "symlink", "fifo", "directory", "delete", "double_line",
                 "empty", "garbage", "archive"]
        kind = self.rng.choices(kinds, weights=[3, 2, 3, 3, 1, 1, 1, 1, 2, 1, 1, 1])[0]
        if kind == "archive":
            return self._archive()
        target = self.pick()
        rel = str(target.relative_to(self.root))
        self.touched.append(rel)
        data = target.read_bytes()
        rng = self.rng
        if kind == "flip" and data:
            buf = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
            target.write_bytes(bytes(buf))
        elif kind == "truncate":
            target.write_bytes(data[: rng.randrange(len(data) + 1)])
        elif kind in ("huge", "odd_digit"):
            numbers = list(_NUMBER.finditer(data))
            if numbers:
                for m in rng.sample(numbers, min(len(numbers), rng.randint(1, 3))):
                    if kind == "huge":
                        new = rng.choice(_HUGE)
                    else:
                        digits = bytearray(m.group())
                        at = rng.randrange(len(digits))
                        new = bytes(digits[:at]) + rng.choice(_ODD_DIGITS) + bytes(digits[at + 1:])
                    data = data[: m.start()] + new + data[m.end():]
                    break  # offsets after the first change are stale
                target.write_bytes(data)
        elif kind == "symlink":
            target.unlink()
            target.symlink_to(rng.choice([str(self.outside), "/dev/zero", "/etc/shadow", "../../nowhere", "/proc/self/mem"]))
        elif kind == "fifo":
            target.unlink()
            os.mkfifo(target)
        elif kind == "directory":
            target.unlink()
            target.mkdir()
            (target / "x").write_text("1\n")
        elif kind == "delete":
            target.unlink()
        elif kind == "double_line" and data:
            lines = data.splitlines(keepends=True)
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i] if rng.random() < 0.5 else lines[i][::-1])
            target.write_bytes(b"".join(lines))
        elif kind == "empty":
            target.write_bytes(b"")
        elif kind == "garbage":
            target.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000))))
        return f"{kind} {rel}"

    def _archive(self) -> str:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(self.root, arcname="snap")
        data = bytearray(raw.getvalue())
        how = self.rng.choice(["flip", "truncate"])
        if how == "flip":
            for _ in range(self.rng.randint(1, 4)):
                data[self.rng.randrange(10, len(data))] ^= 0xFF
        else:
            data = data[: self.rng.randrange(len(data))]
        self.archive = self.root.parent / f"{self.root.name}.tar.gz"
        self.archive.write_bytes(bytes(data))
        return f"archive {how}"

    def target(self) -> Path:
        return self.archive if self.archive is not None else self.root

    def undo(self) -> None:
        if self.archive is not None:
            self.archive.unlink()
            self.archive = None
        for rel in reversed(self.touched):
            path = self.root / rel
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            if (self.pristine / rel).is_file():
                shutil.copy2(self.pristine / rel, path)
        self.touched.clear()


def _live_snapshot(dst: Path) -> tuple[Path, int]:
    """A small capture of this machine: this process, a child with shared memory, and PID 1."""
    child = subprocess.Popen([sys.executable, "-c", "import mmap, time; m = mmap.mmap(-1, 1 << 20); "
                              "m.write(b'x' * (1 << 20)); time.sleep(30)"])
    try:
        time.sleep(0.3)
        capture(str(dst), pids=[os.getpid(), child.pid, 1])
    finally:
        child.kill()
        child.wait()
    return dst, child.pid


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path, Path, int]]:
    """(name, working copy, pristine copy, a PID for `maps`) for each root."""
    top = tmp_path_factory.mktemp("fuzz")
    out = []
    for name, pid in (("gpu-dataloader", 450), ("gpu-cgroups", 421), ("v1-hybrid", 3732)):
        pristine = top / f"{name}.pristine"
        shutil.copytree(ROOTS / name, pristine, symlinks=False)
        out.append((name, top / name, pristine, pid))
    live, pid = _live_snapshot(top / "live.pristine")
    out.append(("live", top / "live", live, pid))
    for _, work, pristine, _ in out:
        shutil.copytree(pristine, work)
    return out


def _check(r: Result) -> str | None:
    """What is wrong with one run, or None."""
    if r.code not in (0, 1, 2):
        return f"exit {r.code}"
    if "Traceback" in r.out + r.err:
        return "traceback"
    if "internal error" in r.err:
        return "internal error"
    bad = [line for line in r.err.splitlines() if not line.startswith("memtype: ")]
    if bad:
        return f"stderr line not 'memtype: ...': {bad[0][:100]!r}"
    return None


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError("a command ran for more than 20 s (a FIFO read, a huge file?)")


def test_issue8_fuzz_captured_roots(bases: list[tuple[str, Path, Path, int]], run_cli: Run,
                                    tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_text("TOPSECRET\n")
    rng = random.Random(SEED)
    failures: list[str] = []
    started = time.monotonic()
    runs = 0
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in range(CASES):
            name, work, pristine, pid = bases[case % len(bases)]
            case_rng = random.Random(rng.getrandbits(64))
            if ONLY is not None and case != int(ONLY):
                continue
            m = Mutator(case_rng, work, pristine, outside)
            what = [m.mutate() for _ in range(case_rng.choice((1, 1, 2)))]
            if m.archive is not None:
                what = what[-1:]  # an archive is packed from the tree as mutated so far
            commands = case_rng.sample(_commands(pid), 3)
            try:
                for args in commands:
                    signal.alarm(20)
                    try:
                        r = run_cli(*args, "--root", str(m.target()))
                    except TimeoutError as exc:
                        r = Result(99, "", str(exc))
                    finally:
                        signal.alarm(0)
                    runs += 1
                    problem = _check(r)
                    if problem is None and "TOPSECRET" in r.out + r.err:
                        problem = "printed the content of a file outside the capture"
                    if problem:
                        failures.append(f"case {case} (seed {SEED}) {name}: {'; '.join(what)}: memtype "
                                        f"{' '.join(args)} --root ...: {problem}: {r.err.strip()[-300:]}")
            finally:
                m.undo()
    finally:
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - started
    print(f"fuzz: {CASES} cases, {runs} runs in {elapsed:.1f} s (seed {SEED})")
    assert not failures, f"{len(failures)} failing runs:\n" + "\n".join(failures[:25])


def test_issue8_fuzz_undo_restores_the_root(bases: list[tuple[str, Path, Path, int]]) -> None:
    """The fuzzer's own check: after its cases every working copy equals its pristine copy."""
    for _, work, pristine, _ in bases:
        rng = random.Random(1)
        for _ in range(20):
            m = Mutator(rng, work, pristine, pristine / "nonexistent")
            m.mutate()
            m.undo()
        left = {str(p.relative_to(work)): p.read_bytes() for p in work.rglob("*") if p.is_file()}
        right = {str(p.relative_to(pristine)): p.read_bytes() for p in pristine.rglob("*") if p.is_file()}
        assert left == right

