//! Reading PNG, JPEG and DICOM files into [`GrayImage`]s, and writing PNGs.
//!
//! All loaders return display intensities in `[0, 1]`:
//!
//! * PNG/JPEG, 8 bit: `v / 255`; 16 bit: `v / 65535`; colour images are
//!   converted to luma with the ITU-R BT.601 weights (0.299, 0.587, 0.114), as
//!   Pillow's `convert("L")` does; alpha is ignored.
//! * DICOM: stored values (masked to *Bits Stored*, sign-extended when
//!   *Pixel Representation* is 1) -> modality LUT (*Rescale Slope/Intercept*)
//!   -> VOI: the first *Window Center/Width* with its *VOI LUT Function*
//!   (LINEAR, LINEAR_EXACT or SIGMOID, DICOM PS3.3 C.11.2.1.2), or a min-max
//!   normalisation of the modality values when the file has no window
//!   -> inverted for MONOCHROME1 so that 1 is always white.

use std::io::Cursor;
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_pixeldata::{
    ConvertOptions, ModalityLutOption, PhotometricInterpretation, PixelDecoder,
    PixelRepresentation, VoiLutFunction,
};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::{GrayImage, Preprocess};

/// The file formats this crate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageFormat {
    /// Portable Network Graphics, 8 or 16 bit.
    Png,
    /// JPEG (baseline/progressive, 8 bit).
    Jpeg,
    /// DICOM Part 10 file.
    Dicom,
}

impl ImageFormat {
    /// Detect the format from the file's first bytes, falling back to its extension.
    pub fn detect(path: &Path, head: &[u8]) -> Option<Self> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(Self::Png);
        }
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Some(Self::Jpeg);
        }
        if head.len() >= 132 && &head[128..132] == b"DICM" {
            return Some(Self::Dicom);
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Some(Self::Png),
            Some("jpg") | Some("jpeg") => Some(Self::Jpeg),
            Some("dcm") | Some("dicom") | Some("dic") => Some(Self::Dicom),
            _ => None,
        }
    }
}

/// Read any supported file (format detected from content, then extension).
pub fn load_image(path: impl AsRef<Path>) -> Result<GrayImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    match ImageFormat::detect(path, &bytes[..bytes.len().min(132)]) {
        Some(ImageFormat::Png) | Some(ImageFormat::Jpeg) => decode_raster(path, &bytes),
        Some(ImageFormat::Dicom) => load_dicom(path).map(|(img, _)| img),
        None => Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            detail: "not PNG, JPEG or DICOM (checked magic bytes and extension)".into(),
        }),
    }
}

/// Read a file and apply `pre` (for example [`Preprocess::latent_he`]); errors name the file.
pub fn load_preprocessed(path: impl AsRef<Path>, pre: &Preprocess) -> Result<GrayImage> {
    let path = path.as_ref();
    let img = load_image(path)?;
    pre.apply(&img).map_err(|e| e.with_path(path))
}

/// Read a PNG or JPEG file (8 or 16 bit, gray or colour).
pub fn load_raster(path: impl AsRef<Path>) -> Result<GrayImage> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_raster(path, &bytes)
}

