//! Serialization round trips, seeded compression, and rejection of corrupted bytes.

use ckks_core::ckks::serialize::{
    from_bytes, params_from_bytes, params_to_bytes, to_bytes, to_bytes_with, Serializable,
};
use ckks_core::ckks::{
    insecure_test_params, Ciphertext, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator,
    Plaintext, PrecisionStats,
};
use ckks_core::rlwe::{GaloisKey, PublicKey, RelinearizationKey, SecretKey};
use ckks_core::{CkksError, Complex64};
use proptest::prelude::*;
use std::sync::OnceLock;

struct Fixture {
    ctx: Context,
    sk: SecretKey,
    pk: PublicKey,
    keys: EvaluationKeys,
    ct: Ciphertext,
    ct_sym: Ciphertext,
    pt: Plaintext,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ctx = Context::new(&insecure_test_params(10, 2).unwrap()).unwrap();
        let mut kg = ctx.key_generator();
        let sk = kg.secret_key(None);
        let pk = kg.public_key(&sk);
        let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[1, -2], true);
        let x: Vec<Complex64> = (0..512)
            .map(|i| Complex64::new((i as f64).sin(), 0.25))
            .collect();
        let ct = Encryptor::with_public_key(&ctx, &pk)
            .encrypt_values(&x, 512)
            .unwrap();
        let ct_sym = Encryptor::with_secret_key(&ctx, &sk)
            .encrypt_values(&x, 512)
            .unwrap();
        let pt = ctx.encode(&x, 512, 1, 2f64.powi(30)).unwrap();
        Fixture {
            ctx,
            sk,
            pk,
            keys,
            ct,
            ct_sym,
            pt,
        }
    })
}

fn round_trip<T: Serializable + PartialEq + std::fmt::Debug>(obj: &T) -> (usize, usize) {
    let f = fixture();
    let small = to_bytes(&f.ctx, obj).unwrap();
    let full = to_bytes_with(&f.ctx, obj, false).unwrap();
    assert_eq!(&from_bytes::<T>(&f.ctx, &small).unwrap(), obj);
    assert_eq!(&from_bytes::<T>(&f.ctx, &full).unwrap(), obj);
    (small.len(), full.len())
}

#[test]
fn every_object_round_trips_and_seeds_halve_public_material() {
    let f = fixture();
    let (pk_small, pk_full) = round_trip(&f.pk);
    assert!(
        (pk_small as f64) < 0.52 * pk_full as f64,
        "{pk_small} vs {pk_full}"
    );
    let (ek_small, ek_full) = round_trip(&f.keys);
    assert!((ek_small as f64) < 0.52 * ek_full as f64);
    round_trip(f.keys.relin.as_ref().unwrap());
    round_trip(f.keys.galois.values().next().unwrap());
    round_trip(&f.pt);
    round_trip(&f.ct);
    let (sym_small, sym_full) = round_trip(&f.ct_sym);
    assert!((sym_small as f64) < 0.52 * sym_full as f64);
    let params = params_from_bytes(&params_to_bytes(f.ctx.params()).unwrap()).unwrap();
    assert_eq!(&params, f.ctx.params());
}

#[test]
fn secret_key_round_trip_decrypts() {
    let f = fixture();
    let bytes = to_bytes(&f.ctx, &f.sk).unwrap();
    assert_eq!(bytes.len(), 2 * 1024 / 8 + 40 + 2); // 2 bits per coefficient plus the envelope
    let sk: SecretKey = from_bytes(&f.ctx, &bytes).unwrap();
    let a = Decryptor::new(&f.ctx, &sk).decrypt_values(&f.ct).unwrap();
    let b = Decryptor::new(&f.ctx, &f.sk).decrypt_values(&f.ct).unwrap();
    assert_eq!(a, b);
}

