//! CKKS parameters: a builder, the security check and the presets.
//!
//! Security follows the HomomorphicEncryption.org standard (Albrecht et al. 2018, Table 1,
//! 128-bit classical, ternary secret): the bound is on `log2(QP)`, the full modulus
//! **including** the special primes used by key switching.

use crate::error::{CkksError, Result};
use crate::ring::primes::{generate_primes, MAX_PRIME_BITS};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tfhe_ntt::prime::is_prime64;

/// 128-bit classical bound on `log2(QP)` for a ternary secret, by `log2 N`.
pub fn security_bound(log_n: u32) -> Option<u32> {
    match log_n {
        10 => Some(27),
        11 => Some(54),
        12 => Some(109),
        13 => Some(218),
        14 => Some(438),
        15 => Some(881),
        16 => Some(1747),
        _ => None,
    }
}

/// Distribution of the secret key's coefficients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretDistribution {
    /// Uniform ternary: each coefficient -1, 0 or 1 with probability 1/3 (the standard's case).
    Ternary,
    /// Ternary with exactly `h` nonzero coefficients (sparse). The security table does not
    /// cover it: sets that use it must say `insecure` unless an estimate is documented.
    HammingWeight(usize),
}

/// A validated CKKS parameter set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    name: String,
    log_n: u32,
    q: Vec<u64>,
    p: Vec<u64>,
    dnum: usize,
    log_scale: f64,
    secret: SecretDistribution,
}

/// Builder for [`Parameters`]: primes given explicitly or by bit sizes.
#[derive(Clone, Debug)]
pub struct ParametersBuilder {
    name: String,
    log_n: u32,
    log_q: Vec<u32>,
    log_p: Vec<u32>,
    q: Option<Vec<u64>>,
    p: Option<Vec<u64>>,
    dnum: Option<usize>,
    log_scale: Option<f64>,
    secret: SecretDistribution,
}

impl ParametersBuilder {
    /// Starts a set named `name` (the name must contain `insecure` to bypass the security check).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            log_n: 0,
            log_q: Vec::new(),
            log_p: Vec::new(),
            q: None,
            p: None,
            dnum: None,
            log_scale: None,
            secret: SecretDistribution::Ternary,
        }
    }
    /// Ring degree `N = 2^log_n`.
    pub fn log_n(mut self, log_n: u32) -> Self {
        self.log_n = log_n;
        self
    }
    /// Bit sizes of the ciphertext primes `q_0, q_1, ..., q_L` (generated).
    pub fn log_q(mut self, bits: &[u32]) -> Self {
        self.log_q = bits.to_vec();
        self
    }
    /// Bit sizes of the special primes `p_0..p_{K-1}` (generated).
    pub fn log_p(mut self, bits: &[u32]) -> Self {
        self.log_p = bits.to_vec();
        self
    }
    /// Explicit ciphertext primes (overrides `log_q`).
    pub fn q_primes(mut self, q: &[u64]) -> Self {
        self.q = Some(q.to_vec());
        self
    }
    /// Explicit special primes (overrides `log_p`).
    pub fn p_primes(mut self, p: &[u64]) -> Self {
        self.p = Some(p.to_vec());
        self
    }
    /// Number of gadget digits of hybrid key switching (default: `ceil((L+1)/K)`).
    pub fn dnum(mut self, dnum: usize) -> Self {
        self.dnum = Some(dnum);
        self
    }
    /// Default scale `2^log_scale` (default: the size of `q_1`, or of `q_0` at level 0).
    pub fn log_scale(mut self, log_scale: f64) -> Self {
        self.log_scale = Some(log_scale);
        self
    }
    /// Secret key distribution (default: uniform ternary).
    pub fn secret(mut self, secret: SecretDistribution) -> Self {
        self.secret = secret;
        self
    }

    /// Generates missing primes, validates everything and checks security.
    pub fn build(self) -> Result<Parameters> {
        if !(4..=17).contains(&self.log_n) {
            return Err(CkksError::InvalidParameters(format!(
                "log N = {} outside [4, 17]",
                self.log_n
            )));
        }
        let n = 1usize << self.log_n;
        let q = match self.q {
            Some(q) => q,
            None => gen_chain(&self.log_q, n, &[])?,
        };
        let p = match self.p {
            Some(p) => p,
            None => gen_chain(&self.log_p, n, &q)?,
        };
        let log_scale = match self.log_scale {
            Some(s) => s,
            None => (*q.get(1).or(q.first()).unwrap_or(&2) as f64)
                .log2()
                .round(),
        };
        let dnum = self
            .dnum
            .unwrap_or_else(|| q.len().div_ceil(p.len().max(1)));
        let params = Parameters {
            name: self.name,
            log_n: self.log_n,
            q,
            p,
            dnum,
            log_scale,
            secret: self.secret,
        };
        params.validate()?;
        Ok(params)
    }
}

