"""Shared test fixtures: captured roots and the CLI run in-process."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from memtype.cli.main import main

HERE = Path(__file__).parent
ROOTS = HERE / "fixtures" / "roots"
GPU_ROOT = ROOTS / "gpu-dataloader"
SHARED_SNAPSHOT = HERE.parent.parent / "shared" / "fixtures" / "gpu-dataloader-snapshot.tar.gz"


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``memtype ARGS`` in-process; returns exit code, stdout, stderr."""

    def run(*args: str) -> Result:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def gpu_root() -> str:
    return str(GPU_ROOT)


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (reads other processes' smaps, changes uid)")