fn decode_raster(path: &Path, bytes: &[u8]) -> Result<GrayImage> {
    let decode_err = |e: image::ImageError| Error::Decode {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let dynimg = reader.decode().map_err(decode_err)?;
    let (w, h) = (dynimg.width(), dynimg.height());
    const R: f32 = 0.299;
    const G: f32 = 0.587;
    const B: f32 = 0.114;
    let data: Vec<f32> = match &dynimg {
        image::DynamicImage::ImageLuma8(b) => {
            b.as_raw().iter().map(|&v| v as f32 / 255.0).collect()
        }
        image::DynamicImage::ImageLumaA8(b) => b
            .as_raw()
            .chunks_exact(2)
            .map(|p| p[0] as f32 / 255.0)
            .collect(),
        image::DynamicImage::ImageLuma16(b) => {
            b.as_raw().iter().map(|&v| v as f32 / 65535.0).collect()
        }
        image::DynamicImage::ImageLumaA16(b) => b
            .as_raw()
            .chunks_exact(2)
            .map(|p| p[0] as f32 / 65535.0)
            .collect(),
        image::DynamicImage::ImageRgb16(_) | image::DynamicImage::ImageRgba16(_) => dynimg
            .to_rgb16()
            .as_raw()
            .chunks_exact(3)
            .map(|p| (R * p[0] as f32 + G * p[1] as f32 + B * p[2] as f32) / 65535.0)
            .collect(),
        image::DynamicImage::ImageRgb32F(_) | image::DynamicImage::ImageRgba32F(_) => dynimg
            .to_rgb32f()
            .as_raw()
            .chunks_exact(3)
            .map(|p| R * p[0] + G * p[1] + B * p[2])
            .collect(),
        _ => dynimg
            .to_rgb8()
            .as_raw()
            .chunks_exact(3)
            .map(|p| (R * p[0] as f32 + G * p[1] as f32 + B * p[2] as f32) / 255.0)
            .collect(),
    };
    GrayImage::new(w, h, data).map_err(|e| Error::Decode {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// What a DICOM file said about its pixels, and what the loader did with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DicomInfo {
    /// Transfer syntax UID.
    pub transfer_syntax: String,
    /// Rows (height).
    pub rows: u32,
    /// Columns (width).
    pub columns: u32,
    /// Number of frames in the file (only the first is read).
    pub frames: u32,
    /// `MONOCHROME1`, `MONOCHROME2`, `RGB`, ...
    pub photometric_interpretation: String,
    /// Samples per pixel.
    pub samples_per_pixel: u16,
    /// Bits Allocated.
    pub bits_allocated: u16,
    /// Bits Stored.
    pub bits_stored: u16,
    /// Whether samples are two's complement (Pixel Representation 1).
    pub signed: bool,
    /// Rescale Slope (1 when absent).
    pub rescale_slope: f64,
    /// Rescale Intercept (0 when absent).
    pub rescale_intercept: f64,
    /// The window applied, `(center, width)`, if any.
    pub window: Option<(f64, f64)>,
    /// The VOI LUT function applied with the window.
    pub voi_function: String,
    /// Smallest and largest modality value (after rescale) in the frame.
    pub modality_range: (f64, f64),
}

/// How DICOM modality values are mapped to display intensities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum VoiPolicy {
    /// The file's first window (with its VOI LUT function) when present, else min-max.
    #[default]
    FromFile,
    /// Always min-max normalise the modality values of the frame.
    MinMax,
    /// This window `(center, width)` with the LINEAR function.
    Window {
        /// Window center.
        center: f64,
        /// Window width.
        width: f64,
    },
}

/// Read the first frame of a DICOM file with [`VoiPolicy::FromFile`].
pub fn load_dicom(path: impl AsRef<Path>) -> Result<(GrayImage, DicomInfo)> {
    load_dicom_with(path, VoiPolicy::FromFile)
}

/// Read the first frame of a DICOM file with the given VOI policy.
pub fn load_dicom_with(path: impl AsRef<Path>, voi: VoiPolicy) -> Result<(GrayImage, DicomInfo)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let dicom_err = |detail: String| Error::Dicom {
        path: path.to_path_buf(),
        detail,
    };
    crate::dicom_guard::check(&bytes).map_err(|e| dicom_err(format!("malformed: {e}")))?;
    drop(bytes);
    // The DICOM parser and codecs are third-party code run on untrusted bytes: a panic
    // inside them (seen with corrupt RLE streams) becomes an error naming the file.
    let guard = |what: &str, payload: Box<dyn std::any::Any + Send>| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        dicom_err(format!("{what} failed on malformed data: {msg}"))
    };
    let obj = std::panic::catch_unwind(|| dicom_object::OpenFileOptions::new().open_file(path))
        .map_err(|p| guard("DICOM parser", p))?
        .map_err(|e| dicom_err(e.to_string()))?;
    let uid = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_string();
    let ts_name = TransferSyntaxRegistry
        .get(&uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| "unknown".into());
    match TransferSyntaxRegistry.get(&uid) {
        None => {
            return Err(Error::UnsupportedTransferSyntax {
                path: path.to_path_buf(),
                uid,
                name: "unknown".into(),
            })
        }
        Some(ts) if !ts.can_decode_all() => {
            return Err(Error::UnsupportedTransferSyntax {
                path: path.to_path_buf(),
                name: ts.name().to_string(),
                uid,
            })
        }
        Some(_) => {}
    }
    let has_pixels = obj
        .element_opt(tags::PIXEL_DATA)
        .map_err(|e| dicom_err(e.to_string()))?
        .is_some();
    if !has_pixels {
        let sop_class = obj
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches(['\0', ' '])
            .to_string();
        return Err(Error::NoPixelData {
            path: path.to_path_buf(),
            sop_class: if sop_class.is_empty() {
                "unknown".into()
            } else {
                sop_class
            },
        });
    }
    check_pixel_budget(&obj).map_err(dicom_err)?;
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        obj.decode_pixel_data_frame(0)
    }))
    .map_err(|p| guard(&format!("{ts_name} decoder"), p))?
    .map_err(|e| dicom_err(format!("cannot decode {ts_name} pixel data: {e}")))?;
    let layout_err = |detail: String| Error::UnsupportedPixelLayout {
        path: path.to_path_buf(),
        detail,
    };
    let rows = decoded.rows();
    let columns = decoded.columns();
    if rows == 0 || columns == 0 {
        return Err(layout_err(format!("{columns}x{rows} image")));
    }
    let pi = decoded.photometric_interpretation().clone();
    let spp = decoded.samples_per_pixel();
    let bits_stored = decoded.bits_stored();
    let bits_allocated = decoded.bits_allocated();
    let signed = decoded.pixel_representation() == PixelRepresentation::Signed;
    if !(bits_allocated == 8 || bits_allocated == 16)
        || bits_stored == 0
        || bits_stored > bits_allocated
    {
        return Err(layout_err(format!(
            "bits allocated {bits_allocated}, bits stored {bits_stored} (supported: 8 or 16 allocated, 1..=allocated stored)"
        )));
    }
    let frames = obj
        .element_opt(tags::NUMBER_OF_FRAMES)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1);
    let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    let raw: Vec<f64> = decoded
        .to_vec_frame_with_options(0, &opts)
        .map_err(|e| dicom_err(format!("cannot convert pixel data: {e}")))?;
    let n = rows as usize * columns as usize;
    let stored: Vec<f64> = match (&pi, spp) {
        (PhotometricInterpretation::Monochrome1 | PhotometricInterpretation::Monochrome2, 1) => {
            if raw.len() < n {
                return Err(dicom_err(format!(
                    "pixel data holds {} samples, {columns}x{rows} needs {n}",
                    raw.len()
                )));
            }
            raw[..n].iter().map(|&v| mask_stored(v, bits_stored, signed)).collect()
        }
        (PhotometricInterpretation::Rgb, 3) => {
            if raw.len() < 3 * n {
                return Err(dicom_err(format!(
                    "pixel data holds {} samples, {columns}x{rows} RGB needs {}",
                    raw.len(),
                    3 * n
                )));
            }
            raw[..3 * n]
                .chunks_exact(3)
                .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
                .collect()
        }
        _ => {
            return Err(layout_err(format!(
                "photometric interpretation {pi} with {spp} samples per pixel (supported: MONOCHROME1, MONOCHROME2, RGB)"
            )))
        }
    };
    let rescale = decoded
        .rescale()
        .ok()
        .and_then(|r| r.first().copied())
        .unwrap_or(dicom_pixeldata::Rescale {
            slope: 1.0,
            intercept: 0.0,
        });
    let modality: Vec<f64> = stored
        .iter()
        .map(|&v| v * rescale.slope + rescale.intercept)
        .collect();
    let (lo, hi) = modality
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let file_window = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first().copied())
        .filter(|w| w.width.is_finite() && w.center.is_finite() && w.width > 0.0);
    let file_function = decoded
        .voi_lut_function()
        .ok()
        .flatten()
        .and_then(|f| f.first().copied())
        .unwrap_or_default();
    let (window, function) = match voi {
        VoiPolicy::FromFile => (file_window.map(|w| (w.center, w.width)), file_function),
        VoiPolicy::MinMax => (None, VoiLutFunction::Linear),
        VoiPolicy::Window { center, width } => {
            if !(width > 0.0 && width.is_finite() && center.is_finite()) {
                return Err(Error::InvalidArgument(format!(
                    "window width must be positive and finite, got center {center}, width {width}"
                )));
            }
            (Some((center, width)), VoiLutFunction::Linear)
        }
    };
    let invert = pi == PhotometricInterpretation::Monochrome1;
    let data: Vec<f32> = modality
        .iter()
        .map(|&x| {
            let y = match window {
                Some((c, w)) => apply_window(x, c, w, function),
                None if hi > lo => (x - lo) / (hi - lo),
                None => 0.0,
            };
            (if invert { 1.0 - y } else { y }) as f32
        })
        .collect();
    let info = DicomInfo {
        transfer_syntax: uid,
        rows,
        columns,
        frames,
        photometric_interpretation: pi.to_string(),
        samples_per_pixel: spp,
        bits_allocated,
        bits_stored,
        signed,
        rescale_slope: rescale.slope,
        rescale_intercept: rescale.intercept,
        window,
        voi_function: match (window, function) {
            (None, _) => "MIN_MAX".into(),
            (Some(_), VoiLutFunction::Linear) => "LINEAR".into(),
            (Some(_), VoiLutFunction::LinearExact) => "LINEAR_EXACT".into(),
            (Some(_), VoiLutFunction::Sigmoid) => "SIGMOID".into(),
        },
        modality_range: (lo, hi),
    };
    let img = GrayImage::new(columns, rows, data).map_err(|e| dicom_err(e.to_string()))?;
    Ok((img, info))
}

