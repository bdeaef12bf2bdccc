#!/usr/bin/env bash
# Builds the Python wheel, installs it into a fresh virtual environment and runs the pytest
# suite against it.  Needs a Rust toolchain; installs python3-venv with apt-get when the
# system Python cannot make a virtual environment, then maturin, numpy, pytest and
# scikit-learn from PyPI into the fresh environment.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
export CARGO_INCREMENTAL=0

if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
py="$scratch/venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "maturin>=1.5,<2" numpy pytest scikit-learn

# The binary the tests compare with, from the same sources as the wheel.
(cd "$repo" && cargo build --release -p cli --locked)
export QFTML_BIN="${QFTML_BIN:-$repo/target/release/qftml}"

# The wheel, built in the workspace's target directory so that it shares its compiled
# dependencies with the binary.
(cd "$here" && CARGO_TARGET_DIR="$repo/target" "$scratch/venv/bin/maturin" build --release --locked --quiet --out "$scratch/wheels")
"$py" -m pip install --quiet "$scratch"/wheels/qftml-*.whl

# From a directory without the source package, so the installed wheel is what is tested.
cd "$scratch"
"$scratch/venv/bin/pytest" -q -p no:cacheprovider "$here/tests"
