"""``memtype install``: the man page, the shell completions and the systemd units, where the system
looks for them, made by the memtype that runs (so they match it and never drift from ``--help``).

Files are written as a new file beside the target (``O_EXCL | O_NOFOLLOW``) then renamed over it:
a link planted at the target is replaced, never followed. They are 0644 (man, the shells and
systemd read them as other users); a directory others may write to is refused.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys

from memtype.cli import args as types
from memtype.errors import MemtypeError, UsageError

WHAT = ("man", "completion", "record", "exporter")
UNITS = {"record": "memtype-record.service", "exporter": "memtype-exporter.service"}
UNIT_DIR = "/etc/systemd/system"
# A service's user cannot see these (ProtectHome=, and /root is 0700)
HIDDEN_FROM_SERVICES = ("/root/", "/home/", "/run/user/")
DESCRIPTION = ("Install the man page and the shell completions (bash, zsh, fish) under --prefix (default "
               "/usr/local as root, ~/.local otherwise), or the systemd units of `memtype record` and `memtype "
               "exporter` (record, exporter) in /etc/systemd/system with ExecStart set to this memtype. Each is "
               "made by this memtype, so it matches its options. Already up to date: left as it is.")
# The end of --help (cli.main.examples_text): real invocations, each with what it shows
EXAMPLES = (
    "sudo memtype install                   # man page + bash/zsh/fish completion under /usr/local",
    "memtype install --prefix ~/.local      # the same for one user (no root)",
    "sudo memtype install exporter record --now   # both services: write, enable and start them",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    # not choices=: argparse before 3.12 checks the empty list of nargs="*" against them
    types.suggest(p.add_argument("what", nargs="*", type=_what, metavar="WHAT",
                                 help="man, completion, record (the memtype-record service), exporter (the "
                                 "memtype-exporter service); default: man completion"), lambda: WHAT)
    p.add_argument("--prefix", metavar="DIR", help="where the man page and completions go: DIR/share/man/man1, "
                   "DIR/share/bash-completion/completions, DIR/share/zsh/site-functions, "
                   "DIR/share/fish/vendor_completions.d (default /usr/local as root, else ~/.local)")
    p.add_argument("--unit-dir", metavar="DIR", default=UNIT_DIR, help=f"where units go (default {UNIT_DIR})")
    p.add_argument("--now", action="store_true",
                   help="for units: then systemctl daemon-reload and enable --now each one")
    p.add_argument("--dry-run", action="store_true", help="say what would be written, write nothing")


def _what(text: str) -> str:
    if text not in WHAT:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(WHAT)})")
    return text


def run(args: argparse.Namespace) -> int:
    what = list(dict.fromkeys(args.what or ["man", "completion"]))
    if args.now and not any(w in UNITS for w in what):
        raise UsageError("--now starts services: give record or exporter")
    user = os.geteuid() != 0
    prefix = os.path.abspath(os.path.expanduser(args.prefix or ("~/.local" if user else "/usr/local")))
    files: list[tuple[str, str]] = []
    if "man" in what:
        from memtype.cli import manpage

        files.append((os.path.join(prefix, "share/man/man1/memtype.1"), manpage.render()))
    if "completion" in what:
        from memtype.cli import completion

        fish_dir = (os.path.expanduser("~/.config/fish/completions") if args.prefix is None and user
                    else os.path.join(prefix, "share/fish/vendor_completions.d"))
        files += [(os.path.join(prefix, "share/bash-completion/completions/memtype"), completion.render("bash")),
                  (os.path.join(prefix, "share/zsh/site-functions/_memtype"), completion.render("zsh")),
                  (os.path.join(fish_dir, "memtype.fish"), completion.render("fish"))]
    units = [w for w in what if w in UNITS]
    if units:
        program = this_memtype()
        for w in units:
            files.append((os.path.join(args.unit_dir, UNITS[w]), unit_text(UNITS[w], program, w)))
    for path, text in files:
        state = "would write" if args.dry_run else write_file(path, text)
        print(f"{state} {path}")
    if "completion" in what and not args.dry_run and user and args.prefix is None:
        print("zsh: put fpath+=(~/.local/share/zsh/site-functions) before compinit in ~/.zshrc")
    if units:
        names = " ".join(UNITS[w] for w in units)
        if args.now and not args.dry_run:
            _systemctl(["daemon-reload"])
            _systemctl(["enable", "--now", *[UNITS[w] for w in units]])
            print(f"enabled and started {names}")
        else:
            print(f"next: systemctl daemon-reload && systemctl enable --now {names}")
    return 0


def this_memtype() -> str:
    """The absolute path of the memtype program of this install, which a service's user can run."""
    candidates = [sys.argv[0], os.path.join(os.path.dirname(sys.executable), "memtype")]
    found = next((os.path.abspath(c) for c in candidates
                  if os.path.basename(c) == "memtype" and os.access(c, os.X_OK) and os.path.isfile(c)), None)
    if found is None:
        raise MemtypeError("cannot tell where the memtype program of this install is (run it as `memtype`, not "
                           "`python -m memtype`)")
    if found.startswith(HIDDEN_FROM_SERVICES) or not _others_can_run(found):
        raise MemtypeError(f"{found} cannot be run by a service's own user (it is in a home directory, or not "
                           f"readable by others): install memtype system-wide, e.g. `pipx install --global "
                           f"'memtype[exporter]'` (pipx 1.5+: /usr/local/bin) or `python3 -m venv /opt/memtype && "
                           f"/opt/memtype/bin/pip install 'memtype[exporter]'`, and run that one")
    return found


