//! Precision statistics: `-log2 |error|` over slots, as Lattigo reports them.

use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Summary of `-log2 |error|` over a set of slots (larger is better).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitStats {
    /// Worst slot.
    pub min: f64,
    /// Best slot.
    pub max: f64,
    /// Mean over slots of `-log2|err|`.
    pub mean: f64,
    /// Median over slots.
    pub median: f64,
}

/// Precision of a decrypted vector against the expected one, for real parts, imaginary parts
/// and the complex modulus of the error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrecisionStats {
    /// Bits of the real parts.
    pub real: BitStats,
    /// Bits of the imaginary parts.
    pub imag: BitStats,
    /// Bits of `|got - expected|`.
    pub complex: BitStats,
    /// Number of slots compared.
    pub slots: usize,
}

/// Errors below this are reported as this many bits (an exact slot would be infinite).
const MAX_BITS: f64 = 64.0;

fn bits(err: f64) -> f64 {
    if err <= 0.0 {
        MAX_BITS
    } else {
        (-err.log2()).min(MAX_BITS)
    }
}

impl BitStats {
    /// Statistics of `-log2 |e|` for the given absolute errors (empty input gives zeros).
    pub fn from_errors(errors: impl IntoIterator<Item = f64>) -> Self {
        let mut b: Vec<f64> = errors.into_iter().map(|e| bits(e.abs())).collect();
        if b.is_empty() {
            return Self {
                min: 0.0,
                max: 0.0,
                mean: 0.0,
                median: 0.0,
            };
        }
        b.sort_by(|x, y| x.total_cmp(y));
        let len = b.len();
        let median = if len % 2 == 1 {
            b[len / 2]
        } else {
            (b[len / 2 - 1] + b[len / 2]) / 2.0
        };
        Self {
            min: b[0],
            max: b[len - 1],
            mean: b.iter().sum::<f64>() / len as f64,
            median,
        }
    }
}

impl PrecisionStats {
    /// Compares `got` against `expected` slot by slot (over the shorter of the two).
    pub fn compare(expected: &[Complex64], got: &[Complex64]) -> Self {
        let pairs: Vec<(Complex64, Complex64)> =
            expected.iter().copied().zip(got.iter().copied()).collect();
        Self {
            real: BitStats::from_errors(pairs.iter().map(|(e, g)| g.re - e.re)),
            imag: BitStats::from_errors(pairs.iter().map(|(e, g)| g.im - e.im)),
            complex: BitStats::from_errors(pairs.iter().map(|(e, g)| (g - e).norm())),
            slots: pairs.len(),
        }
    }

    /// Compares real vectors.
    pub fn compare_real(expected: &[f64], got: &[Complex64]) -> Self {
        let e: Vec<Complex64> = expected.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        Self::compare(&e, got)
    }
}

impl fmt::Display for BitStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min {:6.2}  mean {:6.2}  median {:6.2}  max {:6.2}",
            self.min, self.mean, self.median, self.max
        )
    }
}

impl fmt::Display for PrecisionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "precision in bits over {} slots (-log2 |error|):",
            self.slots
        )?;
        writeln!(f, "  real     {}", self.real)?;
        writeln!(f, "  imag     {}", self.imag)?;
        write!(f, "  complex  {}", self.complex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        let s = BitStats::from_errors([0.5, 0.25, 0.125, 2f64.powi(-10)]);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 10.0);
        assert_eq!(s.mean, (1.0 + 2.0 + 3.0 + 10.0) / 4.0);
        assert_eq!(s.median, 2.5);
        let exact = BitStats::from_errors([0.0]);
        assert_eq!(exact.min, MAX_BITS);
    }
}