/// Generates a chain of primes from bit sizes: equal sizes are generated together so that
/// their product stays close to the nominal value.
fn gen_chain(bits: &[u32], n: usize, exclude: &[u64]) -> Result<Vec<u64>> {
    let mut out: Vec<u64> = Vec::with_capacity(bits.len());
    let mut sizes: Vec<u32> = bits.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let mut by_size = std::collections::HashMap::new();
    for s in sizes {
        let count = bits.iter().filter(|&&b| b == s).count();
        let mut taken: Vec<u64> = exclude.to_vec();
        taken.extend(by_size.values().flat_map(|v: &Vec<u64>| v.iter().copied()));
        by_size.insert(s, generate_primes(s, n, count, &taken)?);
    }
    let mut cursor = std::collections::HashMap::new();
    for b in bits {
        let i = cursor.entry(*b).or_insert(0usize);
        out.push(by_size[b][*i]);
        *i += 1;
    }
    Ok(out)
}

impl Parameters {
    /// Name of the set.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `log2 N`.
    pub fn log_n(&self) -> u32 {
        self.log_n
    }
    /// Ring degree `N`.
    pub fn n(&self) -> usize {
        1 << self.log_n
    }
    /// Maximum number of complex slots, `N/2`.
    pub fn max_slots(&self) -> usize {
        self.n() / 2
    }
    /// Ciphertext primes `q_0..q_L`.
    pub fn q(&self) -> &[u64] {
        &self.q
    }
    /// Special primes `p_0..p_{K-1}`.
    pub fn p(&self) -> &[u64] {
        &self.p
    }
    /// Highest level `L`.
    pub fn max_level(&self) -> usize {
        self.q.len() - 1
    }
    /// Number of gadget digits of hybrid key switching.
    pub fn dnum(&self) -> usize {
        self.dnum
    }
    /// Primes per digit, `alpha = ceil((L+1)/dnum)`.
    pub fn alpha(&self) -> usize {
        self.q.len().div_ceil(self.dnum)
    }
    /// Bytes in memory of a switching key that serves levels up to `level`: `⌊level/α⌋ + 1`
    /// digits of two polynomials over the `level + 1 + K` primes of `Q_level P`.
    pub fn switching_key_bytes(&self, level: usize) -> usize {
        let level = level.min(self.max_level());
        (level / self.alpha() + 1) * 2 * (level + 1 + self.p.len()) * self.n() * 8
    }
    /// Default scale `2^log_scale`.
    pub fn default_scale(&self) -> f64 {
        self.log_scale.exp2()
    }
    /// `log2` of the default scale.
    pub fn log_scale(&self) -> f64 {
        self.log_scale
    }
    /// Secret distribution.
    pub fn secret(&self) -> SecretDistribution {
        self.secret
    }
    /// `log2 Q` (ciphertext primes only).
    pub fn log_q(&self) -> f64 {
        self.q.iter().map(|&x| (x as f64).log2()).sum()
    }
    /// `log2 P` (special primes only).
    pub fn log_p(&self) -> f64 {
        self.p.iter().map(|&x| (x as f64).log2()).sum()
    }
    /// `log2(QP)`: what the security table bounds.
    pub fn log_qp(&self) -> f64 {
        self.log_q() + self.log_p()
    }
    /// Whether the set is marked as insecure (test-only).
    pub fn is_insecure(&self) -> bool {
        self.name.to_ascii_lowercase().contains("insecure")
    }

