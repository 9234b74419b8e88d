//! The real-data check's dataset: scikit-learn's bundled `digits` (1797 real 8x8
//! handwritten digits, UCI Optical Recognition of Handwritten Digits; see
//! `data/digits/README.md` for provenance and license), read from its `.csv.gz`.
//!
//! The split is fixed, without a random seed: image `i` is in the test split when
//! `i mod 5 = 4` (359 images), in the training split otherwise (1438 images).

use crate::error::{HeNnError, Result};
use crate::model::Shape;
use crate::reference::Tensor;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// The committed data file.
pub const DIGITS_CSV_GZ: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/digits/digits.csv.gz"
);

/// One image (pixels / 16, in `[0, 1]`, shape `1 x 8 x 8`) and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Digit {
    /// The image.
    pub image: Tensor,
    /// The digit 0..9.
    pub label: usize,
}

/// Whether image `index` belongs to the test split.
pub fn is_test(index: usize) -> bool {
    index % 5 == 4
}

/// Reads every image of a digits `.csv.gz` (64 pixels 0..16 and a label per line).
pub fn load(path: &Path) -> Result<Vec<Digit>> {
    let bytes =
        std::fs::read(path).map_err(|e| HeNnError::Weights(format!("{}: {e}", path.display())))?;
    let mut text = String::new();
    GzDecoder::new(bytes.as_slice())
        .read_to_string(&mut text)
        .map_err(|e| HeNnError::Weights(format!("{}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let bad = |what: &str| {
                HeNnError::Weights(format!("{} line {}: {what}", path.display(), n + 1))
            };
            let v: Vec<u8> = line
                .split(',')
                .map(|f| f.trim().parse::<u8>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| bad("not integers"))?;
            if v.len() != 65 || v[..64].iter().any(|&p| p > 16) || v[64] > 9 {
                return Err(bad("expected 64 pixels 0..16 and a label 0..9"));
            }
            let data = v[..64].iter().map(|&p| p as f64 / 16.0).collect();
            Ok(Digit {
                image: Tensor::new(Shape::new(1, 8, 8), data)?,
                label: v[64] as usize,
            })
        })
        .collect()
}

/// `(train, test)` of the committed file.
pub fn split() -> Result<(Vec<Digit>, Vec<Digit>)> {
    let all = load(Path::new(DIGITS_CSV_GZ))?;
    let (test, train): (Vec<_>, Vec<_>) =
        all.into_iter().enumerate().partition(|(i, _)| is_test(*i));
    Ok((
        train.into_iter().map(|(_, d)| d).collect(),
        test.into_iter().map(|(_, d)| d).collect(),
    ))
}
