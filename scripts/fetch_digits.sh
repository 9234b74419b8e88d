#!/usr/bin/env bash
# Re-extracts data/digits/digits.csv.gz (scikit-learn's bundled copy of the UCI Optical
# Recognition of Handwritten Digits test set, 1797 real 8x8 images) from the scikit-learn
# wheel on PyPI, and checks it against the committed checksum.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pip download --no-deps --only-binary=:all: "scikit-learn==${SKLEARN_VERSION:-1.9.1}" -d "$tmp"
unzip -o -q "$tmp"/scikit_learn-*.whl 'sklearn/datasets/data/digits.csv.gz' -d "$tmp"
mkdir -p "$root/data/digits"
cp "$tmp/sklearn/datasets/data/digits.csv.gz" "$root/data/digits/digits.csv.gz"
(cd "$root/data/digits" && sha256sum -c SHA256SUMS)