    /// SHA-256 of the canonical encoding: binds serialized objects to this set.
    pub fn fingerprint(&self) -> [u8; 32] {
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        Sha256::digest(bytes).into()
    }

    /// Checks structure and security; called by the builder and after deserialization.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CkksError::InvalidParameters(m));
        let n = self.n() as u64;
        if !(4..=17).contains(&self.log_n) {
            return bad(format!("log N = {} outside [4, 17]", self.log_n));
        }
        if self.q.is_empty() || self.p.is_empty() {
            return bad("at least one ciphertext prime and one special prime are needed".into());
        }
        let all: Vec<u64> = self.q.iter().chain(&self.p).copied().collect();
        for (i, &x) in all.iter().enumerate() {
            if x >= 1 << MAX_PRIME_BITS || !is_prime64(x) || x % (2 * n) != 1 {
                return bad(format!(
                    "{x} is not a prime below 2^{MAX_PRIME_BITS} congruent to 1 mod 2N"
                ));
            }
            if all[..i].contains(&x) {
                return bad(format!("prime {x} appears twice"));
            }
        }
        if self.dnum == 0 || self.dnum > self.q.len() {
            return bad(format!(
                "dnum = {} outside [1, L+1 = {}]",
                self.dnum,
                self.q.len()
            ));
        }
        if self.q.len().div_ceil(self.alpha()) != self.dnum {
            return bad(format!(
                "dnum = {} does not split {} primes into equal digits",
                self.dnum,
                self.q.len()
            ));
        }
        if !(self.log_scale.is_finite() && self.log_scale >= 1.0 && self.log_scale < 120.0) {
            return bad(format!("log scale {} outside [1, 120)", self.log_scale));
        }
        if let SecretDistribution::HammingWeight(h) = self.secret {
            if h == 0 || h > self.n() {
                return bad(format!("Hamming weight {h} outside [1, N]"));
            }
        }
        self.check_security()
    }

    fn check_security(&self) -> Result<()> {
        if self.is_insecure() {
            return Ok(());
        }
        if let SecretDistribution::HammingWeight(h) = self.secret {
            return Err(CkksError::InvalidParameters(format!(
                "set '{}' uses a sparse secret (h = {h}) that the standard's table does not cover; \
                 use a dense ternary secret or name the set 'insecure'",
                self.name
            )));
        }
        let Some(bound) = security_bound(self.log_n) else {
            return Err(CkksError::InvalidParameters(format!(
                "no 128-bit security bound for N = 2^{}; name the set 'insecure'",
                self.log_n
            )));
        };
        let log_qp = self.log_qp();
        if log_qp > bound as f64 {
            return Err(CkksError::Insecure {
                name: self.name.clone(),
                log_qp,
                bound,
                log_n: self.log_n,
            });
        }
        Ok(())
    }
}

