//! NTT-friendly prime generation.
//!
//! A negacyclic NTT of size `N` modulo `p` needs a primitive `2N`-th root of unity, that is
//! `p ≡ 1 (mod 2N)`. Primes are searched in the arithmetic progression `2^bits + 1 + k 2N`,
//! alternately just above and just below `2^bits` (as Lattigo does), so that a chain of primes of
//! the same nominal size has a product very close to `2^(bits * count)`; this keeps the scale of
//! rescaled ciphertexts close to the nominal scale. All primes stay below 2^62, the bound under
//! which `tfhe-ntt`'s fastest kernels apply.

use crate::error::{CkksError, Result};
use tfhe_ntt::prime::is_prime64;

/// Largest admissible prime size in bits: primes are `< 2^62`.
pub const MAX_PRIME_BITS: u32 = 62;

/// `count` distinct primes `p ≡ 1 mod 2n` of about `bits` bits, none of them in `exclude`.
///
/// Candidates alternate above and below `2^bits`; for `bits = 62` only candidates below are
/// admissible. Fails with [`CkksError::InvalidParameters`] if the progression runs out.
pub fn generate_primes(bits: u32, n: usize, count: usize, exclude: &[u64]) -> Result<Vec<u64>> {
    let two_n = 2 * n as u64;
    if !(two_n.ilog2() + 2..=MAX_PRIME_BITS).contains(&bits) {
        return Err(CkksError::InvalidParameters(format!(
            "prime size {bits} bits outside [{}, {MAX_PRIME_BITS}] for N = {n}",
            two_n.ilog2() + 2
        )));
    }
    let center = 1u64 << bits;
    let limit = 1u64 << MAX_PRIME_BITS;
    let mut up = center + 1; // ≡ 1 mod 2n since 2n | 2^bits
    let mut down = center + 1 - two_n;
    let mut out = Vec::with_capacity(count);
    let mut take_up = bits < MAX_PRIME_BITS;
    let admissible =
        |p: u64, out: &[u64]| is_prime64(p) && !exclude.contains(&p) && !out.contains(&p);
    while out.len() < count {
        let up_ok = up < limit && up < center + (center >> 1);
        let down_ok = down > center >> 1;
        if !up_ok && !down_ok {
            return Err(CkksError::InvalidParameters(format!(
                "not enough {bits}-bit primes congruent to 1 mod {two_n}"
            )));
        }
        if (take_up && up_ok) || !down_ok {
            if admissible(up, &out) {
                out.push(up);
                take_up = false;
            }
            up += two_n;
        } else {
            if admissible(down, &out) {
                out.push(down);
                take_up = up_ok;
            }
            down -= two_n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_ntt_friendly_distinct_and_close_to_nominal() {
        let n = 1 << 12;
        for bits in [30u32, 40, 50, 60, 62] {
            let ps = generate_primes(bits, n, 8, &[]).unwrap();
            for (i, &p) in ps.iter().enumerate() {
                assert!(is_prime64(p));
                assert_eq!(p % (2 * n as u64), 1);
                assert!(p < 1 << 62);
                assert!(((p as f64).log2() - bits as f64).abs() < 0.01);
                assert!(!ps[..i].contains(&p));
            }
        }
    }

    #[test]
    fn exclusion_is_respected() {
        let a = generate_primes(40, 1 << 10, 3, &[]).unwrap();
        let b = generate_primes(40, 1 << 10, 3, &a).unwrap();
        assert!(b.iter().all(|p| !a.contains(p)));
    }

    #[test]
    fn out_of_range_sizes_are_rejected() {
        assert!(generate_primes(63, 1 << 10, 1, &[]).is_err());
        assert!(generate_primes(5, 1 << 10, 1, &[]).is_err());
    }
}
