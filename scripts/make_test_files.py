#!/usr/bin/env python3
"""Write med-data's small format test files with independent tools, plus the values
those tools decode them to.

Writes into crates/med-data/tests/data/formats/:
  gray8.png, gray16.png          Pillow / numpy, 8- and 16-bit grayscale gradients
  rgb8.png                       Pillow, RGB (med-data converts with BT.601 luma)
  gray8.jpg                      Pillow JPEG, quality 95
  truncated.png                  gray8.png cut in half (a decoder must fail)
  preprocess_input.png           400x300 pattern; expected.json holds its Latent-HE
                                 preprocessing by Pillow (bilinear resize to 341x256,
                                 center crop, [-1, 1]), every 8th pixel
  mono2_rescale.dcm              pydicom, MONOCHROME2, 16 bits allocated, 12 stored,
                                 rescale slope 2 / intercept -1024, window 0/400
  mono1_8bit.dcm                 pydicom, MONOCHROME1, 8 bits, no window
  mono1_rescale_window.dcm       pydicom, MONOCHROME1, 10 of 16 bits, rescale 0.5 / 10,
                                 window 150/200
  mono2_signed.dcm               pydicom, MONOCHROME2, signed 16 bit, no rescale
  chestmnist_tiny.npz            numpy savez_compressed in the MedMNIST layout
                                 (train/val/test _images uint8 (N,28,28), _labels (N,14))
  pneumoniamnist_tiny.npz        same with (N,1) binary labels
  expected.json                  what pydicom/numpy/Pillow say the files contain
Copies real DICOM test files shipped with pydicom (CT/MR in explicit and implicit VR
little endian, explicit big endian, RLE, an RGB JPEG baseline file, a truncated file, a
12-bit JPEG extended file, a JPEG 2000 file and an RT plan without pixel data) (MIT; see pydicom's
data/test_files/README.txt) into crates/med-data/tests/data/pydicom/ with the modality
values pydicom decodes (pydicom.pixels.apply_modality_lut) summarised in expected.json.

Requires: numpy, Pillow, pydicom (pip install numpy pillow pydicom).
"""
import json
import os
import shutil
import zlib

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "crates/med-data/tests/data/formats")
PYD = os.path.join(ROOT, "crates/med-data/tests/data/pydicom")
W, H = 24, 16


