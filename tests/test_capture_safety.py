"""Issue 8: captures written safely as root, and read as untrusted input (directories and archives)."""

from __future__ import annotations

import gzip
import io
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memtype.errors import FileMissing, ParseError, RootError
from memtype.model.classify import SHMEM_PREFIXES
from memtype.source import archive, safeio
from memtype.source.redact import KEPT_PREFIXES, redact_path, redact_smaps
from memtype.source.root import Root

from conftest import GPU_ROOT, SHARED_SNAPSHOT, Result

Run = Callable[..., Result]
SRC = str(Path(__file__).resolve().parent.parent / "src")


@pytest.fixture
def gpu_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "gpu"
    shutil.copytree(GPU_ROOT, dst)
    return dst


@pytest.fixture
def secret(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "secret"
    path.write_text("TOPSECRET-line-one\nTOPSECRET-line-two\n")
    path.chmod(0o600)
    yield path


def one_line_errors(err: str) -> None:
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith("memtype: "), line


# -- A: writing ------------------------------------------------------------------------------------

def test_issue8_snapshot_refuses_an_existing_out(tmp_path: Path, run_cli: Run, secret: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "file.tar.gz").symlink_to(secret)
    for out in ("empty", "link", "file.tar.gz"):
        r = run_cli("snapshot", "--pid", str(os.getpid()), str(tmp_path / out))
        assert r.code == 1 and "already exists" in r.err and len(r.err.splitlines()) == 1, r.err
    assert not (tmp_path / "elsewhere").exists() and list((tmp_path / "empty").iterdir()) == []
    assert secret.read_text().startswith("TOPSECRET")


def test_issue8_snapshot_modes_and_no_predictable_partial(tmp_path: Path, run_cli: Run, secret: Path) -> None:
    out = tmp_path / "snap"
    assert run_cli("snapshot", "--pid", str(os.getpid()), str(out)).code == 0
    for p in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
    # OUT.partial used to be opened by name: a symlink there made root overwrite its target
    (tmp_path / "snap.tar.gz.partial").symlink_to(secret)
    tgz = tmp_path / "snap.tar.gz"
    assert run_cli("snapshot", "--pid", str(os.getpid()), str(tgz)).code == 0
    assert secret.read_text().startswith("TOPSECRET")
    assert stat.S_IMODE(tgz.stat().st_mode) == 0o600
    with tarfile.open(tgz) as tar:
        modes = {m.mode for m in tar.getmembers()}
    assert modes == {0o600, 0o700}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret", "snap", "snap.tar.gz", "snap.tar.gz.partial"]


def test_issue8_tree_writer_never_writes_through_a_link(tmp_path: Path, secret: Path) -> None:
    """What DirSink relies on: a name planted in the tree (a symlink) fails the O_EXCL create."""
    (tmp_path / "tree" / "proc").mkdir(parents=True)
    (tmp_path / "tree" / "proc" / "cmdline").symlink_to(secret)
    (tmp_path / "tree" / "sub").symlink_to(tmp_path)
    fd = os.open(tmp_path / "tree", safeio.DIR_FLAGS)
    writer = safeio.TreeWriter(fd)
    try:
        with pytest.raises(FileExistsError):
            writer.write("proc/cmdline", b"attacker")
        with pytest.raises(OSError):
            writer.write("sub/secret2", b"attacker")  # a symlinked directory is not entered
    finally:
        writer.close()
        os.close(fd)
    assert secret.read_text().startswith("TOPSECRET") and not (tmp_path / "secret2").exists()


@pytest.mark.parametrize("out", ["/proc/x.tar.gz", "/proc/x", "/sys/x.tar.gz", "/dev/null/x.tar.gz"])
def test_issue8_snapshot_unwritable_targets(run_cli: Run, out: str) -> None:
    r = run_cli("snapshot", "--pid", str(os.getpid()), out)
    assert r.code == 1 and r.err.startswith("memtype: error: ") and len(r.err.splitlines()) == 1, r.err


def test_issue8_snapshot_of_a_pid_that_does_not_exist(tmp_path: Path, run_cli: Run) -> None:
    r = run_cli("snapshot", "--pid", "4194303", str(tmp_path / "s"))
    assert r.code == 1 and "4194303" in r.err and not (tmp_path / "s").exists()


def test_issue8_redact_rewrites_paths_keeps_kernel_names() -> None:
    assert redact_path(b"/usr/lib/x86_64-linux-gnu/libc.so.6") == b"/.../libc.so.6"
    assert redact_path(b"/home/alice/project/data.bin (deleted)") == b"/.../data.bin (deleted)"
    assert redact_path(b"/dev/shm/app/seg") == b"/dev/shm/seg"
    for kept in (b"/dev/zero (deleted)", b"/memfd:a/b (deleted)", b"/SYSV00000000 (deleted)", b"/dev/nvidia0",
                 b"/dev/dri/renderD128", b"/anon_hugepage (deleted)"):
        assert redact_path(kept) == kept
    text = (b"7f0000000000-7f0000001000 r--p 00000000 08:01 1234                       /opt/secret/lib.so\n"
            b"Rss:                   4 kB\n"
            b"7f0000002000-7f0000003000 rw-p 00000000 00:00 0                          [anon:/x/y]\n")
    out = redact_smaps(text)
    assert b"/opt/secret" not in out and b" /.../lib.so\n" in out and b"[anon:/x/y]" in out
    assert out.count(b"\n") == text.count(b"\n")


def test_issue8_redact_prefixes_cover_the_classifier() -> None:
    assert {p.encode() for p in SHMEM_PREFIXES if p.startswith("/") and p != "/dev/shm/"} <= {
        *KEPT_PREFIXES, b"/dev/zero (deleted)"} | {p for p in KEPT_PREFIXES}
    assert all(redact_path(p.encode() + b"x/y") .startswith(p.encode()) for p in SHMEM_PREFIXES if p[0] == "/")


def _numbers(doc: dict[str, object]) -> object:
    procs = doc["processes"]
    assert isinstance(procs, list)
    return [{k: v for k, v in p.items() if k not in ("cmdline", "exe", "program")} for p in procs]


def test_issue8_redacted_capture_gives_identical_numbers(gpu_copy: Path, run_cli: Run) -> None:
    before = json.loads(run_cli("ps", "--root", str(gpu_copy), "--format", "json").out)
    maps_before = json.loads(run_cli("maps", "450", "--root", str(gpu_copy), "--format", "json").out)
    for smaps in gpu_copy.glob("proc/*/smaps"):
        smaps.write_bytes(redact_smaps(smaps.read_bytes()))
    assert b"/usr/lib/" not in b"".join(p.read_bytes() for p in gpu_copy.glob("proc/*/smaps"))
    after = json.loads(run_cli("ps", "--root", str(gpu_copy), "--format", "json").out)
    assert _numbers(after) == _numbers(before) and after["summary"] == before["summary"]
    maps_after = json.loads(run_cli("maps", "450", "--root", str(gpu_copy), "--format", "json").out)
    strip = lambda d: [{k: v for k, v in m.items() if k != "path"} for m in d["mappings"]]  # noqa: E731
    assert strip(maps_after) == strip(maps_before)


def test_issue8_snapshot_redact_live(tmp_path: Path, run_cli: Run) -> None:
    """The same idle process captured both ways: equal RSS by kind, no directories, no cmdline."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        for name, extra in (("plain", []), ("red", ["--redact"])):
            assert run_cli("snapshot", *extra, "--pid", str(child.pid), str(tmp_path / name)).code == 0
        docs = [json.loads(run_cli("ps", "--root", str(tmp_path / n), "--format", "json").out) for n in ("plain", "red")]
    finally:
        child.kill()
        child.wait()
    rss = [{k: v["rss"] for k, v in d["processes"][0]["categories"].items()} for d in docs]
    assert rss[0] == rss[1]
    smaps = (tmp_path / "red" / "proc" / str(child.pid) / "smaps").read_bytes()
    assert b"/.../" in smaps and b"/usr/lib" not in smaps and b"/lib/python" not in smaps
    assert not (tmp_path / "red" / "proc" / str(child.pid) / "cmdline").exists()
    assert "/" not in (tmp_path / "red" / "proc" / str(child.pid) / "exe").read_text()
    assert not list(tmp_path.rglob("environ"))


# -- B: reading a directory capture ----------------------------------------------------------------

def test_issue8_capture_symlinks_are_not_followed(gpu_copy: Path, secret: Path, run_cli: Run) -> None:
    pid = gpu_copy / "proc" / "409"
    (pid / "cmdline").unlink()
    (pid / "cmdline").symlink_to(secret)
    (gpu_copy / "proc" / "415" / "smaps").unlink()
    (gpu_copy / "proc" / "415" / "smaps").symlink_to(secret)
    shutil.rmtree(gpu_copy / "proc" / "471")
    (gpu_copy / "proc" / "471").symlink_to(GPU_ROOT / "proc" / "471")  # a directory elsewhere
    r = run_cli("ps", "--root", str(gpu_copy), "--format", "json", "--cmdline")
    assert r.code == 0 and "TOPSECRET" not in r.out + r.err
    doc = json.loads(r.out)
    by_pid = {p["pid"]: p for p in doc["processes"]}
    assert by_pid[409]["cmdline"] is None and 415 not in by_pid and 471 not in by_pid
    assert any("proc/415/smaps" in w and "symbolic link" in w for w in doc["warnings"])
    one_line_errors(r.err)


def test_issue8_fifo_device_and_directory_do_not_hang_or_fill_memory(gpu_copy: Path, run_cli: Run) -> None:
    os.unlink(gpu_copy / "proc/409/smaps")
    os.mkfifo(gpu_copy / "proc/409/smaps")
    os.unlink(gpu_copy / "proc/415/smaps")
    os.mknod(gpu_copy / "proc/415/smaps", 0o600 | stat.S_IFCHR, os.stat("/dev/zero").st_rdev)
    os.unlink(gpu_copy / "proc/471/smaps")
    (gpu_copy / "proc/471/smaps").mkdir()
    signal.alarm(30)  # a FIFO used to hang every command
    try:
        r = run_cli("ps", "--root", str(gpu_copy), "--format", "json")
    finally:
        signal.alarm(0)
    assert r.code == 0
    doc = json.loads(r.out)
    assert {409, 415, 471}.isdisjoint(p["pid"] for p in doc["processes"])
    text = " ".join(doc["warnings"])
    assert "a FIFO" in text and "a device" in text and "a directory" in text


def test_issue8_paths_stay_inside_the_root(gpu_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("MemTotal: 1 kB\n")
    with Root(str(gpu_copy)) as root:
        for rel in ("proc/../../outside", "../outside", "proc/409/../../../outside"):
            with pytest.raises(FileMissing, match="outside"):
                root.read_text(rel)
        assert root.read_text("/proc/meminfo") == (GPU_ROOT / "proc/meminfo").read_text()  # absolute is relative


def test_issue8_sparse_smaps_is_capped(gpu_copy: Path, run_cli: Run) -> None:
    big = gpu_copy / "proc/421/smaps"
    with open(big, "r+b") as f:
        f.truncate(2 << 30)  # 2 GiB, sparse: ps used to take 25 s and 5.8 GB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.monotonic()
    r = run_cli("ps", "--root", str(gpu_copy), "--format", "json")
    assert time.monotonic() - t < 10 and r.code == 0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB
    doc = json.loads(r.out)
    assert 421 not in {p["pid"] for p in doc["processes"]}
    assert any("proc/421/smaps" in w and "64 MiB" in w for w in doc["warnings"])


def test_issue8_live_reads_are_capped_too() -> None:
    assert safeio.limit_for("proc/1/smaps", live=True) == 1 << 30
    assert safeio.limit_for("proc/meminfo", live=True) == 64 << 20
    assert safeio.limit_for("proc/1/smaps", live=False) == 64 << 20
    with Root("/") as root, pytest.raises(ParseError, match="larger than"):
        root.read_bytes("proc/self/smaps", os.getpid(), limit=100)


def test_issue8_manifest_never_from_the_parent(tmp_path: Path, run_cli: Run) -> None:
    shutil.copytree(GPU_ROOT, tmp_path / "cap")
    (tmp_path / "manifest.json").write_text(json.dumps({"schema": "memtype-snapshot/99", "hostname": "evil"}))
    r = run_cli("ps", "--root", str(tmp_path / "cap"), "--format", "json")
    assert r.code == 0 and json.loads(r.out)["host"]["hostname"] != "evil"
    # the one subdirectory holding proc/ (snap/ in a tarball) is the capture: its manifest counts
    shutil.move(str(tmp_path / "cap"), str(tmp_path / "outer" / "snap"))
    (tmp_path / "outer" / "snap" / "manifest.json").write_text(json.dumps({"hostname": "legacy-host"}))
    r = run_cli("ps", "--root", str(tmp_path / "outer"), "--format", "json")
    assert r.code == 0 and json.loads(r.out)["host"]["hostname"] == "legacy-host"  # no schema: accepted


@pytest.mark.parametrize(("schema", "message"), [
    ("memtype-snapshot/2", "newer memtype"), ("something-else/1", "unknown schema"), (7, "unknown schema")])
def test_issue8_manifest_schema_is_checked(gpu_copy: Path, run_cli: Run, schema: object, message: str) -> None:
    (gpu_copy / "manifest.json").write_text(json.dumps({"schema": schema}))
    r = run_cli("ps", "--root", str(gpu_copy))
    assert r.code == 1 and message in r.err and len(r.err.splitlines()) == 1, r.err
    (gpu_copy / "manifest.json").write_text("[" * 100000)
    r = run_cli("ps", "--root", str(gpu_copy))
    assert r.code == 1 and "manifest.json" in r.err and "Traceback" not in r.err


def test_issue8_non_ascii_digits(gpu_copy: Path, run_cli: Run) -> None:
    (gpu_copy / "proc" / "4²").mkdir()  # '²'.isdigit() is True and int('²') fails
    (gpu_copy / "proc" / "²").mkdir()
    assert run_cli("ps", "--root", str(gpu_copy)).code == 0
    meminfo = gpu_copy / "proc/meminfo"
    meminfo.write_text(meminfo.read_text().replace("MemTotal:       1", "MemTotal:       ²", 1).replace("MemFree:        1", "MemFree:        1²", 1))
    for args in (["--width", "100"], ["system"], ["ps"]):
        r = run_cli(*args, "--root", str(gpu_copy))
        assert r.code in (0, 1) and "internal error" not in r.err, (args, r.err)
        one_line_errors(r.err)


# -- C: tar captures -------------------------------------------------------------------------------

def _header(name: str, size: int = 0, kind: bytes = b"0", link: str = "") -> bytes:
    """A ustar header block, built by hand (tarfile takes ~90 us per member; this, ~5)."""
    block = bytearray(512)
    block[0:len(name)] = name.encode()
    block[100:108] = b"0000600\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % 0
    block[148:156] = b" " * 8
    block[156:157] = kind
    block[157:157 + len(link)] = link.encode()
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _tar(members: list[tuple[str, bytes]] | Iterator[tuple[str, bytes]], extra: bytes = b"") -> bytes:
    out = io.BytesIO()
    for name, data in members:
        out.write(_header(name, len(data)) + data + b"\0" * (-len(data) % 512))
    out.write(extra + b"\0" * 1024)
    return out.getvalue()


def _good_members() -> list[tuple[str, bytes]]:
    return [(f"snap/proc/{p.relative_to(GPU_ROOT / 'proc')}", p.read_bytes())
            for p in sorted((GPU_ROOT / "proc").rglob("*")) if p.is_file()]


def _open_with(tmp_path: Path, data: bytes, name: str = "c.tar.gz") -> tuple[RootError | Root, float, list[str]]:
    """Open ``data`` as a capture; what it raised or the Root, the seconds it took, what it left in $TMPDIR."""
    import tempfile

    path = tmp_path / name
    path.write_bytes(data)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    saved, tempfile.tempdir = tempfile.tempdir, str(tmpdir)
    t = time.monotonic()
    try:
        got: RootError | Root = Root(str(path))
    except RootError as exc:
        got = exc
    finally:
        elapsed = time.monotonic() - t
        tempfile.tempdir = saved
    return got, elapsed, sorted(os.listdir(tmpdir))


def test_issue8_tar_extraction_is_ours_on_every_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No extractall(filter=...): that TypeError'd on 3.10.0-3.10.11 and 3.11.0-3.11.3 (Debian's 3.11.2)."""
    monkeypatch.setattr(tarfile.TarFile, "extractall", None)
    monkeypatch.setattr(tarfile.TarFile, "extract", None)
    got, _, _ = _open_with(tmp_path, gzip.compress(_tar(_good_members())))
    assert isinstance(got, Root)
    with got:
        assert got.pids() == [1, 2, 409, 415, 421, 450, 451, 452, 453, 471]
        for p in [Path(got.path), *Path(got.path).rglob("*")]:
            assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600)