def _others_can_run(path: str) -> bool:
    """Every directory above the program (and the real file behind a link) is open to other users."""
    real = os.path.realpath(path)
    for target in {path, real}:
        directory = os.path.dirname(target)
        while True:
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return False
            if directory == "/":
                break
            directory = os.path.dirname(directory)
    return bool(os.stat(real).st_mode & stat.S_IXOTH)


def unit_text(name: str, program: str, what: str) -> str:
    """The packaged unit with every ExecStart (the commented alternatives too) running ``program``."""
    from importlib import resources

    if what == "exporter":
        try:
            import prometheus_client  # noqa: F401  (the exporter's dependency: the extra `exporter`)
        except ImportError:
            raise MemtypeError("the exporter needs the extra `exporter` in this install: pip install "
                               "'memtype[exporter]' (pipx: pipx inject memtype prometheus-client)") from None
    text = resources.files("memtype").joinpath("units", name).read_text()
    lines = []
    for line in text.splitlines():
        head, sep, rest = line.partition("ExecStart=")
        if sep and head in ("", "# ") and rest.split(" ", 1)[0].endswith("/memtype"):
            line = f"{head}ExecStart={program} {rest.split(' ', 1)[1]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_file(path: str, text: str) -> str:
    """Write ``text`` to ``path`` (0644) safely (module docstring); "wrote", or "up to date"."""
    data = text.encode()
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        st = os.stat(directory)
        if st.st_mode & stat.S_IWOTH or st.st_uid not in (0, os.geteuid()):
            raise MemtypeError(f"{directory} may be written by other users; not installing into it")
        try:
            with open(path, "rb") as old:
                if os.fstat(old.fileno()).st_size == len(data) and old.read() == data:
                    return "up to date"
        except FileNotFoundError:
            pass
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, path)  # replaces a link at path, never writes through it
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise MemtypeError(f"cannot write {path}: {exc.strerror}") from None
    return "wrote"


def _systemctl(argv: list[str]) -> None:
    import shutil
    import subprocess

    if not os.path.isdir("/run/systemd/system") or shutil.which("systemctl") is None:
        raise MemtypeError("systemd is not running here: the unit files are written; start them where it runs")
    res = subprocess.run(["systemctl", *argv], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        problem = (res.stderr or res.stdout).strip().splitlines()
        raise MemtypeError(f"systemctl {' '.join(argv)}: {problem[-1] if problem else f'exit {res.returncode}'}")
