//! The RLWE layer: keys, encryption and decryption of RLWE samples, hybrid key switching.
//!
//! Everything here is scheme-agnostic: the CKKS layer adds encoding, scales and levels.

pub mod keys;
pub mod keyswitch;

pub use keys::{GaloisKey, KeyGenerator, PublicKey, RelinearizationKey, SecretKey, SwitchingKey};
pub use keyswitch::{Decomposed, KeySwitcher};

use crate::ring::sampler::{fresh_seed, gaussian, ternary, uniform_from_seed};
use crate::ring::{Basis, Form, Ring, RnsPoly};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Samples the randomness of encryptions (ChaCha20 seeded by the operating system).
pub struct RlweEncryptor {
    rng: ChaCha20Rng,
}

impl Default for RlweEncryptor {
    fn default() -> Self {
        Self::new()
    }
}

impl RlweEncryptor {
    /// An encryptor seeded from OS entropy.
    pub fn new() -> Self {
        Self {
            rng: ChaCha20Rng::from_entropy(),
        }
    }

    /// A deterministic encryptor (tests only).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// A public-key encryption of zero at `level`:
    /// `ModDown(u · pk + (e0, e1))` computed over `Q_ℓ P` and divided by `P`, so that the
    /// fresh noise is essentially the rounding error of the division (as in Lattigo).
    pub fn encrypt_zero_pk(
        &mut self,
        ks: &KeySwitcher,
        pk: &PublicKey,
        level: usize,
    ) -> [RnsPoly; 2] {
        let ring = ks.ring();
        let n = ring.n();
        let basis = Basis::qp(level, ks.k());
        let u = ring.from_signed_eval(&ternary(n, &mut self.rng), basis);
        let mut out = [
            pk.b.sub_basis(level + 1, true),
            pk.a.sub_basis(level + 1, true),
        ];
        for c in out.iter_mut() {
            ring.mul_assign(c, &u);
            let e = ring.from_signed_eval(&gaussian(n, &mut self.rng), basis);
            ring.add_assign(c, &e);
        }
        let [c0, c1] = out;
        let (c0, c1) = rayon::join(|| ks.mod_down(&c0), || ks.mod_down(&c1));
        [c0, c1]
    }

    /// A secret-key encryption of zero at `level`: `(-a s + e, a)`, `a` expanded from the
    /// returned seed.
    pub fn encrypt_zero_sk(
        &mut self,
        ring: &Ring,
        sk: &SecretKey,
        level: usize,
    ) -> ([RnsPoly; 2], [u8; 32]) {
        let basis = Basis::q(level);
        let seed = fresh_seed(&mut self.rng);
        let a = uniform_from_seed(ring, basis, &seed);
        let mut b = ring.from_signed_eval(&gaussian(ring.n(), &mut self.rng), basis);
        let mut as_ = a.clone();
        ring.mul_assign(&mut as_, &sk.at_level(level));
        ring.sub_assign(&mut b, &as_);
        ([b, a], seed)
    }

    /// Access to the generator (noise flooding).
    pub(crate) fn rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.rng
    }
}

/// `c_0 + c_1 s + c_2 s^2 + ...` at the ciphertext's level (evaluation form).
pub fn decrypt(ring: &Ring, sk: &SecretKey, c: &[RnsPoly]) -> RnsPoly {
    let level = c[0].basis.q - 1;
    let s = sk.at_level(level);
    // Horner: ((c_d s + c_{d-1}) s + ...) s + c_0
    let mut acc = c[c.len() - 1].clone();
    for ci in c[..c.len() - 1].iter().rev() {
        ring.mul_assign(&mut acc, &s);
        ring.add_assign(&mut acc, ci);
    }
    debug_assert_eq!(acc.form, Form::Eval);
    acc
}
