//! The CKKS layer: parameters, encoder, encryptor/decryptor, evaluator, precision statistics
//! and serialization (Cheon-Kim-Kim-Song 2017; RNS variant of Cheon-Han-Kim-Kim-Song 2018).

pub mod context;
pub mod encoder;
pub mod evaluator;
pub mod params;
pub mod precision;
pub mod serialize;

pub use context::Context;
pub use evaluator::{EvaluationKeys, Evaluator};
pub use params::{
    insecure_test_params, security_bound, Parameters, ParametersBuilder, Preset, SecretDistribution,
};
pub use precision::PrecisionStats;

use crate::error::{CkksError, Result};
use crate::ring::sampler::gaussian_with;
use crate::ring::{Form, RnsPoly};
use crate::rlwe::{self, PublicKey, RlweEncryptor, SecretKey};
use num_complex::Complex64;

/// An encoded message: a polynomial over `Q_ℓ` (evaluation form), its scale and slot count.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
}

impl Plaintext {
    /// Level of the plaintext.
    pub fn level(&self) -> usize {
        self.poly.basis.q - 1
    }
    /// Scale `Δ`.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// The encoded polynomial (evaluation form over `Q_ℓ`).
    pub fn poly(&self) -> &RnsPoly {
        &self.poly
    }
    /// Consumes the plaintext into its polynomial.
    pub fn into_poly(self) -> RnsPoly {
        self.poly
    }
}

/// A CKKS ciphertext `(c_0, c_1[, c_2])` over `Q_ℓ` in evaluation form.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) c: Vec<RnsPoly>,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
    /// Seed of `c_1` for fresh symmetric encryptions (compressed serialization).
    pub(crate) seed: Option<[u8; 32]>,
}

impl Ciphertext {
    /// Level `ℓ` (number of remaining rescalings).
    pub fn level(&self) -> usize {
        self.c[0].basis.q - 1
    }
    /// Scale `Δ`.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// Degree (1 after relinearization, 2 after a bare multiplication).
    pub fn degree(&self) -> usize {
        self.c.len() - 1
    }
    /// Whether `c_1` is still the uniform polynomial expanded from a seed.
    pub fn is_seeded(&self) -> bool {
        self.seed.is_some()
    }
}

/// Encrypts plaintexts under a public key or a secret key.
pub struct Encryptor {
    ctx: Context,
    key: EncryptionKey,
    rlwe: RlweEncryptor,
}

enum EncryptionKey {
    Public(PublicKey),
    Secret(SecretKey),
}

impl Encryptor {
    /// Public-key encryption (anyone holding `pk`).
    pub fn with_public_key(ctx: &Context, pk: &PublicKey) -> Self {
        Self {
            ctx: ctx.clone(),
            key: EncryptionKey::Public(pk.clone()),
            rlwe: RlweEncryptor::new(),
        }
    }

    /// Secret-key encryption: smaller noise, and `c_1` is stored as a 32-byte seed.
    pub fn with_secret_key(ctx: &Context, sk: &SecretKey) -> Self {
        Self {
            ctx: ctx.clone(),
            key: EncryptionKey::Secret(sk.clone()),
            rlwe: RlweEncryptor::new(),
        }
    }

    /// Encrypts a plaintext at its level.
    pub fn encrypt(&mut self, pt: &Plaintext) -> Result<Ciphertext> {
        let level = pt.level();
        if pt.poly.n != self.ctx.params().n()
            || pt.poly.form != Form::Eval
            || level > self.ctx.max_level()
        {
            return Err(CkksError::ParameterMismatch);
        }
        let ring = self.ctx.ring().clone();
        let (mut c, seed) = match &self.key {
            EncryptionKey::Public(pk) => (
                self.rlwe
                    .encrypt_zero_pk(self.ctx.key_switcher(), pk, level),
                None,
            ),
            EncryptionKey::Secret(sk) => {
                let (c, seed) = self.rlwe.encrypt_zero_sk(&ring, sk, level);
                (c, Some(seed))
            }
        };
        ring.add_assign(&mut c[0], &pt.poly);
        Ok(Ciphertext {
            c: c.to_vec(),
            scale: pt.scale,
            slots: pt.slots,
            seed,
        })
    }

    /// Encodes at the top level with the default scale and encrypts.
    pub fn encrypt_values(&mut self, values: &[Complex64], slots: usize) -> Result<Ciphertext> {
        let pt = self.ctx.encode(
            values,
            slots,
            self.ctx.max_level(),
            self.ctx.params().default_scale(),
        )?;
        self.encrypt(&pt)
    }
}

/// Decrypts with the secret key.
pub struct Decryptor {
    ctx: Context,
    sk: SecretKey,
    rlwe: RlweEncryptor,
}

impl Decryptor {
    /// A decryptor for `sk`.
    pub fn new(ctx: &Context, sk: &SecretKey) -> Self {
        Self {
            ctx: ctx.clone(),
            sk: sk.clone(),
            rlwe: RlweEncryptor::new(),
        }
    }

    /// `c_0 + c_1 s (+ c_2 s^2)`: the plaintext at the ciphertext's level and scale.
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext> {
        self.ctx.check_ciphertext(ct)?;
        let poly = rlwe::decrypt(self.ctx.ring(), &self.sk, &ct.c);
        Ok(Plaintext {
            poly,
            scale: ct.scale,
            slots: ct.slots,
        })
    }

    /// Decrypts and decodes.
    pub fn decrypt_values(&self, ct: &Ciphertext) -> Result<Vec<Complex64>> {
        self.ctx.decode(&self.decrypt(ct)?)
    }

    /// Decryption with noise flooding, for results shared beyond the key owner.
    ///
    /// Li and Micciancio (Eurocrypt 2021) showed that plain CKKS decryptions leak the secret
    /// key to whoever sees them together with the ciphertext (IND-CPA^D attack): the
    /// approximate result `m + e` reveals `e`, which is linear in `s`. Adding, before decoding,
    /// a fresh Gaussian of standard deviation `2^flood_bits` to every coefficient hides `e`
    /// statistically when `flood_bits` exceeds `log2 |e|` by the statistical security margin
    /// (Li-Micciancio-Schultz-Sorrell 2022 recommend about 30 extra bits for 30-bit statistical
    /// security, far fewer for a bounded number of decryptions).
    ///
    /// **Cost in precision**: the result then carries an error of about
    /// `2^flood_bits · sqrt(N) / Δ` per slot, i.e. it keeps about
    /// `log2 Δ - flood_bits - (log2 N)/2` bits instead of `log2 Δ - log2|e| - (log2 N)/2`.
    pub fn decrypt_values_flooded(
        &mut self,
        ct: &Ciphertext,
        flood_bits: f64,
    ) -> Result<Vec<Complex64>> {
        if !(flood_bits.is_finite() && (0.0..60.0).contains(&flood_bits)) {
            return Err(CkksError::InvalidParameters(format!(
                "flooding of 2^{flood_bits} is outside [2^0, 2^60)"
            )));
        }
        let mut pt = self.decrypt(ct)?;
        let ring = self.ctx.ring();
        let sigma = flood_bits.exp2();
        let noise = gaussian_with(ring.n(), sigma, 12.0 * sigma, self.rlwe.rng());
        let mut e = ring.from_signed(&noise, pt.poly.basis);
        ring.ntt(&mut e);
        ring.add_assign(&mut pt.poly, &e);
        self.ctx.decode(&pt)
    }
}
