//! # ckks-core
//!
//! A from-scratch RNS-CKKS library (Cheon-Kim-Kim-Song 2017; full-RNS variant of
//! Cheon-Han-Kim-Kim-Song 2018), layered as Lattigo is:
//!
//! * [`ring`]: word arithmetic, NTT-friendly primes, RNS polynomials over `tfhe-ntt` plans,
//!   fast basis extension, automorphisms, samplers;
//! * [`rlwe`]: keys, RLWE encryption, hybrid key switching with `dnum` digits, hoisting;
//! * [`ckks`]: parameters and 128-bit presets, the encoder, encryptor, decryptor,
//!   evaluator, precision statistics and serialization.
//!
//! ```
//! use ckks_core::ckks::{insecure_test_params, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, PrecisionStats};
//! use num_complex::Complex64;
//!
//! let params = insecure_test_params(10, 2).unwrap(); // test-only set; use Preset::N16 etc.
//! let ctx = Context::new(&params).unwrap();
//! let mut kg = ctx.key_generator();
//! let sk = kg.secret_key(None);
//! let pk = kg.public_key(&sk);
//! let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[1], false);
//! let eval = Evaluator::new(&ctx, keys);
//!
//! let x: Vec<Complex64> = (0..512).map(|i| Complex64::new(i as f64 / 512.0, 0.0)).collect();
//! let ct = Encryptor::with_public_key(&ctx, &pk).encrypt_values(&x, 512).unwrap();
//! let sq = eval.rescale(&eval.mul_relin(&ct, &ct).unwrap()).unwrap();
//! let rot = eval.rotate(&sq, 1).unwrap();
//! let got = Decryptor::new(&ctx, &sk).decrypt_values(&rot).unwrap();
//! let want: Vec<Complex64> = (0..512).map(|i| x[(i + 1) % 512] * x[(i + 1) % 512]).collect();
//! assert!(PrecisionStats::compare(&want, &got).complex.min > 15.0);
//! ```

pub mod circuits;
pub mod ckks;
pub mod error;
pub mod ring;
pub mod rlwe;

pub use error::{CkksError, Result};
pub use num_complex::Complex64;
