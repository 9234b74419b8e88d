#!/usr/bin/env python3
"""Compute reference metric values with scikit-learn and scikit-image for med-data's tests.

Writes crates/med-data/tests/data/metrics_reference.json holding the inputs (so the
Rust test uses exactly the same numbers) and the outputs of:
  skimage.metrics.peak_signal_noise_ratio(ref, test, data_range=...)
  skimage.metrics.structural_similarity(ref, test, data_range=..., gaussian_weights=True,
      sigma=1.5, use_sample_covariance=False)            (Wang et al. 2004 settings)
  numpy: MAE, ME (mean(test - ref)), RMSE
  sklearn.metrics.roc_auc_score(y, s, average=None / "micro" / "macro" / "weighted")
  sklearn.metrics.f1_score(y, s >= t, average=None / "micro" / "macro" / "weighted", zero_division=0)
  sklearn.metrics.accuracy_score(y, s >= t)            (subset accuracy for multi-label)

Requires: numpy, scikit-learn, scikit-image. Usage: python3 scripts/metrics_reference.py
"""
import json
import os

import numpy as np
import skimage
import sklearn
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

OUT = os.path.join(os.path.dirname(__file__), "..", "crates/med-data/tests/data/metrics_reference.json")


def image_case(name, ref, test, data_range):
    ref = ref.astype(np.float32).astype(np.float64)
    test = test.astype(np.float32).astype(np.float64)
    d = test - ref
    return {
        "name": name,
        "width": ref.shape[1],
        "height": ref.shape[0],
        "data_range": data_range,
        "reference": ref.ravel().tolist(),
        "test": test.ravel().tolist(),
        "psnr": float(peak_signal_noise_ratio(ref, test, data_range=data_range)),
        "ssim": float(structural_similarity(ref, test, data_range=data_range, gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False)),
        "mae": float(np.abs(d).mean()),
        "me": float(d.mean()),
        "rmse": float(np.sqrt((d ** 2).mean())),
    }


def main():
    rng = np.random.default_rng(2024)
    y, x = np.mgrid[0:40, 0:48]
    smooth = 0.5 + 0.3 * np.sin(x / 6.0) * np.cos(y / 7.0)
    cases = [
        image_case("noisy_smooth_01", smooth, np.clip(smooth + rng.normal(0, 0.05, smooth.shape), 0, 1), 1.0),
        image_case("blurred_pm1", 2 * smooth - 1, 2 * (0.5 * smooth + 0.25 * np.roll(smooth, 1, 0) + 0.25 * np.roll(smooth, 1, 1)) - 1, 2.0),
        image_case("random_vs_shifted_255", rng.integers(0, 256, (32, 32)).astype(float),
                   None if False else np.clip(rng.integers(0, 256, (32, 32)) * 0.3 + 100, 0, 255), 255.0),
        image_case("offset_and_scale", smooth, 0.8 * smooth + 0.1, 1.0),
    ]
    n, c = 60, 5
    labels = (rng.random((n, c)) < np.array([0.1, 0.3, 0.5, 0.2, 0.4])).astype(int)
    labels[0, :] = 1
    labels[1, :] = 0
    scores = np.clip(labels * 0.3 + rng.random((n, c)) * 0.7, 0, 1)
    scores = np.round(scores, 1)  # many ties on purpose
    t = 0.5
    pred = (scores >= t).astype(int)
    cls = {
        "labels": labels.tolist(),
        "scores": scores.tolist(),
        "threshold": t,
        "auroc_per_class": roc_auc_score(labels, scores, average=None).tolist(),
        "auroc_micro": float(roc_auc_score(labels, scores, average="micro")),
        "auroc_macro": float(roc_auc_score(labels, scores, average="macro")),
        "auroc_weighted": float(roc_auc_score(labels, scores, average="weighted")),
        "f1_per_class": f1_score(labels, pred, average=None, zero_division=0).tolist(),
        "f1_micro": float(f1_score(labels, pred, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(labels, pred, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(labels, pred, average="weighted", zero_division=0)),
        "subset_accuracy": float(accuracy_score(labels, pred)),
    }
    with open(OUT, "w") as f:
        json.dump({"generator": f"scikit-learn {sklearn.__version__}, scikit-image {skimage.__version__}",
                   "images": cases, "classification": cls}, f)
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