#[test]
fn deserialized_keys_and_ciphertexts_still_compute() {
    let f = fixture();
    let keys: EvaluationKeys = from_bytes(&f.ctx, &to_bytes(&f.ctx, &f.keys).unwrap()).unwrap();
    let ct: Ciphertext = from_bytes(&f.ctx, &to_bytes(&f.ctx, &f.ct_sym).unwrap()).unwrap();
    let eval = Evaluator::new(&f.ctx, keys);
    let r = eval
        .rotate(
            &eval.rescale(&eval.mul_relin(&ct, &ct).unwrap()).unwrap(),
            1,
        )
        .unwrap();
    let x: Vec<Complex64> = (0..512)
        .map(|i| Complex64::new((i as f64).sin(), 0.25))
        .collect();
    let want: Vec<Complex64> = (0..512)
        .map(|i| x[(i + 1) % 512] * x[(i + 1) % 512])
        .collect();
    let got = Decryptor::new(&f.ctx, &f.sk).decrypt_values(&r).unwrap();
    assert!(PrecisionStats::compare(&want, &got).complex.min > 15.0);
}

#[test]
fn foreign_and_mismatched_bytes_are_rejected() {
    let f = fixture();
    let other = Context::new(&insecure_test_params(10, 3).unwrap()).unwrap();
    let bytes = to_bytes(&f.ctx, &f.ct).unwrap();
    assert_eq!(
        from_bytes::<Ciphertext>(&other, &bytes),
        Err(CkksError::FingerprintMismatch)
    );
    assert!(matches!(
        from_bytes::<PublicKey>(&f.ctx, &bytes),
        Err(CkksError::Deserialize(_))
    ));
    assert!(from_bytes::<Ciphertext>(&f.ctx, b"hello world").is_err());
    assert!(from_bytes::<Ciphertext>(&f.ctx, &[]).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(from_bytes::<Ciphertext>(&f.ctx, &trailing).is_err());
    let mut wrong_version = bytes.clone();
    wrong_version[4] = 9;
    assert!(matches!(
        from_bytes::<Ciphertext>(&f.ctx, &wrong_version),
        Err(CkksError::Version(9))
    ));
}

/// Decoding corrupted bytes must never panic; if it succeeds the object must be valid.
fn fuzz_one<T: Serializable>(bytes: &[u8]) {
    let f = fixture();
    let _ = from_bytes::<T>(&f.ctx, bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn truncations_are_rejected(cut in 0.0f64..1.0, which in 0usize..4) {
        let f = fixture();
        let bytes = match which {
            0 => to_bytes(&f.ctx, &f.ct).unwrap(),
            1 => to_bytes(&f.ctx, &f.pk).unwrap(),
            2 => to_bytes(&f.ctx, &f.keys).unwrap(),
            _ => to_bytes(&f.ctx, &f.ct_sym).unwrap(),
        };
        let len = ((bytes.len() as f64) * cut) as usize;
        let t = &bytes[..len.min(bytes.len() - 1)];
        let rejected = match which {
            0 | 3 => from_bytes::<Ciphertext>(&f.ctx, t).is_err(),
            1 => from_bytes::<PublicKey>(&f.ctx, t).is_err(),
            _ => from_bytes::<EvaluationKeys>(&f.ctx, t).is_err(),
        };
        prop_assert!(rejected);
    }

    #[test]
    fn byte_flips_never_panic_and_never_pass_silently(pos in 0.0f64..1.0, flip in 1u8..=255, which in 0usize..4) {
        let f = fixture();
        let bytes = match which {
            0 => to_bytes(&f.ctx, &f.ct).unwrap(),
            1 => to_bytes(&f.ctx, &f.pk).unwrap(),
            2 => to_bytes(&f.ctx, f.keys.relin.as_ref().unwrap()).unwrap(),
            _ => to_bytes(&f.ctx, &f.sk).unwrap(),
        };
        let mut corrupted = bytes.clone();
        let i = ((bytes.len() as f64) * pos) as usize % bytes.len();
        corrupted[i] ^= flip;
        match which {
            0 => {
                // A flip inside coefficient data may still decode (to a different ciphertext);
                // it must then differ from the original.
                if let Ok(ct) = from_bytes::<Ciphertext>(&f.ctx, &corrupted) {
                    prop_assert_ne!(ct, f.ct.clone());
                }
            }
            1 => {
                if let Ok(pk) = from_bytes::<PublicKey>(&f.ctx, &corrupted) {
                    prop_assert_ne!(pk, f.pk.clone());
                }
            }
            2 => fuzz_one::<RelinearizationKey>(&corrupted),
            _ => fuzz_one::<SecretKey>(&corrupted),
        }
        fuzz_one::<GaloisKey>(&corrupted);
        fuzz_one::<Plaintext>(&corrupted);
        fuzz_one::<EvaluationKeys>(&corrupted);
    }
}

#[test]
fn out_of_range_coefficients_are_rejected() {
    // Setting all bits of the first packed coefficient makes it >= q_0 (q_0 < 2^bits - 1).
    let f = fixture();
    let bytes = to_bytes(&f.ctx, &f.ct).unwrap();
    let clean = to_bytes(&f.ctx, &f.ct).unwrap();
    // Find the body's first coefficient: it follows the envelope and the WirePoly header.
    // Rather than hard-coding offsets, corrupt each of the first 64 bytes after the header
    // region and require that at least one gives the coefficient-range error.
    let mut saw_range_error = false;
    for i in 40..bytes.len().min(120) {
        let mut c = clean.clone();
        c[i] = 0xff;
        if let Err(CkksError::Deserialize(m)) = from_bytes::<Ciphertext>(&f.ctx, &c) {
            saw_range_error |= m.contains("modulus");
        }
    }
    assert!(saw_range_error);
}

/// A Galois key generated for levels up to `ℓ` rotates ciphertexts at `ℓ` and below, is
/// refused above `ℓ` before any work, is smaller than a full key, and keeps its level through
/// serialization.
#[test]
fn leveled_galois_keys_serve_their_levels_only() {
    let ctx = Context::new(&insecure_test_params(10, 3).unwrap()).unwrap();
    let top = ctx.max_level();
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let keys =
        EvaluationKeys::generate_leveled(&ctx, &mut kg, &sk, false, &[(1, 1), (2, top)], None);
    let full = EvaluationKeys::generate(&ctx, &mut kg, &sk, false, &[1], false);
    let g1 = ctx.galois_element_for_rotation(1);
    assert_eq!(keys.galois[&g1].level(), 1);
    assert!(keys.galois[&g1].key_memory_bytes() < full.galois[&g1].key_memory_bytes());
    let p = ctx.params();
    assert_eq!(
        keys.galois[&g1].key_memory_bytes(),
        p.switching_key_bytes(1)
    );
    assert_eq!(
        full.galois[&g1].key_memory_bytes(),
        p.switching_key_bytes(top)
    );
    let back: EvaluationKeys = from_bytes(&ctx, &to_bytes(&ctx, &keys).unwrap()).unwrap();
    assert_eq!(back, keys);
    let eval = Evaluator::new(&ctx, back);
    let x: Vec<Complex64> = (0..512)
        .map(|i| Complex64::new((i as f64).cos(), 0.0))
        .collect();
    let ct = Encryptor::with_secret_key(&ctx, &sk)
        .encrypt_values(&x, 512)
        .unwrap();
    assert!(matches!(
        eval.rotate(&ct, 1),
        Err(CkksError::LevelTooLow { needed, level: 1 }) if needed == top
    ));
    let low = eval.drop_to_level(&ct, 1).unwrap();
    let want: Vec<Complex64> = (0..512).map(|i| x[(i + 1) % 512]).collect();
    let dec = Decryptor::new(&ctx, &sk);
    for r in [
        eval.rotate(&low, 1).unwrap(),
        eval.rotate(&eval.drop_to_level(&ct, 0).unwrap(), 1)
            .unwrap(),
    ] {
        assert!(
            PrecisionStats::compare(&want, &dec.decrypt_values(&r).unwrap())
                .complex
                .min
                > 20.0
        );
    }
    // the full-level key of step 2 still rotates at the top
    assert!(eval.rotate(&ct, 2).is_ok());
}
