"""Shared by the Python tests: where the repository, its fixture models and the `distil` command
line are. Every answer of the package is checked against the command line's on the same input."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "fixtures" / "models"
MINILM = ROOT / "weights" / "all-MiniLM-L6-v2"


def model(name: str) -> str:
    return str(MODELS / name)


def cli_binary() -> str:
    """`distil`, as `cargo build --release` leaves it (or DISTIL_BIN)."""
    path = os.environ.get("DISTIL_BIN", str(ROOT / "target" / "release" / "distil"))
    if not Path(path).is_file():
        pytest.fail(f"{path} is missing: run `cargo build --release` first (or set DISTIL_BIN)")
    return path


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """Runs the command line, its standard output and error as text."""
    return subprocess.run(
        [cli_binary(), *args], input=stdin, capture_output=True, text=True, check=False
    )


def cli_json_lines(*args: str, stdin: str = "") -> list:
    """The command line's `--json` answers, one JSON document per line, parsed."""
    out = cli(*args, "--json", stdin=stdin)
    return [json.loads(line) for line in out.stdout.splitlines()]


def minilm() -> str:
    """The real all-MiniLM-L6-v2 (weights/fetch-minilm.sh); CI fetches it before the tests."""
    if not (MINILM / "model.safetensors").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{MINILM} is missing: run bash weights/fetch-minilm.sh")
        pytest.skip(f"{MINILM} is missing: run bash weights/fetch-minilm.sh")
    return str(MINILM)
