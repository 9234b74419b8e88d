//! Image input: PNG/JPEG/DICOM files written by independent tools (Pillow, numpy,
//! pydicom; see scripts/make_test_files.py), the real DICOM test files of pydicom, and
//! bad input.

mod common;

use common::{data, expected, floats, tempdir};
use med_data::io::{
    apply_window, load_dicom, load_dicom_with, load_image, load_preprocessed, save_png, PngDepth,
    VoiPolicy,
};
use med_data::{Error, GrayImage, Preprocess};

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

#[test]
fn png_8_16_and_rgb_match_pillow() {
    let e = expected();
    for name in ["gray8.png", "gray16.png", "rgb8.png"] {
        let img = load_image(data(&format!("formats/{name}"))).unwrap();
        assert_eq!((img.width(), img.height()), (24, 16), "{name}");
        let tol = if name == "gray16.png" { 1e-6 } else { 1e-5 };
        assert_close(img.data(), &floats(&e[name]["values"]), tol, name);
    }
}

#[test]
fn jpeg_matches_pillow_decoder() {
    let e = expected();
    let img = load_image(data("formats/gray8.jpg")).unwrap();
    // Two JPEG decoders may differ by a grey level after IDCT rounding.
    assert_close(
        img.data(),
        &floats(&e["gray8.jpg"]["values"]),
        2.5 / 255.0,
        "vs Pillow",
    );
    // And quality 95 stays near the source.
    assert_close(
        img.data(),
        &floats(&e["gray8.jpg"]["source"]),
        8.0 / 255.0,
        "vs source",
    );
}

#[test]
fn dicom_monochrome2_12bit_rescale_window() {
    let e = &expected()["mono2_rescale.dcm"];
    let (img, info) = load_dicom(data("formats/mono2_rescale.dcm")).unwrap();
    assert_eq!(info.photometric_interpretation, "MONOCHROME2");
    assert_eq!((info.bits_allocated, info.bits_stored), (16, 12));
    assert_eq!((info.rescale_slope, info.rescale_intercept), (2.0, -1024.0));
    assert_eq!(info.window, Some((0.0, 400.0)));
    assert_eq!(info.voi_function, "LINEAR");
    let modality = floats(&e["modality"]);
    let lo = modality.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = modality.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(info.modality_range, (lo, hi));
    assert_close(img.data(), &floats(&e["values"]), 1e-6, "windowed");
    // Min-max instead of the window.
    let (mm, _) = load_dicom_with(data("formats/mono2_rescale.dcm"), VoiPolicy::MinMax).unwrap();
    let want: Vec<f64> = modality.iter().map(|m| (m - lo) / (hi - lo)).collect();
    assert_close(mm.data(), &want, 1e-6, "min-max");
}

#[test]
fn dicom_monochrome1_is_inverted_and_signed_is_sign_extended() {
    let e = expected();
    let (img, info) = load_dicom(data("formats/mono1_8bit.dcm")).unwrap();
    assert_eq!(info.photometric_interpretation, "MONOCHROME1");
    assert_eq!(info.window, None);
    assert_close(
        img.data(),
        &floats(&e["mono1_8bit.dcm"]["values"]),
        1e-6,
        "mono1",
    );
    // The smallest stored value is white in MONOCHROME1.
    assert_eq!(img.get(0, 0), Some(1.0));
    let (img, info) = load_dicom(data("formats/mono2_signed.dcm")).unwrap();
    assert!(info.signed);
    let m = floats(&e["mono2_signed.dcm"]["modality"]);
    assert!(info.modality_range.0 < 0.0);
    assert_eq!(
        info.modality_range.0,
        m.iter().cloned().fold(f64::INFINITY, f64::min)
    );
    assert_close(
        img.data(),
        &floats(&e["mono2_signed.dcm"]["values"]),
        1e-6,
        "signed",
    );
}