@pytest.mark.parametrize(("member", "message"), [
    ("/etc/cron.d/x", "absolute"), ("snap/../../x", "outside"), ("../x", "outside")])
def test_issue8_tar_names_outside_refuse_the_archive(tmp_path: Path, member: str, message: str) -> None:
    got, _, left = _open_with(tmp_path, gzip.compress(_tar([*_good_members(), (member, b"x")])))
    assert isinstance(got, RootError) and message in str(got) and left == []
    assert not (tmp_path / "x").exists()


def test_issue8_tar_links_and_devices_are_skipped(tmp_path: Path, secret: Path) -> None:
    extra = (_header("snap/proc/409/cmdline", kind=b"2", link=str(secret)) + _header("snap/proc/409/comm", kind=b"1",
             link="snap/proc/415/comm") + _header("snap/proc/dev", kind=b"3") + _header("snap/proc/fifo", kind=b"6"))
    members = [m for m in _good_members() if not m[0].endswith(("409/cmdline", "409/comm"))]
    got, _, _ = _open_with(tmp_path, gzip.compress(_tar(members, extra)))
    assert isinstance(got, Root)
    with got:
        assert not got.exists("proc/409/cmdline") and not got.exists("proc/409/comm")
        assert not got.exists("proc/dev") and not got.exists("proc/fifo")