/// Refuse frames too large to decode safely (corrupt Rows/Columns would otherwise ask
/// the decoder for gigabytes).
fn check_pixel_budget(
    obj: &dicom_object::FileDicomObject<dicom_object::InMemDicomObject>,
) -> std::result::Result<(), String> {
    let get = |tag| {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_int::<u64>().ok())
    };
    let rows = get(tags::ROWS).unwrap_or(0);
    let cols = get(tags::COLUMNS).unwrap_or(0);
    let spp = get(tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1);
    let samples = rows.saturating_mul(cols).saturating_mul(spp);
    if samples > crate::image::MAX_PIXELS {
        return Err(format!(
            "{cols}x{rows}x{spp} samples per frame exceed the {} limit",
            crate::image::MAX_PIXELS
        ));
    }
    Ok(())
}

/// Keep the low `bits` bits of a stored sample, sign-extending when `signed`.
fn mask_stored(v: f64, bits: u16, signed: bool) -> f64 {
    let raw = v as i64;
    if bits >= 32 {
        return v;
    }
    let mask = (1i64 << bits) - 1;
    let low = raw & mask;
    if signed && (low >> (bits - 1)) & 1 == 1 {
        (low - (1i64 << bits)) as f64
    } else {
        low as f64
    }
}

/// DICOM PS3.3 C.11.2.1.2: map a modality value to `[0, 1]` through a window.
pub fn apply_window(x: f64, center: f64, width: f64, function: VoiLutFunction) -> f64 {
    match function {
        VoiLutFunction::Linear => {
            // C.11.2.1.2.1, with y_min = 0, y_max = 1 (width >= 1 per the standard).
            let w1 = (width - 1.0).max(f64::EPSILON);
            let c = center - 0.5;
            if x <= c - w1 / 2.0 {
                0.0
            } else if x > c + w1 / 2.0 {
                1.0
            } else {
                (x - c) / w1 + 0.5
            }
        }
        VoiLutFunction::LinearExact => {
            if x <= center - width / 2.0 {
                0.0
            } else if x > center + width / 2.0 {
                1.0
            } else {
                (x - center) / width + 0.5
            }
        }
        VoiLutFunction::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - center) / width).exp()),
    }
}

