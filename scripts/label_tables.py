#!/usr/bin/env python3
"""Derive med-data's committed label-table files from the PyPI package `torchxrayvision`.

torchxrayvision (Apache-2.0 code; its data/ folder ships the public label
tables of several chest X-ray datasets) contains
  - data/Data_Entry_2017_v2020.csv.gz  NIH ChestX-ray14 label table (112,120 rows)
  - data/chexpert_train.csv.gz         CheXpert-v1.0-small train.csv (223,414 rows)

This script writes
  crates/med-data/tests/data/nih_data_entry_2017_v2020_excerpt.csv
      300 real rows of the NIH table, a systematic sample (every k-th row)
      plus, for each of the 14 findings, its first row in the table if the
      systematic sample missed it; original column layout and order kept.
  crates/med-data/tests/data/chexpert_train_excerpt.csv
      300 real rows of the CheXpert train table, a systematic sample.
  data/nih_label_stats/priors.csv         per-finding counts and prevalence
  data/nih_label_stats/cooccurrence.csv   14x14 pairwise co-occurrence counts
  data/nih_label_stats/combinations.csv   every distinct label set and its count
                                          (the empirical joint distribution the
                                          phantom generator samples from)

Usage: python3 scripts/label_tables.py [--wheel PATH]
"""
import argparse
import csv
import gzip
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter

VERSION = "1.5.7"
ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
FINDINGS = [
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
    "Pneumonia", "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis",
    "Pleural_Thickening", "Hernia",
]
N_EXCERPT = 300


def wheel_path(arg, tmp):
    if arg:
        return arg
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                           f"torchxrayvision=={VERSION}", "-d", tmp])
    return next(os.path.join(tmp, n) for n in os.listdir(tmp) if n.endswith(".whl"))


def read_gz_csv(zf, name):
    raw = gzip.decompress(zf.read(name)).decode("utf-8")
    return raw.splitlines(keepends=True)


def systematic(lines, n):
    header, rows = lines[0], lines[1:]
    step = len(rows) // n
    return header, [rows[i * step] for i in range(n)], rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel_path(args.wheel, tmp)) as zf:
        nih = read_gz_csv(zf, "torchxrayvision/data/Data_Entry_2017_v2020.csv.gz")
        chex = read_gz_csv(zf, "torchxrayvision/data/chexpert_train.csv.gz")

    # --- NIH excerpt -----------------------------------------------------
    header, sample, rows = systematic(nih, N_EXCERPT)
    present = set()
    for line in sample:
        present.update(next(csv.reader([line]))[1].split("|"))
    extra = []
    for f in FINDINGS:
        if f not in present:
            line = next(l for l in rows if f in next(csv.reader([l]))[1].split("|"))
            extra.append(line)
            present.add(f)
    sample = sorted(set(sample + extra), key=rows.index)
    out = os.path.join(ROOT, "crates/med-data/tests/data")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "nih_data_entry_2017_v2020_excerpt.csv"), "w", newline="") as f:
        f.write(header)
        f.writelines(sample)
    # --- CheXpert excerpt ------------------------------------------------
    header, sample, _ = systematic(chex, N_EXCERPT)
    with open(os.path.join(out, "chexpert_train_excerpt.csv"), "w", newline="") as f:
        f.write(header)
        f.writelines(sample)

    # --- NIH statistics --------------------------------------------------
    reader = csv.DictReader(io.StringIO("".join(nih)))
    n = 0
    prior = Counter()
    co = Counter()
    combos = Counter()
    for row in reader:
        n += 1
        labels = [] if row["Finding Labels"] == "No Finding" else row["Finding Labels"].split("|")
        unknown = set(labels) - set(FINDINGS)
        if unknown:
            raise SystemExit(f"unknown NIH finding {unknown}")
        labels = sorted(set(labels), key=FINDINGS.index)
        combos["|".join(labels) if labels else "No Finding"] += 1
        for a in labels:
            prior[a] += 1
            for b in labels:
                co[(a, b)] += 1
    stats = os.path.join(ROOT, "data/nih_label_stats")
    os.makedirs(stats, exist_ok=True)
    with open(os.path.join(stats, "priors.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["finding", "count", "total", "prevalence"])
        for a in FINDINGS:
            w.writerow([a, prior[a], n, f"{prior[a] / n:.6f}"])
        w.writerow(["No Finding", combos["No Finding"], n, f"{combos['No Finding'] / n:.6f}"])
    with open(os.path.join(stats, "cooccurrence.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["finding"] + FINDINGS)
        for a in FINDINGS:
            w.writerow([a] + [co[(a, b)] for b in FINDINGS])
    with open(os.path.join(stats, "combinations.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["labels", "count"])
        for labels, c in sorted(combos.items(), key=lambda kv: (-kv[1], kv[0])):
            w.writerow([labels, c])
    print(f"NIH rows: {n}, distinct label sets: {len(combos)}")


if __name__ == "__main__":
    main()