#[test]
fn dicom_monochrome1_with_rescale_and_window() {
    let e = &expected()["mono1_rescale_window.dcm"];
    let (img, info) = load_dicom(data("formats/mono1_rescale_window.dcm")).unwrap();
    assert_eq!(info.photometric_interpretation, "MONOCHROME1");
    assert_eq!((info.bits_allocated, info.bits_stored), (16, 10));
    assert_eq!((info.rescale_slope, info.rescale_intercept), (0.5, 10.0));
    assert_eq!(info.window, Some((150.0, 200.0)));
    assert_close(img.data(), &floats(&e["values"]), 1e-6, "mono1 windowed");
    // Low modality values are white in MONOCHROME1, and the window clips both ends.
    assert_eq!(img.get(0, 0), Some(1.0));
    assert_eq!(img.get(23, 15), Some(0.0));
}

#[test]
fn real_pydicom_files_load_like_pydicom() {
    let e = expected();
    for name in ["CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm"] {
        let want = &e[format!("pydicom/{name}")];
        let (img, info) = load_dicom(data(&format!("pydicom/{name}"))).unwrap();
        assert_eq!(
            img.width() as u64,
            want["width"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            img.height() as u64,
            want["height"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.transfer_syntax,
            want["transfer_syntax"].as_str().unwrap()
        );
        assert_eq!(
            info.photometric_interpretation,
            want["photometric"].as_str().unwrap()
        );
        assert_eq!(
            info.modality_range.0,
            want["modality_min"].as_f64().unwrap(),
            "{name} min"
        );
        assert_eq!(
            info.modality_range.1,
            want["modality_max"].as_f64().unwrap(),
            "{name} max"
        );
        // First row through the file's VOI (or min-max), compared with our pixels.
        let row = floats(&want["modality_first_row"]);
        let expect: Vec<f64> = match want["window"].as_array() {
            Some(w) => {
                let (c, wd) = (w[0].as_f64().unwrap(), w[1].as_f64().unwrap());
                assert_eq!(info.window, Some((c, wd)));
                row.iter()
                    .map(|&x| apply_window(x, c, wd, dicom_pixeldata::VoiLutFunction::Linear))
                    .collect()
            }
            None => {
                let (lo, hi) = info.modality_range;
                row.iter().map(|&x| (x - lo) / (hi - lo)).collect()
            }
        };
        assert_close(&img.data()[..img.width() as usize], &expect, 1e-6, name);
    }
}

#[test]
fn real_pydicom_encodings_decode_to_the_same_picture() {
    let reference = load_image(data("pydicom/MR_small.dcm")).unwrap();
    for name in [
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
    ] {
        let (img, info) = load_dicom(data(&format!("pydicom/{name}"))).unwrap();
        assert_eq!(img, reference, "{name} ({})", info.transfer_syntax);
    }
    // RGB JPEG baseline: luma of the decoded colours, min-max normalised (no window).
    let e = &expected()["pydicom/SC_rgb_jpeg_dcmtk.dcm"];
    let (img, info) = load_dicom(data("pydicom/SC_rgb_jpeg_dcmtk.dcm")).unwrap();
    assert_eq!(info.transfer_syntax, e["transfer_syntax"].as_str().unwrap());
    assert_eq!(info.samples_per_pixel, 3);
    // Two JPEG decoders (jpeg-decoder vs Pillow/libjpeg): measured mean difference 3e-5.
    let want = floats(&e["values"]);
    let mean_err: f64 = img
        .data()
        .iter()
        .zip(&want)
        .map(|(g, w)| (*g as f64 - w).abs())
        .sum::<f64>()
        / want.len() as f64;
    assert!(mean_err < 1e-3, "mean error {mean_err}");
    assert_close(img.data(), &want, 3.0 / 255.0, "rgb jpeg");
}

#[test]
fn truncated_and_undecodable_dicom_name_the_file() {
    let p = data("pydicom/MR_truncated.dcm");
    let err = load_image(&p).unwrap_err();
    assert!(matches!(err, Error::Dicom { .. }), "{err:?}");
    assert!(err.to_string().contains("MR_truncated.dcm"), "{err}");
    // 12-bit JPEG (extended process): the JPEG decoder has no 12-bit support.
    let p = data("pydicom/JPGExtended.dcm");
    let err = load_image(&p).unwrap_err();
    assert!(matches!(err, Error::Dicom { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("JPGExtended.dcm") && msg.contains("JPEG Extended"),
        "{msg}"
    );
}

#[test]
fn window_functions_follow_the_standard() {
    use dicom_pixeldata::VoiLutFunction::*;
    // LINEAR, c = 50, w = 11: 0 at x <= 44.5, 1 at x > 54.5, linear between.
    assert_eq!(apply_window(44.5, 50.0, 11.0, Linear), 0.0);
    assert_eq!(apply_window(49.5, 50.0, 11.0, Linear), 0.5);
    assert_eq!(apply_window(54.6, 50.0, 11.0, Linear), 1.0);
    assert_eq!(apply_window(50.0, 50.0, 10.0, LinearExact), 0.5);
    assert_eq!(apply_window(45.0, 50.0, 10.0, LinearExact), 0.0);
    assert!((apply_window(50.0, 50.0, 10.0, Sigmoid) - 0.5).abs() < 1e-12);
}

#[test]
fn unsupported_transfer_syntax_names_file() {
    let p = data("pydicom/JPEG2000.dcm");
    match load_image(&p) {
        Err(Error::UnsupportedTransferSyntax { path, uid, .. }) => {
            assert_eq!(path, p);
            assert!(uid.starts_with("1.2.840.10008.1.2.4.9"), "{uid}");
        }
        other => panic!("expected UnsupportedTransferSyntax, got {other:?}"),
    }
    let msg = load_image(&p).unwrap_err().to_string();
    assert!(
        msg.contains("JPEG2000.dcm") && msg.contains("transfer syntax"),
        "{msg}"
    );
}

#[test]
fn dicom_without_pixel_data_names_file() {
    let p = data("pydicom/rtplan.dcm");
    match load_image(&p) {
        Err(e @ Error::NoPixelData { .. }) => {
            assert_eq!(e.path(), Some(p.as_path()));
            assert!(e.to_string().contains("rtplan.dcm"));
            assert!(
                e.to_string().contains("1.2.840.10008.5.1.4.1.1.481.5"),
                "{e}"
            );
        }
        other => panic!("expected NoPixelData, got {other:?}"),
    }
}

#[test]
fn missing_file_names_file() {
    for name in ["nope.png", "nope.dcm"] {
        let p = data(name);
        match load_image(&p) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, p);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }
    assert!(matches!(
        load_dicom(data("nope.dcm")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn truncated_png_is_a_decode_error() {
    let p = data("formats/truncated.png");
    let err = load_image(&p).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated.png"), "{err}");
}

#[test]
fn unknown_format_is_reported() {
    let p = data("chexpert_train_excerpt.csv");
    let err = load_image(&p).unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("chexpert_train_excerpt.csv"));
}

#[test]
fn image_smaller_than_requested_names_file() {
    let p = data("formats/gray8.png");
    match load_preprocessed(&p, &Preprocess::latent_he()) {
        Err(Error::ImageTooSmall {
            path,
            width,
            height,
            required_width,
            ..
        }) => {
            assert_eq!(path.as_deref(), Some(p.as_path()));
            assert_eq!((width, height, required_width), (24, 16, 256));
        }
        other => panic!("expected ImageTooSmall, got {other:?}"),
    }
    // Upscaling on request.
    let img = load_preprocessed(&p, &Preprocess::latent_he().with_upscale()).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
}

#[test]
fn latent_he_preprocessing_resizes_crops_and_scales() {
    // 400x300, left half black, right half white, with a white 20-px frame on top.
    let img =
        GrayImage::from_fn(400, 300, |x, y| if x >= 200 || y < 20 { 1.0 } else { 0.0 }).unwrap();
    let out = Preprocess::latent_he().apply(&img).unwrap();
    assert_eq!((out.width(), out.height()), (256, 256));
    let (lo, hi) = out.min_max();
    assert!(lo >= -1.0 - 1e-6 && hi <= 1.0 + 1e-6);
    assert_eq!(lo, -1.0);
    assert_eq!(hi, 1.0);
    // Shortest side 300 -> 256: width 341, crop starts at (341 - 256) / 2 = 42, so the
    // black/white edge (x = 200 * 256/300 = 170.7) lands near column 128.7.
    assert_eq!(out.get(120, 200), Some(-1.0));
    assert_eq!(out.get(135, 200), Some(1.0));
    // Any size: 64.
    let small = Preprocess::square(64).apply(&img).unwrap();
    assert_eq!((small.width(), small.height()), (64, 64));
    // A portrait image crops vertically.
    let tall = GrayImage::from_fn(300, 500, |_, y| y as f32 / 499.0).unwrap();
    let out = Preprocess::latent_he().apply(&tall).unwrap();
    let top = out.get(128, 0).unwrap();
    assert!(
        top > -0.75 && top < -0.5,
        "center crop drops the top rows: {top}"
    );
}

#[test]
fn latent_he_preprocessing_matches_pillow_resize() {
    let e = &expected()["preprocess_input.png"];
    let img = load_image(data("formats/preprocess_input.png")).unwrap();
    let out = Preprocess::latent_he().apply(&img).unwrap();
    let want = floats(&e["every_8th"]);
    let mut max_err = 0f64;
    let mut sum_err = 0f64;
    for (i, w) in want.iter().enumerate() {
        let (x, y) = ((i % 32) as u32 * 8, (i / 32) as u32 * 8);
        let d = (out.get(x, y).unwrap() as f64 - w).abs();
        max_err = max_err.max(d);
        sum_err += d;
    }
    // The image crate's triangle filter and Pillow's bilinear resize agree to float
    // rounding (measured: mean 3e-7, max 2e-6).
    let mean_err = sum_err / want.len() as f64;
    assert!(mean_err < 1e-5, "mean error {mean_err}");
    assert!(max_err < 1e-4, "max error {max_err}");
    assert!((out.mean() as f64 - e["mean"].as_f64().unwrap()).abs() < 1e-4);
}

#[test]
fn png_round_trip_8_and_16_bit() {
    let dir = tempdir("png");
    let img = GrayImage::from_fn(33, 17, |x, y| ((x * 7 + y * 13) % 256) as f32 / 255.0).unwrap();
    save_png(&img, dir.join("a8.png"), PngDepth::Eight).unwrap();
    assert_eq!(load_image(dir.join("a8.png")).unwrap(), img);
    let fine = GrayImage::from_fn(33, 17, |x, y| (x * 1000 + y * 17) as f32 / 65535.0).unwrap();
    save_png(&fine, dir.join("a16.png"), PngDepth::Sixteen).unwrap();
    let back = load_image(dir.join("a16.png")).unwrap();
    for (a, b) in back.data().iter().zip(fine.data()) {
        assert!((a - b).abs() < 1e-6);
    }
    let err = save_png(&img, dir.join("no/such/dir/x.png"), PngDepth::Eight).unwrap_err();
    assert!(err.to_string().contains("x.png"));
}

#[test]
fn gray_image_rejects_bad_shapes() {
    assert!(GrayImage::new(0, 3, vec![]).is_err());
    assert!(GrayImage::new(2, 2, vec![0.0; 3]).is_err());
    let img = GrayImage::filled(4, 4, 0.5).unwrap();
    assert!(img.crop(2, 2, 3, 1).is_err());
    assert!(img.crop(u32::MAX, 0, 2, 1).is_err());
    assert!(matches!(
        img.center_crop(5, 4),
        Err(Error::ImageTooSmall { path: None, .. })
    ));
    assert!(img.resize(0, 3).is_err());
}
