//! RLWE keys: secret, public, switching (relinearization and Galois) keys, and their generation.
//!
//! Every uniform polynomial `a` of public material is expanded from a 32-byte ChaCha20 seed
//! kept beside it, so that serialization can store the seed instead of `a` (half the size).

use super::keyswitch::KeySwitcher;
use crate::ring::sampler::{fresh_seed, gaussian, ternary, ternary_hamming, uniform_from_seed};
use crate::ring::{Basis, Ring, RnsPoly};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The secret key `s`: small ternary coefficients, and `s` in evaluation form over `Q P`.
/// Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    pub(crate) coeffs: Vec<i64>,
    pub(crate) eval: RnsPoly,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// Builds a secret key from signed coefficients.
    pub(crate) fn from_coeffs(ring: &Ring, coeffs: Vec<i64>) -> Self {
        let basis = Basis::qp(ring.max_level(), ring.p().len());
        let mut eval = ring.from_signed(&coeffs, basis);
        ring.ntt(&mut eval);
        Self { coeffs, eval }
    }

    /// The Hamming weight (number of nonzero coefficients).
    pub fn hamming_weight(&self) -> usize {
        self.coeffs.iter().filter(|c| **c != 0).count()
    }

    /// `s` restricted to `Q_ℓ` (evaluation form).
    pub(crate) fn at_level(&self, level: usize) -> RnsPoly {
        self.eval.restricted_to_q(level + 1)
    }
}

/// The public key `(b, a) = (-a s + e, a)` over `Q P`, `a` expanded from `seed`.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) seed: [u8; 32],
}

/// A hybrid switching key from some `s'` to `s`: one `(b_j, a_j)` pair over `Q P` per digit;
/// `a_j` is expanded from a seed derived from `seed` and `j`.
#[derive(Clone, Debug, PartialEq)]
pub struct SwitchingKey {
    pub(crate) digits: Vec<[RnsPoly; 2]>,
    pub(crate) seed: [u8; 32],
}

impl SwitchingKey {
    /// Number of digits.
    pub fn dnum(&self) -> usize {
        self.digits.len()
    }

    /// Drops the uniform halves `a_j` from memory: they are expanded again from the key's
    /// seed, limb by limb, inside every key switch that uses the key (the same words, so
    /// results do not change). Halves the key's memory; the cost is one ChaCha20 word per
    /// coefficient of every `a_j` limb at each use (see `docs/results/ckks-core.md`).
    pub fn drop_uniform_halves(&mut self) {
        for [_, a] in &mut self.digits {
            a.data = Vec::new();
        }
    }

    /// Whether the uniform halves are held in memory (see
    /// [`drop_uniform_halves`](Self::drop_uniform_halves)).
    pub fn has_uniform_halves(&self) -> bool {
        self.digits
            .iter()
            .all(|[b, a]| a.data.len() == b.data.len())
    }

    /// Bytes it occupies in memory (evaluation form, both halves of every digit unless the
    /// uniform halves were dropped).
    pub fn memory_bytes(&self) -> usize {
        self.digits
            .iter()
            .map(|[b, a]| 8 * (b.data.len() + a.data.len()))
            .sum()
    }

    /// The highest ciphertext level it can switch: the key lives over `q_0..q_level, P`.
    pub fn level(&self) -> usize {
        self.digits
            .first()
            .map_or(0, |d| d[0].basis.q.saturating_sub(1))
    }
}

/// Relinearization key: switches `s^2` to `s`.
#[derive(Clone, Debug, PartialEq)]
pub struct RelinearizationKey(pub(crate) SwitchingKey);

/// Galois key for `X -> X^g`: switches `φ_g(s)` to `s`.
#[derive(Clone, Debug, PartialEq)]
pub struct GaloisKey {
    pub(crate) galois_element: u64,
    pub(crate) key: SwitchingKey,
}

impl GaloisKey {
    /// The Galois element `g`.
    pub fn galois_element(&self) -> u64 {
        self.galois_element
    }

    /// The highest ciphertext level it can rotate ([`KeyGenerator::galois_key_at`]).
    pub fn level(&self) -> usize {
        self.key.level()
    }

    /// Bytes it occupies in memory.
    pub fn key_memory_bytes(&self) -> usize {
        self.key.memory_bytes()
    }

    /// [`SwitchingKey::drop_uniform_halves`] for this key.
    pub fn drop_uniform_halves(&mut self) {
        self.key.drop_uniform_halves();
    }
}

/// Seed of digit `j` of a switching key.
pub(crate) fn digit_seed(seed: &[u8; 32], j: usize) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ckks-core/swk-digit");
    h.update(seed);
    h.update((j as u64).to_le_bytes());
    h.finalize().into()
}

/// Generates keys from a ChaCha20 CSPRNG seeded by the operating system.
pub struct KeyGenerator<'a> {
    ks: &'a KeySwitcher,
    rng: ChaCha20Rng,
    default_hamming_weight: Option<usize>,
}

impl<'a> KeyGenerator<'a> {
    /// A generator seeded from the OS entropy source.
    pub fn new(ks: &'a KeySwitcher) -> Self {
        Self {
            ks,
            rng: ChaCha20Rng::from_entropy(),
            default_hamming_weight: None,
        }
    }

    /// Makes `secret_key(None)` draw secrets of Hamming weight `h` (`None`: dense ternary).
    pub fn with_default_hamming_weight(mut self, h: Option<usize>) -> Self {
        self.default_hamming_weight = h;
        self
    }

    /// A deterministic generator (reproducible tests and known-answer runs only).
    pub fn from_seed(ks: &'a KeySwitcher, seed: [u8; 32]) -> Self {
        Self {
            ks,
            rng: ChaCha20Rng::from_seed(seed),
            default_hamming_weight: None,
        }
    }

