//! Samplers over ChaCha20 (`rand_chacha`).
//!
//! * Uniform polynomials are expanded from a 32-byte seed, one ChaCha20 stream per prime (the
//!   stream number is the prime's global index in the ring: `q_i -> i`, `p_k -> L + 1 + k`), so
//!   a limb's values do not depend on which other limbs are present. This is what lets public
//!   keys, switching keys and symmetric ciphertexts be serialized as a seed instead of their
//!   uniform half.
//! * Ternary secrets are dense (each coefficient -1, 0, 1 with probability 1/3) or have a fixed
//!   Hamming weight `h` (random positions and signs).
//! * Errors follow a rounded Gaussian of standard deviation 3.2 truncated at 6 sigma (the
//!   HomomorphicEncryption.org standard's error distribution).

use super::{for_each_limb, Basis, Form, Ring, RnsPoly};
use rand::seq::index::sample;
use rand::{CryptoRng, Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};

/// Standard deviation of the error distribution.
pub const ERROR_STD: f64 = 3.2;
/// Truncation bound of the error distribution (6 sigma, rounded).
pub const ERROR_BOUND: i64 = 19;

/// Global index of limb `i` of `basis` in a ring with `l_plus_1` ciphertext primes.
fn global_index(basis: Basis, i: usize, l_plus_1: usize) -> u64 {
    if i < basis.q {
        i as u64
    } else {
        (l_plus_1 + i - basis.q) as u64
    }
}

/// The uniform polynomial over `basis` expanded from `seed` (taken to be in evaluation form).
pub fn uniform_from_seed(ring: &Ring, basis: Basis, seed: &[u8; 32]) -> RnsPoly {
    let mut out = ring.scratch(basis, Form::Eval);
    for_each_limb(&mut out.data, ring.n(), |i, limb| {
        uniform_limb(ring, basis, i, seed, limb)
    });
    out
}

/// Limb `i` of [`uniform_from_seed`]`(ring, basis, seed)` alone (its own ChaCha20 stream), for
/// switching keys whose uniform halves are regenerated on use.
pub(crate) fn uniform_limb(ring: &Ring, basis: Basis, i: usize, seed: &[u8; 32], limb: &mut [u64]) {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    rng.set_stream(global_index(basis, i, ring.q().len()));
    let p = ring.modulus(basis, i).value();
    limb.iter_mut().for_each(|x| *x = rng.gen_range(0..p));
}

/// A fresh 32-byte seed from a cryptographic RNG.
pub fn fresh_seed<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; 32] {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    seed
}

/// Dense ternary coefficients: -1, 0, 1 with probability 1/3 each.
pub fn ternary<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    (0..n).map(|_| rng.gen_range(-1i64..=1)).collect()
}

/// Ternary coefficients with exactly `h` nonzero entries at random positions, random signs.
pub fn ternary_hamming<R: RngCore + CryptoRng>(n: usize, h: usize, rng: &mut R) -> Vec<i64> {
    let mut out = vec![0i64; n];
    for pos in sample(rng, n, h.min(n)) {
        out[pos] = if rng.gen::<bool>() { 1 } else { -1 };
    }
    out
}

/// Rounded Gaussian coefficients (sigma [`ERROR_STD`], truncated at [`ERROR_BOUND`]).
pub fn gaussian<R: RngCore + CryptoRng>(n: usize, rng: &mut R) -> Vec<i64> {
    gaussian_with(n, ERROR_STD, ERROR_BOUND as f64, rng)
}

/// Rounded Gaussian coefficients of standard deviation `sigma`, resampled beyond `bound`.
pub fn gaussian_with<R: RngCore + CryptoRng>(
    n: usize,
    sigma: f64,
    bound: f64,
    rng: &mut R,
) -> Vec<i64> {
    let normal = Normal::new(0.0, sigma).expect("sigma is finite and positive");
    (0..n)
        .map(|_| loop {
            let x: f64 = normal.sample(rng);
            if x.abs() <= bound {
                break x.round() as i64;
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::generate_primes;

    #[test]
    fn seeded_expansion_is_deterministic_and_limb_independent() {
        let n = 64;
        let q = generate_primes(40, n, 3, &[]).unwrap();
        let p = generate_primes(45, n, 1, &q).unwrap();
        let ring = Ring::new(n, &q, &p).unwrap();
        let seed = [7u8; 32];
        let full = uniform_from_seed(&ring, Basis::qp(2, 1), &seed);
        let again = uniform_from_seed(&ring, Basis::qp(2, 1), &seed);
        assert_eq!(full, again);
        let low = uniform_from_seed(&ring, Basis::qp(0, 1), &seed);
        assert_eq!(low.limb(0), full.limb(0));
        assert_eq!(low.limb(1), full.limb(3));
        let other = uniform_from_seed(&ring, Basis::q(2), &[8u8; 32]);
        assert_ne!(other.limb(0), full.limb(0));
    }

    #[test]
    fn distributions_have_the_right_support_and_moments() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let n = 1 << 14;
        let t = ternary(n, &mut rng);
        assert!(t.iter().all(|x| (-1..=1).contains(x)));
        let nz = t.iter().filter(|x| **x != 0).count() as f64 / n as f64;
        assert!((nz - 2.0 / 3.0).abs() < 0.02);
        let h = ternary_hamming(n, 192, &mut rng);
        assert_eq!(h.iter().filter(|x| **x != 0).count(), 192);
        let g = gaussian(n, &mut rng);
        assert!(g.iter().all(|x| x.abs() <= ERROR_BOUND));
        let var = g.iter().map(|x| (*x * *x) as f64).sum::<f64>() / n as f64;
        assert!((var.sqrt() - ERROR_STD).abs() < 0.15);
    }
}