_MIB_OF_ZEROS = gzip.compress(bytes(1 << 20), compresslevel=9)  # ~1 KiB; gzip members may be concatenated


def _bomb(sizes_mib: list[int]) -> bytes:
    parts = []
    for i, n in enumerate(sizes_mib):
        parts.append(gzip.compress(_header(f"snap/proc/z{i}", n << 20)))
        parts.append(_MIB_OF_ZEROS * n)
    parts.append(gzip.compress(b"\0" * 1024))
    return b"".join(parts)


def test_issue8_tar_bomb_one_huge_member(tmp_path: Path) -> None:
    """1 GiB of zeros in a 1 MB archive: refused at its header, before inflating or writing anything."""
    data = _bomb([1024])
    assert len(data) < 1_200_000
    got, elapsed, left = _open_with(tmp_path, data)
    assert isinstance(got, RootError) and "larger than 64 MiB" in str(got) and left == []
    assert elapsed < 2, elapsed


def test_issue8_tar_bomb_many_members(tmp_path: Path) -> None:
    """Eighteen 60 MiB members of zeros: refused by the expansion ratio long before 1 GiB is inflated."""
    got, elapsed, left = _open_with(tmp_path, _bomb([60] * 18))
    assert isinstance(got, RootError) and "expands more than" in str(got) and left == []
    assert elapsed < 3, elapsed


