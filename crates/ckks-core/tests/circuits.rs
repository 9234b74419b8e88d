//! Circuits at small insecure parameters: linear transforms equal plaintext matrix products.

use ckks_core::circuits::LinearTransform;
use ckks_core::ckks::{
    insecure_test_params, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, PrecisionStats,
};
use ckks_core::{CkksError, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;

fn matvec(m: &[Vec<Complex64>], x: &[Complex64]) -> Vec<Complex64> {
    m.iter()
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

fn setup(rotations: &[i64]) -> (Context, Evaluator, Decryptor, Encryptor) {
    let ctx = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, false, rotations, false);
    let eval = Evaluator::new(&ctx, keys);
    let dec = Decryptor::new(&ctx, &sk);
    let enc = Encryptor::with_secret_key(&ctx, &sk);
    (ctx, eval, dec, enc)
}

#[test]
fn dense_transform_equals_matrix_vector_product() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for slots in [8usize, 64, 256] {
        let m: Vec<Vec<Complex64>> = (0..slots)
            .map(|_| {
                (0..slots)
                    .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
                    .collect()
            })
            .collect();
        let x: Vec<Complex64> = (0..slots)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), 0.0))
            .collect();
        let probe = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
        let level = probe.max_level();
        let scale = probe.params().q()[level] as f64;
        let lt_probe = LinearTransform::from_dense(&probe, &m, level, scale).unwrap();
        let (ctx, eval, dec, mut enc) = setup(&lt_probe.rotations());
        let lt = LinearTransform::from_dense(&ctx, &m, level, scale).unwrap();
        assert_eq!(lt.rotations().len(), lt_probe.rotations().len());
        // BSGS: about 2 sqrt(n) rotations instead of n - 1
        assert!(lt.rotations().len() <= 2 * (slots as f64).sqrt().ceil() as usize);
        let ct = enc.encrypt_values(&x, slots).unwrap();
        let y = eval.rescale(&lt.evaluate(&eval, &ct).unwrap()).unwrap();
        assert!((y.scale() / ct.scale() - 1.0).abs() < 1e-9);
        let got = dec.decrypt_values(&y).unwrap();
        let want = matvec(&m, &x);
        let stats = PrecisionStats::compare(&want, &got);
        // entries of M x are sums of `slots` products: allow log2(slots) bits of growth
        assert!(
            stats.complex.min > 25.0 - (slots as f64).log2(),
            "slots {slots}: {stats}"
        );
    }
}

#[test]
fn convolution_like_diagonals_and_exact_key_set() {
    // A 3x3 convolution over a 32x32 image in 1024 slots touches 9 diagonals.
    let (w, slots) = (32usize, 1024usize);
    let taps: Vec<(i64, f64)> = vec![
        (-(w as i64) - 1, 0.1),
        (-(w as i64), 0.2),
        (-(w as i64) + 1, 0.1),
        (-1, 0.2),
        (0, 0.5),
        (1, 0.2),
        (w as i64 - 1, 0.1),
        (w as i64, 0.2),
        (w as i64 + 1, 0.1),
    ];
    let mut diagonals = BTreeMap::new();
    for (off, c) in &taps {
        diagonals.insert(
            off.rem_euclid(slots as i64) as usize,
            vec![Complex64::new(*c, 0.0); slots],
        );
    }
    let probe = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
    let level = probe.max_level();
    let scale = probe.params().q()[level] as f64;
    let needed = LinearTransform::from_diagonals(&probe, &diagonals, slots, level, scale)
        .unwrap()
        .rotations();
    assert!(
        needed.len() < taps.len() - 1,
        "BSGS should need fewer rotations than taps: {needed:?}"
    );
    let (ctx, eval, dec, mut enc) = setup(&needed);
    let lt = LinearTransform::from_diagonals(&ctx, &diagonals, slots, level, scale).unwrap();
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new(((i * 37) % 101) as f64 / 101.0, 0.0))
        .collect();
    let ct = enc.encrypt_values(&x, slots).unwrap();
    let got = dec
        .decrypt_values(&eval.rescale(&lt.evaluate(&eval, &ct).unwrap()).unwrap())
        .unwrap();
    let want: Vec<Complex64> = (0..slots)
        .map(|s| {
            taps.iter()
                .map(|(off, c)| x[(s as i64 + off).rem_euclid(slots as i64) as usize] * *c)
                .sum()
        })
        .collect();
    let stats = PrecisionStats::compare(&want, &got);
    assert!(stats.complex.min > 20.0, "{stats}");

    // With one of the reported keys missing, evaluation fails with a typed error.
    let (ctx2, eval2, _, mut enc2) = setup(&needed[1..]);
    let lt2 = LinearTransform::from_diagonals(&ctx2, &diagonals, slots, level, scale).unwrap();
    let ct2 = enc2.encrypt_values(&x, slots).unwrap();
    assert!(matches!(
        lt2.evaluate(&eval2, &ct2),
        Err(CkksError::MissingGaloisKey(_))
    ));
    // A ciphertext at another level is rejected.
    let low = eval.drop_level(&ct, 1).unwrap();
    assert!(matches!(
        lt.evaluate(&eval, &low),
        Err(CkksError::LevelMismatch(_, _))
    ));
}
