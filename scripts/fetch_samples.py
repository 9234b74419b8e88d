#!/usr/bin/env python3
"""Regenerate data/samples/ from the PyPI package `pneumonia-model-package`.

The package ships 16 real pediatric chest X-rays (8 normal, 8 bacterial
pneumonia) from Kermany et al. 2018 (CC BY 4.0) under
`pneumonia_model_package/datasets/pneumonia-data/val/`. This script downloads
the wheel with pip (no install, no dependencies), reads those JPEGs, converts
them to 8-bit grayscale, resizes the shortest side to 256 (Lanczos), takes
the central 256x256 crop (the same preprocessing as med-data's
`preprocess_latent_he`), and writes them as PNG with a labels CSV.

Usage:
    python3 scripts/fetch_samples.py [--wheel PATH] [--out data/samples]

Requires: pip, Pillow.
"""
import argparse
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "pneumonia-model-package"
VERSION = "0.3.0"
VAL_DIR = "pneumonia_model_package/datasets/pneumonia-data/val/"
SIZE = 256


def find_or_download_wheel(tmp):
    subprocess.check_call(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
         f"{PACKAGE}=={VERSION}", "-d", tmp]
    )
    for name in os.listdir(tmp):
        if name.endswith(".whl"):
            return os.path.join(tmp, name)
    raise SystemExit("pip download produced no wheel")


def preprocess(img):
    from PIL import Image

    img = img.convert("L")
    w, h = img.size
    scale = SIZE / min(w, h)
    nw, nh = max(SIZE, round(w * scale)), max(SIZE, round(h * scale))
    img = img.resize((nw, nh), Image.LANCZOS)
    left, top = (nw - SIZE) // 2, (nh - SIZE) // 2
    return img.crop((left, top, left + SIZE, top + SIZE))


def main():
    from PIL import Image

    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", help="an already downloaded wheel of the package")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data", "samples"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or find_or_download_wheel(tmp)
        rows = []
        with zipfile.ZipFile(wheel) as zf:
            names = sorted(n for n in zf.namelist() if n.startswith(VAL_DIR) and n.lower().endswith((".jpeg", ".jpg")))
            if len(names) != 16:
                raise SystemExit(f"expected 16 images in {VAL_DIR}, found {len(names)}")
            for n in names:
                base = os.path.basename(n)
                label = "pneumonia" if "bacteria" in base or "virus" in base else "normal"
                kind = "bacterial" if "bacteria" in base else ("viral" if "virus" in base else "none")
                data = zf.read(n)
                with zf.open(n) as f:
                    img = Image.open(f)
                    img.load()
                w, h = img.size
                out_name = os.path.splitext(base)[0] + ".png"
                preprocess(img).save(os.path.join(args.out, out_name), optimize=True)
                rows.append({
                    "file": out_name,
                    "label": label,
                    "pneumonia": 1 if label == "pneumonia" else 0,
                    "pneumonia_type": kind,
                    "source_file": base,
                    "source_width": w,
                    "source_height": h,
                    "source_sha256": hashlib.sha256(data).hexdigest(),
                })
    with open(os.path.join(args.out, "labels.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        wr.writeheader()
        wr.writerows(rows)
    print(f"wrote {len(rows)} images to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