/// Bit depth of a written PNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PngDepth {
    /// 8-bit grayscale.
    Eight,
    /// 16-bit grayscale.
    Sixteen,
}

/// Write a `[0, 1]` image (values clamped) as a grayscale PNG.
pub fn save_png(img: &GrayImage, path: impl AsRef<Path>, depth: PngDepth) -> Result<()> {
    let path = path.as_ref();
    let write_err = |e: image::ImageError| Error::Write {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    match depth {
        PngDepth::Eight => {
            let buf: image::ImageBuffer<image::Luma<u8>, Vec<u8>> =
                image::ImageBuffer::from_raw(img.width(), img.height(), img.to_u8())
                    .ok_or_else(|| Error::InvalidArgument("image buffer size mismatch".into()))?;
            buf.save_with_format(path, image::ImageFormat::Png)
                .map_err(write_err)
        }
        PngDepth::Sixteen => {
            let buf: image::ImageBuffer<image::Luma<u16>, Vec<u16>> =
                image::ImageBuffer::from_raw(img.width(), img.height(), img.to_u16())
                    .ok_or_else(|| Error::InvalidArgument("image buffer size mismatch".into()))?;
            buf.save_with_format(path, image::ImageFormat::Png)
                .map_err(write_err)
        }
    }
}

/// Write a `[-1, 1]` model-range image as an 8-bit PNG (maps to `[0, 1]` first).
pub fn save_png_signed(img: &GrayImage, path: impl AsRef<Path>) -> Result<()> {
    save_png(&img.map(|v| (v + 1.0) * 0.5), path, PngDepth::Eight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bits_are_masked_and_sign_extended() {
        // 12 bits stored in 16: high bits (overlays) are dropped.
        assert_eq!(mask_stored(0xF123 as f64, 12, false), 0x123 as f64);
        // Signed 12-bit: 0x800 is -2048, 0xFFF is -1.
        assert_eq!(mask_stored(0x0800 as f64, 12, true), -2048.0);
        assert_eq!(mask_stored(0x0FFF as f64, 12, true), -1.0);
        // A sign-extended 16-bit read of a 12-bit negative stays the same.
        assert_eq!(mask_stored(-5.0, 12, true), -5.0);
        assert_eq!(mask_stored(200.0, 8, false), 200.0);
    }

    #[test]
    fn format_detection_prefers_content() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(
            ImageFormat::detect(Path::new("x.dcm"), png),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::detect(Path::new("x"), &[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        let mut dcm = vec![0u8; 132];
        dcm[128..].copy_from_slice(b"DICM");
        assert_eq!(
            ImageFormat::detect(Path::new("x.png"), &dcm),
            Some(ImageFormat::Dicom)
        );
        assert_eq!(
            ImageFormat::detect(Path::new("IMG.JPEG"), b""),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::detect(Path::new("notes.txt"), b"hello"), None);
    }
}