/// The named presets, all 128-bit secure by [`security_bound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    /// N = 2^13, depth 3, scale 2^40.
    N13,
    /// N = 2^14, depth 7, scale 2^40.
    N14,
    /// N = 2^15, depth 14, scale 2^45.
    N15,
    /// N = 2^16, depth 24, scale 2^50.
    N16,
    /// N = 2^16 with 10 ciphertext primes (depth 9), scale 2^50: the benchmark set.
    N16L9,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 5] = [
        Preset::N13,
        Preset::N14,
        Preset::N15,
        Preset::N16,
        Preset::N16L9,
    ];

    fn builder(self) -> ParametersBuilder {
        let (name, log_n, q, p, dnum, scale): (&str, u32, Vec<u32>, Vec<u32>, usize, f64) =
            match self {
                Preset::N13 => ("PN13-D3", 13, chain(48, 40, 3), vec![49], 4, 40.0),
                Preset::N14 => ("PN14-D7", 14, chain(50, 40, 7), vec![53, 53], 4, 40.0),
                Preset::N15 => ("PN15-D14", 15, chain(55, 45, 14), vec![59; 3], 5, 45.0),
                Preset::N16 => ("PN16-D24", 16, chain(60, 50, 24), vec![61; 5], 5, 50.0),
                Preset::N16L9 => ("PN16-D9", 16, chain(60, 50, 9), vec![61; 5], 2, 50.0),
            };
        ParametersBuilder::new(name)
            .log_n(log_n)
            .log_q(&q)
            .log_p(&p)
            .dnum(dnum)
            .log_scale(scale)
    }

    /// Builds the preset.
    pub fn build(self) -> Result<Parameters> {
        self.builder().build()
    }
}

/// `[first, rest x depth]`.
fn chain(first: u32, rest: u32, depth: usize) -> Vec<u32> {
    std::iter::once(first)
        .chain(std::iter::repeat_n(rest, depth))
        .collect()
}

/// Small test-only sets (N = 2^10..2^12), named `insecure`.
pub fn insecure_test_params(log_n: u32, depth: usize) -> Result<Parameters> {
    ParametersBuilder::new(format!("TEST-N{log_n}-D{depth}-insecure"))
        .log_n(log_n)
        .log_q(&chain(55, 40, depth))
        .log_p(&[60, 60])
        .log_scale(40.0)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_secure_and_builds() {
        for preset in Preset::ALL {
            let p = preset.build().unwrap();
            let bound = security_bound(p.log_n()).unwrap() as f64;
            assert!(
                p.log_qp() <= bound,
                "{} {} > {}",
                p.name(),
                p.log_qp(),
                bound
            );
            assert!(!p.is_insecure());
        }
    }

    #[test]
    fn oversized_chain_is_rejected_with_the_bound() {
        let err = ParametersBuilder::new("too-big")
            .log_n(13)
            .log_q(&[60, 50, 50, 50])
            .log_p(&[60])
            .build()
            .unwrap_err();
        match err {
            CkksError::Insecure { bound, log_n, .. } => {
                assert_eq!((bound, log_n), (218, 13));
                assert!(err.to_string().contains("218"));
            }
            e => panic!("unexpected {e}"),
        }
        // The same chain is accepted when the name says so.
        ParametersBuilder::new("too-big-insecure")
            .log_n(13)
            .log_q(&[60, 50, 50, 50])
            .log_p(&[60])
            .build()
            .unwrap();
    }

    #[test]
    fn sparse_secret_needs_insecure_name() {
        let b = ParametersBuilder::new("sparse")
            .log_n(13)
            .log_q(&[40, 30])
            .log_p(&[40])
            .secret(SecretDistribution::HammingWeight(64));
        assert!(b.clone().build().is_err());
    }

    #[test]
    fn malformed_explicit_primes_are_rejected() {
        let good = insecure_test_params(10, 2).unwrap();
        let mut q = good.q().to_vec();
        q[1] += 2;
        assert!(ParametersBuilder::new("x-insecure")
            .log_n(10)
            .q_primes(&q)
            .p_primes(good.p())
            .build()
            .is_err());
        q[1] = q[0];
        assert!(ParametersBuilder::new("x-insecure")
            .log_n(10)
            .q_primes(&q)
            .p_primes(good.p())
            .build()
            .is_err());
    }

    #[test]
    fn fingerprint_distinguishes_sets() {
        let a = insecure_test_params(10, 2).unwrap();
        let b = insecure_test_params(10, 3).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }
}