def test_issue8_tar_too_many_members(tmp_path: Path) -> None:
    members = ((f"snap/proc/{i}", b"x") for i in range(100_000))
    data = gzip.compress(_tar(members), compresslevel=1)
    got, elapsed, left = _open_with(tmp_path, data)
    assert isinstance(got, RootError) and "more than 65536 members" in str(got) and left == []
    assert elapsed < 30, elapsed


def test_issue8_tar_total_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_TOTAL", 1 << 20)
    got, _, left = _open_with(tmp_path, gzip.compress(_tar(_good_members())))
    assert isinstance(got, RootError) and "more than 1 MiB" in str(got) and left == []


def test_issue8_damaged_gzip_is_an_error(tmp_path: Path, run_cli: Run) -> None:
    good = gzip.compress(_tar(_good_members()))
    mid = bytearray(good)
    for i in range(len(mid) // 2, len(mid) // 2 + 64):
        mid[i] ^= 0xFF
    cases = {"mid.tar.gz": bytes(mid), "short.tar.gz": good[: len(good) // 2], "ten.tar.gz": good[:10],
             "zeros-after.tar.gz": gzip.compress(_tar(_good_members()[:3]) + _header("snap/x", 5)[:300] + b"x" * 700)}
    # a header damaged mid-archive used to end the capture there, silently (exit 0, fewer processes)
    members = _good_members()
    raw = bytearray(_tar(members))
    at = sum(512 + len(d) + (-len(d) % 512) for _, d in members[:10])  # the 11th member's header
    raw[at: at + 8] = b"garbage!"
    cases["bad-header.tar.gz"] = gzip.compress(bytes(raw))
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        r = run_cli("ps", "--root", str(tmp_path / name))
        assert r.code == 1 and r.err.startswith(f"memtype: error: cannot read capture '{tmp_path / name}'"), (name, r.err)
        assert len(r.err.splitlines()) == 1


def test_issue8_archive_without_proc_names_the_archive(tmp_path: Path, run_cli: Run) -> None:
    path = tmp_path / "noproc.tar.gz"
    path.write_bytes(gzip.compress(_tar([("data/x", b"1")])))
    r = run_cli("ps", "--root", str(path))
    assert r.code == 1 and f"root '{path}' holds no proc/" in r.err and "memtype-root-" not in r.err
    got, _, left = _open_with(tmp_path, path.read_bytes())
    assert isinstance(got, RootError) and left == []  # the extraction is removed at once


def test_issue8_shared_snapshot_still_reads(run_cli: Run) -> None:
    if not SHARED_SNAPSHOT.exists():
        pytest.skip("shared/fixtures is not here")
    r = run_cli("ps", "--root", str(SHARED_SNAPSHOT), "--format", "json")
    assert r.code == 0 and json.loads(r.out)["summary"]["processes"] > 0


_SIGNAL_MID_EXTRACTION = """
import os, signal, sys
if int(sys.argv[1]):
    signal.signal(int(sys.argv[1]), signal.SIG_DFL)  # under nohup SIGHUP is ignored, and memtype keeps it so
from memtype.source import archive
real, count = archive._Writer.file, [0]
def file(self, *args):  # the signal arrives while the 50th file is being written
    count[0] += 1
    if count[0] == 50:
        os.kill(os.getpid(), int(sys.argv[1]))
    return real(self, *args)
archive._Writer.file = file
from memtype.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_issue8_signal_during_extraction_removes_the_directory(tmp_path: Path, sig: int) -> None:
    path = tmp_path / "c.tar.gz"
    path.write_bytes(gzip.compress(_tar(_good_members())))
    tmpdir = tmp_path / "t"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_MID_EXTRACTION, str(int(sig)), "ps", "--root", str(path)],
                          env=env, capture_output=True, timeout=60)
    assert proc.returncode == -sig, (proc.returncode, proc.stderr)  # then it ends as the signal would
    assert list(tmpdir.iterdir()) == []
    ok = subprocess.run([sys.executable, "-c", _SIGNAL_MID_EXTRACTION, "0", "ps", "--root", str(path)],
                        env=env, capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr  # (signal 0 only checks): the hook itself changes nothing


def test_issue8_signal_handlers_are_restored_and_nohup_respected() -> None:
    before = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        seen: list[object] = []
        archive.terminating_cleanly(lambda: seen.append(signal.getsignal(signal.SIGHUP)), lambda: None)
        assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGTERM) == before
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


# -- found by the fuzzer (tests/test_fuzz.py) ------------------------------------------------------

def test_issue8_undecodable_process_name_prints(gpu_copy: Path, run_cli: Run) -> None:
    """A comm or path that is not UTF-8 (decoded with surrogateescape) used to crash the table output."""
    stat_file = gpu_copy / "proc/450/stat"
    stat_file.write_bytes(stat_file.read_bytes().replace(b"(", b"(\xe5", 1))
    r = run_cli("ps", "--root", str(gpu_copy), "--width", "120")
    assert r.code == 0 and "\\udce5" in r.out, r.err


# -- D: Root is the one errno map --------------------------------------------------------------------

def test_issue8_live_enoent_is_gone_only_when_the_process_is() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with Root("/") as root:
        with pytest.raises(FileMissing, match="still running"):  # a kernel without the file: not "gone"
            root.read_bytes(f"proc/{os.getpid()}/no-such-file", os.getpid())
        from memtype.errors import ProcessGone

        with pytest.raises(ProcessGone):
            root.read_bytes(f"proc/{child.pid}/status", child.pid)
    # in a scan that process is an error with a warning naming the file, not "exited" or "not captured"
    from memtype.collect.scan import skip_for
    from memtype.errors import NotProvided

    skip, warning = skip_for(7, NotProvided("proc/7/smaps", "the kernel does not provide it"))
    assert skip.reason == "error" and warning is not None and "proc/7/smaps" in warning


def test_issue8_pagemap_esrch_is_process_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ps --exact` under churn exited 3 with ProcessLookupError: ESRCH on /proc/PID/pagemap is "gone"."""
    import errno

    from memtype.collect.scan_exact import scan_exact

    real_open = os.open

    def open_(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if str(path).endswith("/pagemap"):
            raise ProcessLookupError(errno.ESRCH, "No such process")
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    result = scan_exact("/", [os.getpid()])
    assert [(s.pid, s.reason) for s in result.skipped] == [(os.getpid(), "gone")] and not result.processes


def test_issue8_non_ascii_digits_in_swap_files() -> None:
    from memtype.collect.swapinfo import _int

    assert _int("²") is None and _int("-1") == -1 and _int("12") == 12 and _int("--1") is None
