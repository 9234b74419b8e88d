//! RNS polynomials: one residue polynomial ("limb") per prime, stored contiguously.

use super::pool;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

/// Which primes a polynomial lives over: the first `q` ciphertext primes `q_0..q_{q-1}` followed
/// by the first `p` special primes `p_0..p_{p-1}` (`p` is either 0 or the full count `K`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Basis {
    /// Number of ciphertext primes (level + 1).
    pub q: usize,
    /// Number of special primes.
    pub p: usize,
}

impl Basis {
    /// Basis `q_0..q_level`.
    pub fn q(level: usize) -> Self {
        Self { q: level + 1, p: 0 }
    }
    /// Basis `q_0..q_level, p_0..p_{k-1}`.
    pub fn qp(level: usize, k: usize) -> Self {
        Self { q: level + 1, p: k }
    }
    /// Total number of limbs.
    pub fn len(&self) -> usize {
        self.q + self.p
    }
    /// Whether the basis has no prime at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Representation of a polynomial: coefficients, or evaluations at the `2N`-th primitive roots
/// (the NTT domain, in `tfhe-ntt`'s bit-reversed order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Form {
    /// Coefficient representation.
    Coeff,
    /// Evaluation (NTT) representation.
    Eval,
}

/// A polynomial of `Z[X]/(X^N + 1)` in RNS form.
///
/// `data[i * n .. (i + 1) * n]` is the residue modulo the `i`-th prime of `basis`.
#[derive(PartialEq, Eq, Zeroize)]
pub struct RnsPoly {
    #[zeroize(skip)]
    pub(crate) n: usize,
    #[zeroize(skip)]
    pub(crate) basis: Basis,
    #[zeroize(skip)]
    pub(crate) form: Form,
    pub(crate) data: Vec<u64>,
}

impl std::fmt::Debug for RnsPoly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RnsPoly {{ n: {}, basis: {:?}, form: {:?}, data: [{} words] }}",
            self.n,
            self.basis,
            self.form,
            self.data.len()
        )
    }
}

/// Large buffers go back to the [`pool`] for reuse.
impl Drop for RnsPoly {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.data));
    }
}

impl Clone for RnsPoly {
    fn clone(&self) -> Self {
        Self {
            n: self.n,
            basis: self.basis,
            form: self.form,
            data: pool::take_copy(&self.data),
        }
    }
}

impl RnsPoly {
    /// The zero polynomial.
    pub fn zero(n: usize, basis: Basis, form: Form) -> Self {
        Self {
            n,
            basis,
            form,
            data: pool::take_zeroed(n * basis.len()),
        }
    }

    /// A polynomial with unspecified contents (a reused buffer), for outputs written in full.
    pub(crate) fn scratch(n: usize, basis: Basis, form: Form) -> Self {
        Self {
            n,
            basis,
            form,
            data: pool::take(n * basis.len()),
        }
    }

    /// Ring degree `N`.
    pub fn n(&self) -> usize {
        self.n
    }
    /// The primes this polynomial lives over.
    pub fn basis(&self) -> Basis {
        self.basis
    }
    /// Coefficient or evaluation form.
    pub fn form(&self) -> Form {
        self.form
    }
    /// Residues modulo the `i`-th prime of the basis.
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }
    /// Mutable residues modulo the `i`-th prime of the basis.
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }
    /// All residues, limb after limb.
    pub fn data(&self) -> &[u64] {
        &self.data
    }
    /// Mutable residues, limb after limb (callers keep every value below its modulus).
    pub fn data_mut(&mut self) -> &mut [u64] {
        &mut self.data
    }

    /// Keeps only the first `q` ciphertext limbs and drops the special limbs (no rounding:
    /// the result is the same integer polynomial reduced modulo a smaller modulus).
    pub fn truncate_q(&mut self, q: usize) {
        debug_assert!(q <= self.basis.q);
        let n = self.n;
        let p_part: Vec<u64> = self.data[self.basis.q * n..].to_vec();
        self.data.truncate(q * n);
        self.data.extend_from_slice(&p_part);
        self.basis.q = q;
    }

    /// Drops the special limbs.
    pub fn drop_p(&mut self) {
        self.data.truncate(self.basis.q * self.n);
        self.basis.p = 0;
    }

    /// Copy over the first `q` ciphertext limbs, with the special limbs if `with_p`.
    pub fn sub_basis(&self, q: usize, with_p: bool) -> Self {
        let mut data = self.data[..q * self.n].to_vec();
        let p = if with_p { self.basis.p } else { 0 };
        data.extend_from_slice(&self.data[self.basis.q * self.n..(self.basis.q + p) * self.n]);
        Self {
            n: self.n,
            basis: Basis { q, p },
            form: self.form,
            data,
        }
    }

    /// Copies of the first `q` ciphertext limbs only.
    pub fn restricted_to_q(&self, q: usize) -> Self {
        Self {
            n: self.n,
            basis: Basis { q, p: 0 },
            form: self.form,
            data: self.data[..q * self.n].to_vec(),
        }
    }
}
