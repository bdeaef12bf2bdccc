"""Locates the `qftml` binary the tests compare with (QFTML_BIN, default target/release/qftml)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def qftml_bin() -> Path:
    path = Path(os.environ.get("QFTML_BIN", REPO / "target" / "release" / "qftml"))
    if not path.is_file():
        pytest.fail(f"the qftml binary {path} does not exist; build it (cargo build --release -p cli) or set QFTML_BIN")
    return path


@pytest.fixture(scope="session")
def cli(qftml_bin):
    """Runs `qftml ARGS`; returns (exit code, parsed JSON stdout or None, stderr)."""

    def run(*args: str):
        out = subprocess.run([str(qftml_bin), *args], capture_output=True, text=True)
        record = json.loads(out.stdout) if out.returncode == 0 and "--json" in args else None
        return out.returncode, record, out.stderr

    return run