def dicom(path, arr, photometric, bits_alloc, bits_stored, signed, slope=None, intercept=None, window=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1" + str(zlib.crc32(os.path.basename(path).encode()))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.PatientName = "SYNTHETIC^TEST"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_alloc
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = arr.tobytes()
    ds.save_as(path, enforce_file_format=True)
    back = pydicom.dcmread(path)
    return apply_modality_lut(back.pixel_array, back).astype(float)


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(PYD, exist_ok=True)
    exp = {}
    y, x = np.mgrid[0:H, 0:W]
    g8 = ((x * 10 + y * 3) % 256).astype(np.uint8)
    Image.fromarray(g8, mode="L").save(os.path.join(OUT, "gray8.png"))
    exp["gray8.png"] = {"width": W, "height": H, "values": (g8 / 255.0).ravel().tolist()}
    g16 = (x * 2500 + y * 300).astype(np.uint16)
    Image.fromarray(g16).save(os.path.join(OUT, "gray16.png"))
    back = np.array(Image.open(os.path.join(OUT, "gray16.png")))
    assert (back == g16).all()
    exp["gray16.png"] = {"width": W, "height": H, "values": (g16 / 65535.0).ravel().tolist()}
    rgb = np.stack([g8, 255 - g8, (x * 7 % 256).astype(np.uint8)], axis=-1)
    Image.fromarray(rgb, mode="RGB").save(os.path.join(OUT, "rgb8.png"))
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    exp["rgb8.png"] = {"width": W, "height": H, "values": (luma / 255.0).ravel().tolist()}
    smooth = (128 + 100 * np.sin(x / 4.0) * np.cos(y / 5.0)).astype(np.uint8)
    Image.fromarray(smooth, mode="L").save(os.path.join(OUT, "gray8.jpg"), quality=95)
    dec = np.array(Image.open(os.path.join(OUT, "gray8.jpg")).convert("L"))
    exp["gray8.jpg"] = {"width": W, "height": H, "values": (dec / 255.0).ravel().tolist(),
                        "source": (smooth / 255.0).ravel().tolist()}
    data = open(os.path.join(OUT, "gray8.png"), "rb").read()
    open(os.path.join(OUT, "truncated.png"), "wb").write(data[: len(data) // 2])

    # Latent-HE preprocessing reference: torchvision-style Resize(256) (Pillow bilinear,
    # long side truncated) + CenterCrop(256) + Normalize(0.5, 0.5), on a 400x300 8-bit image.
    py, px_ = np.mgrid[0:300, 0:400]
    pattern = (127.5 + 60 * np.sin(px_ / 9.0) + 60 * np.cos(py / 13.0) * np.sin(px_ / 31.0)).astype(np.uint8)
    Image.fromarray(pattern, mode="L").save(os.path.join(OUT, "preprocess_input.png"))
    fimg = Image.fromarray(pattern.astype(np.float32) / 255.0, mode="F")
    nw = int(256 * 400 / 300)
    res = np.array(fimg.resize((nw, 256), Image.BILINEAR))
    left = int(round((nw - 256) / 2.0))
    crop = res[:, left:left + 256]
    model = (crop - 0.5) / 0.5
    exp["preprocess_input.png"] = {"resized_width": nw, "crop_left": left,
                                   "every_8th": model[::8, ::8].ravel().tolist(),
                                   "mean": float(model.mean())}

    # DICOM, MONOCHROME2, 12 of 16 bits, rescale, window.
    raw = (x * 170 + y * 1).astype(np.uint16)  # 0..3925 < 4096
    mod = dicom(os.path.join(OUT, "mono2_rescale.dcm"), raw, "MONOCHROME2", 16, 12, False, 2, -1024, (0, 400))
    c, w = 0.0, 400.0
    # DICOM PS3.3 C.11.2.1.2.1 LINEAR window, output range [0, 1].
    lin = np.where(mod <= c - 0.5 - (w - 1) / 2, 0.0,
                   np.where(mod > c - 0.5 + (w - 1) / 2, 1.0, (mod - (c - 0.5)) / (w - 1) + 0.5))
    exp["mono2_rescale.dcm"] = {"width": W, "height": H, "modality": mod.ravel().tolist(),
                                "values": lin.ravel().tolist(), "window": [c, w]}
    raw8 = (x * 10 + y).astype(np.uint8)
    mod = dicom(os.path.join(OUT, "mono1_8bit.dcm"), raw8, "MONOCHROME1", 8, 8, False)
    mm = (mod - mod.min()) / (mod.max() - mod.min())
    exp["mono1_8bit.dcm"] = {"width": W, "height": H, "modality": mod.ravel().tolist(),
                             "values": (1.0 - mm).ravel().tolist()}
    # MONOCHROME1, 10 of 16 bits, rescale 0.5 / 10, window 150/200: window, then invert.
    raw10 = (x * 40 + y * 3).astype(np.uint16)  # 0..965 < 1024
    mod = dicom(os.path.join(OUT, "mono1_rescale_window.dcm"), raw10, "MONOCHROME1", 16, 10, False, 0.5, 10, (150, 200))
    c, w = 150.0, 200.0
    lin = np.where(mod <= c - 0.5 - (w - 1) / 2, 0.0,
                   np.where(mod > c - 0.5 + (w - 1) / 2, 1.0, (mod - (c - 0.5)) / (w - 1) + 0.5))
    exp["mono1_rescale_window.dcm"] = {"width": W, "height": H, "modality": mod.ravel().tolist(),
                                       "values": (1.0 - lin).ravel().tolist(), "window": [c, w]}
    raws = (x * 100 - y * 150 - 500).astype(np.int16)
    mod = dicom(os.path.join(OUT, "mono2_signed.dcm"), raws, "MONOCHROME2", 16, 16, True)
    mm = (mod - mod.min()) / (mod.max() - mod.min())
    exp["mono2_signed.dcm"] = {"width": W, "height": H, "modality": mod.ravel().tolist(),
                               "values": mm.ravel().tolist()}

    # MedMNIST layout.
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (rng.random((n, 14)) < 0.2).astype(np.uint8)
    np.savez_compressed(os.path.join(OUT, "chestmnist_tiny.npz"), **arrays)
    exp["chestmnist_tiny.npz"] = {k: v.ravel().tolist() for k, v in arrays.items() if k.startswith("test")}
    arrays = {}
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        arrays[f"{split}_images"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, size=(n, 1), dtype=np.uint8)
    np.savez(os.path.join(OUT, "pneumoniamnist_tiny.npz"), **arrays)
    exp["pneumoniamnist_tiny.npz"] = {k: v.ravel().tolist() for k, v in arrays.items() if k.startswith("train")}

    # Real pydicom test files.
    src = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                 "MR_small_implicit.dcm", "MR_truncated.dcm", "SC_rgb_jpeg_dcmtk.dcm",
                 "JPGExtended.dcm", "JPEG2000.dcm", "rtplan.dcm"):
        shutil.copy(os.path.join(src, name), os.path.join(PYD, name))
    for name in ("CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"):
        ds = pydicom.dcmread(os.path.join(PYD, name))
        mod = apply_modality_lut(ds.pixel_array, ds).astype(float)
        exp["pydicom/" + name] = {
            "width": int(ds.Columns), "height": int(ds.Rows),
            "photometric": str(ds.PhotometricInterpretation),
            "bits_stored": int(ds.BitsStored),
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "modality_min": float(mod.min()), "modality_max": float(mod.max()),
            "modality_mean": float(mod.mean()),
            "modality_first_row": mod[0].tolist(),
            "window": [float(ds.WindowCenter), float(ds.WindowWidth)] if "WindowCenter" in ds else None,
        }
    ds = pydicom.dcmread(os.path.join(PYD, "SC_rgb_jpeg_dcmtk.dcm"))
    rgb = ds.pixel_array.astype(float)  # pydicom decodes JPEG (via Pillow) and converts to RGB
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    exp["pydicom/SC_rgb_jpeg_dcmtk.dcm"] = {
        "width": int(ds.Columns), "height": int(ds.Rows),
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "values": ((luma - luma.min()) / (luma.max() - luma.min())).ravel().tolist(),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(exp, f)
    print("wrote", OUT, "and", PYD)


if __name__ == "__main__":
    main()