    fn ring(&self) -> &Ring {
        self.ks.ring()
    }

    fn full_basis(&self) -> Basis {
        Basis::qp(self.ring().max_level(), self.ring().p().len())
    }

    /// The secret key as a polynomial over `Q P` in evaluation form (to build switching keys
    /// between two secrets of the same ring).
    pub fn secret_poly<'s>(&self, sk: &'s SecretKey) -> &'s RnsPoly {
        &sk.eval
    }

    /// A secret key: ternary of Hamming weight `h` if given, else the generator's default
    /// (the parameters' secret distribution for a generator from `Context::key_generator`).
    pub fn secret_key(&mut self, hamming_weight: Option<usize>) -> SecretKey {
        let n = self.ring().n();
        let coeffs = match hamming_weight.or(self.default_hamming_weight) {
            None => ternary(n, &mut self.rng),
            Some(h) => ternary_hamming(n, h, &mut self.rng),
        };
        SecretKey::from_coeffs(self.ring(), coeffs)
    }

    /// A fresh error polynomial over `basis` in evaluation form.
    pub(crate) fn error(&mut self, basis: Basis) -> RnsPoly {
        let coeffs = gaussian(self.ring().n(), &mut self.rng);
        self.ring().from_signed_eval(&coeffs, basis)
    }

    /// `(-a s + e, a)` over `basis` with `a` expanded from `seed`.
    fn rlwe_sample(&mut self, sk: &SecretKey, basis: Basis, seed: &[u8; 32]) -> [RnsPoly; 2] {
        let ring = self.ks.ring().clone();
        let a = uniform_from_seed(&ring, basis, seed);
        let mut b = self.error(basis);
        let mut as_ = a.clone();
        let s = if basis == sk.eval.basis {
            sk.eval.clone()
        } else {
            sk.eval.sub_basis(basis.q, basis.p > 0)
        };
        ring.mul_assign(&mut as_, &s);
        ring.sub_assign(&mut b, &as_);
        [b, a]
    }

    /// The public key.
    pub fn public_key(&mut self, sk: &SecretKey) -> PublicKey {
        let seed = fresh_seed(&mut self.rng);
        let [b, a] = self.rlwe_sample(sk, self.full_basis(), &seed);
        PublicKey { b, a, seed }
    }

    /// A switching key from `from` (the polynomial `s'` in evaluation form over `Q P`) to `sk`.
    pub fn switching_key(&mut self, from: &RnsPoly, sk: &SecretKey) -> SwitchingKey {
        let top = self.ring().max_level();
        self.switching_key_at(from, sk, top)
    }

    /// A switching key from `from` to `sk` that only works up to `level`: it lives over
    /// `q_0..q_level, P` and has only the digits that cover those primes. Its RLWE samples have
    /// the small modulus `Q_level P`, which is what keeps a switching key *to* a sparse secret
    /// secure (sparse-secret encapsulation, Bossuat et al. 2022).
    pub fn switching_key_at(
        &mut self,
        from: &RnsPoly,
        sk: &SecretKey,
        level: usize,
    ) -> SwitchingKey {
        let ring = self.ks.ring().clone();
        let level = level.min(ring.max_level());
        let basis = Basis::qp(level, ring.p().len());
        let n = ring.n();
        let seed = fresh_seed(&mut self.rng);
        let alpha = self.ks.alpha();
        let digits = (0..self.ks.dnum())
            .filter(|j| j * alpha <= level)
            .map(|j| {
                let [mut b, a] = self.rlwe_sample(sk, basis, &digit_seed(&seed, j));
                for i in j * alpha..((j + 1) * alpha).min(level + 1) {
                    let m = ring.q()[i];
                    let p_mod = ring
                        .p()
                        .iter()
                        .fold(1u64, |acc, p| m.mul(acc, m.reduce(p.value())));
                    let (w, ws) = (p_mod, m.shoup(p_mod));
                    let src = &from.data[i * n..(i + 1) * n];
                    for (x, &y) in b.data[i * n..(i + 1) * n].iter_mut().zip(src) {
                        *x = m.add(*x, m.mul_shoup(y, w, ws));
                    }
                }
                [b, a]
            })
            .collect();
        SwitchingKey { digits, seed }
    }

    /// The relinearization key (`s^2 -> s`).
    pub fn relinearization_key(&mut self, sk: &SecretKey) -> RelinearizationKey {
        let mut s2 = sk.eval.clone();
        self.ring().mul_assign(&mut s2, &sk.eval);
        let key = self.switching_key(&s2, sk);
        s2.zeroize();
        RelinearizationKey(key)
    }

    /// The Galois key of `X -> X^g` (`φ_g(s) -> s`).
    pub fn galois_key(&mut self, sk: &SecretKey, galois_element: u64) -> GaloisKey {
        let top = self.ring().max_level();
        self.galois_key_at(sk, galois_element, top)
    }

    /// The Galois key of `X -> X^g` for ciphertexts up to `level` only: it lives over
    /// `Q_level P` with the digits covering `q_0..q_level` (see
    /// [`switching_key_at`](Self::switching_key_at)), so a key used only low in the chain
    /// (a network layer after bootstrapping, SlotToCoeff) costs a fraction of a full one:
    /// `⌈(level + 1) / α⌉ · (level + 1 + K)` limbs per half instead of `dnum · (L + 1 + K)`.
    pub fn galois_key_at(
        &mut self,
        sk: &SecretKey,
        galois_element: u64,
        level: usize,
    ) -> GaloisKey {
        let mut sg = self.ring().automorphism(&sk.eval, galois_element);
        let key = self.switching_key_at(&sg, sk, level);
        sg.zeroize();
        GaloisKey {
            galois_element,
            key,
        }
    }
}
