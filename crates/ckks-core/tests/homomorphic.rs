//! Homomorphism properties at small insecure parameters: decrypt(op(enc(x), enc(y))) ≈ op(x, y).

use ckks_core::ckks::{
    insecure_test_params, Ciphertext, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator,
    PrecisionStats,
};
use ckks_core::rlwe::{PublicKey, SecretKey};
use ckks_core::{CkksError, Complex64};
use proptest::prelude::*;
use std::sync::OnceLock;

const LOG_N: u32 = 11;
const SLOTS: usize = 1 << (LOG_N - 1);
const STEPS: [i64; 8] = [1, 2, 3, 5, 8, 100, -1, -7];

struct Fixture {
    ctx: Context,
    sk: SecretKey,
    pk: PublicKey,
    eval: Evaluator,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ctx = Context::new(&insecure_test_params(LOG_N, 4).unwrap()).unwrap();
        let mut kg = ctx.key_generator();
        let sk = kg.secret_key(None);
        let pk = kg.public_key(&sk);
        let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &STEPS, true);
        let eval = Evaluator::new(&ctx, keys);
        Fixture { ctx, sk, pk, eval }
    })
}

fn values(seed: &[(f64, f64)]) -> Vec<Complex64> {
    (0..SLOTS)
        .map(|i| {
            let (a, b) = seed[i % seed.len()];
            Complex64::new(a * ((i as f64) * 0.37).cos(), b * ((i as f64) * 0.11).sin())
        })
        .collect()
}

fn enc(x: &[Complex64]) -> Ciphertext {
    let f = fixture();
    Encryptor::with_public_key(&f.ctx, &f.pk)
        .encrypt_values(x, SLOTS)
        .unwrap()
}

fn dec(ct: &Ciphertext) -> Vec<Complex64> {
    let f = fixture();
    Decryptor::new(&f.ctx, &f.sk).decrypt_values(ct).unwrap()
}

/// Asserts that `got` matches `want` to at least `bits` bits in every slot.
fn assert_close(want: &[Complex64], got: &[Complex64], bits: f64) -> Result<(), TestCaseError> {
    let stats = PrecisionStats::compare(want, got);
    prop_assert!(stats.complex.min >= bits, "{stats}");
    Ok(())
}

fn pairs() -> impl Strategy<Value = Vec<(f64, f64)>> {
    proptest::collection::vec((-1.0f64..1.0, -1.0f64..1.0), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn add_sub_negate(a in pairs(), b in pairs()) {
        let (x, y) = (values(&a), values(&b));
        let f = fixture();
        let (cx, cy) = (enc(&x), enc(&y));
        let sum = dec(&f.eval.add(&cx, &cy).unwrap());
        let diff = dec(&f.eval.sub(&cx, &cy).unwrap());
        let neg = dec(&f.eval.negate(&cx).unwrap());
        assert_close(&x.iter().zip(&y).map(|(p, q)| p + q).collect::<Vec<_>>(), &sum, 21.0)?;
        assert_close(&x.iter().zip(&y).map(|(p, q)| p - q).collect::<Vec<_>>(), &diff, 21.0)?;
        assert_close(&x.iter().map(|p| -p).collect::<Vec<_>>(), &neg, 21.0)?;
    }

    #[test]
    fn multiply_relinearize_rescale(a in pairs(), b in pairs()) {
        let (x, y) = (values(&a), values(&b));
        let f = fixture();
        let (cx, cy) = (enc(&x), enc(&y));
        let prod = f.eval.mul_relin_rescale(&cx, &cy).unwrap();
        prop_assert_eq!(prod.level(), f.ctx.max_level() - 1);
        let want: Vec<Complex64> = x.iter().zip(&y).map(|(p, q)| p * q).collect();
        assert_close(&want, &dec(&prod), 18.0)?;
        // the fused ModDown + rescale equals relinearization then rescale up to one rounding
        let unfused = f.eval.rescale(&f.eval.mul_relin(&cx, &cy).unwrap()).unwrap();
        prop_assert!((unfused.scale() / prod.scale() - 1.0).abs() < 1e-12);
        assert_close(&dec(&unfused), &dec(&prod), 30.0)?;
        // Depth 2: (x*y)*(x*y) after a second rescale.
        let sq = f.eval.rescale(&f.eval.square_relin(&prod).unwrap()).unwrap();
        assert_close(&want.iter().map(|w| w * w).collect::<Vec<_>>(), &dec(&sq), 16.0)?;
    }

    #[test]
    fn plaintext_and_constant_operations(a in pairs(), b in pairs(), c in (-2.0f64..2.0, -2.0f64..2.0)) {
        let (x, y) = (values(&a), values(&b));
        let f = fixture();
        let c = Complex64::new(c.0, c.1);
        let cx = enc(&x);
        let top = f.ctx.max_level();
        let scale = f.ctx.params().default_scale();
        let py = f.ctx.encode(&y, SLOTS, top, scale).unwrap();
        let plus = dec(&f.eval.add_plain(&cx, &py).unwrap());
        assert_close(&x.iter().zip(&y).map(|(p, q)| p + q).collect::<Vec<_>>(), &plus, 21.0)?;
        let minus = dec(&f.eval.sub_plain(&cx, &py).unwrap());
        assert_close(&x.iter().zip(&y).map(|(p, q)| p - q).collect::<Vec<_>>(), &minus, 21.0)?;
        let times = dec(&f.eval.rescale(&f.eval.mul_plain(&cx, &py).unwrap()).unwrap());
        assert_close(&x.iter().zip(&y).map(|(p, q)| p * q).collect::<Vec<_>>(), &times, 18.0)?;
        let addc = dec(&f.eval.add_const(&cx, c).unwrap());
        assert_close(&x.iter().map(|p| p + c).collect::<Vec<_>>(), &addc, 21.0)?;
        let mulc = f.eval.rescale(&f.eval.mul_const(&cx, c).unwrap()).unwrap();
        prop_assert!((mulc.scale() / cx.scale() - 1.0).abs() < 1e-12);
        assert_close(&x.iter().map(|p| p * c).collect::<Vec<_>>(), &dec(&mulc), 18.0)?;
        let mul3 = dec(&f.eval.mul_integer(&cx, -3).unwrap());
        assert_close(&x.iter().map(|p| p * -3.0).collect::<Vec<_>>(), &mul3, 19.0)?;
        // relabelling by a real factor: c x at scale s / |c|, no level spent
        if c.re.abs() > 1e-3 {
            let rel = f.eval.relabel(&cx, c.re).unwrap();
            prop_assert_eq!(rel.level(), cx.level());
            prop_assert!((rel.scale() * c.re.abs() / cx.scale() - 1.0).abs() < 1e-12);
            assert_close(&x.iter().map(|p| p * c.re).collect::<Vec<_>>(), &dec(&rel), 19.0)?;
        }
        prop_assert!(f.eval.relabel(&cx, 0.0).is_err());
        prop_assert!(f.eval.relabel(&cx, f64::NAN).is_err());
    }

    #[test]
    fn rotations_and_their_composition(a in pairs(), i in 0usize..STEPS.len(), j in 0usize..STEPS.len()) {
        let x = values(&a);
        let f = fixture();
        let rot = |v: &[Complex64], k: i64| -> Vec<Complex64> {
            (0..SLOTS).map(|s| v[(s as i64 + k).rem_euclid(SLOTS as i64) as usize]).collect()
        };
        let cx = enc(&x);
        let (ki, kj) = (STEPS[i], STEPS[j]);
        let ri = f.eval.rotate(&cx, ki).unwrap();
        assert_close(&rot(&x, ki), &dec(&ri), 20.0)?;
        // rotate(rotate(x, i), j) == rotate(x, i + j)
        let rij = f.eval.rotate(&ri, kj).unwrap();
        assert_close(&rot(&x, ki + kj), &dec(&rij), 19.0)?;
    }

    #[test]
    fn conjugation(a in pairs()) {
        let x = values(&a);
        let f = fixture();
        let got = dec(&f.eval.conjugate(&enc(&x)).unwrap());
        assert_close(&x.iter().map(|p| p.conj()).collect::<Vec<_>>(), &got, 20.0)?;
    }
}

#[test]
fn hoisted_rotations_equal_plain_rotations() {
    let f = fixture();
    let x = values(&[(0.9, -0.4), (0.3, 0.7)]);
    let cx = enc(&x);
    let hoisted = f.eval.rotate_hoisted(&cx, &STEPS).unwrap();
    for (k, h) in STEPS.iter().zip(&hoisted) {
        let plain = dec(&f.eval.rotate(&cx, *k).unwrap());
        let stats = PrecisionStats::compare(&plain, &dec(h));
        assert!(stats.complex.min > 20.0, "step {k}: {stats}");
    }
}

#[test]
fn secret_key_encryption_and_fewer_slots() {
    let f = fixture();
    for slots in [1usize, 4, 64, SLOTS] {
        let x: Vec<Complex64> = (0..slots)
            .map(|i| Complex64::new(i as f64 / slots as f64, -0.5))
            .collect();
        let mut enc = Encryptor::with_secret_key(&f.ctx, &f.sk);
        let ct = enc.encrypt_values(&x, slots).unwrap();
        assert!(ct.is_seeded());
        let got = dec(&ct);
        assert_eq!(got.len(), slots);
        assert!(PrecisionStats::compare(&x, &got).complex.min > 21.0);
        // Rotation acts cyclically on the sparse slots too.
        if slots > 1 {
            let r = dec(&f.eval.rotate(&ct, 1).unwrap());
            let want: Vec<Complex64> = (0..slots).map(|i| x[(i + 1) % slots]).collect();
            assert!(PrecisionStats::compare(&want, &r).complex.min > 20.0);
        }
    }
}

#[test]
fn mismatches_are_typed_errors() {
    let f = fixture();
    let x = values(&[(0.5, 0.5)]);
    let a = enc(&x);
    let low = f.eval.drop_level(&a, 1).unwrap();
    assert!(matches!(
        f.eval.add(&a, &low),
        Err(CkksError::LevelMismatch(_, _))
    ));
    let sq = f.eval.rescale(&f.eval.mul_relin(&a, &a).unwrap()).unwrap();
    let low2 = f.eval.drop_to_level(&a, sq.level()).unwrap();
    assert!(matches!(
        f.eval.add(&sq, &low2),
        Err(CkksError::ScaleMismatch(_, _))
    ));
    assert!(matches!(
        f.eval.rotate(&a, 4),
        Err(CkksError::MissingGaloisKey(_))
    ));
    let mut bottom = a.clone();
    for _ in 0..f.ctx.max_level() {
        bottom = f
            .eval
            .rescale(&f.eval.mul_relin(&bottom, &bottom).unwrap())
            .unwrap();
    }
    assert_eq!(bottom.level(), 0);
    assert!(matches!(
        f.eval.rescale(&bottom),
        Err(CkksError::LevelTooLow { .. })
    ));
    let deg2 = f.eval.mul(&a, &a).unwrap();
    assert!(matches!(
        f.eval.mul(&deg2, &a),
        Err(CkksError::Degree(2, 1))
    ));
    assert!(matches!(
        f.eval.rotate(&deg2, 1),
        Err(CkksError::Degree(2, 1))
    ));
    // matched explicitly, the same addition works
    let (a2, l2) = f.eval.match_levels(&a, &low).unwrap();
    let sum = dec(&f.eval.add(&a2, &l2).unwrap());
    let want: Vec<Complex64> = x.iter().map(|v| v * 2.0).collect();
    assert!(PrecisionStats::compare(&want, &sum).complex.min > 21.0);
    // too many values, bad slot counts, oversized values
    assert!(matches!(
        f.ctx
            .encode(&vec![Complex64::new(0.0, 0.0); SLOTS + 1], SLOTS, 0, 1e6),
        Err(CkksError::TooManyValues { .. })
    ));
    assert!(f.ctx.encode(&x[..3], 3, 0, 1e6).is_err());
    assert!(matches!(
        f.ctx
            .encode(&[Complex64::new(1e30, 0.0)], 1, 0, 2f64.powi(40)),
        Err(CkksError::EncodingOverflow(_))
    ));
    assert!(matches!(
        f.ctx
            .encode(&[Complex64::new(f64::NAN, 0.0)], 1, 0, 2f64.powi(40)),
        Err(CkksError::EncodingOverflow(_))
    ));
}

#[test]
fn ciphertexts_of_another_parameter_set_are_rejected() {
    let f = fixture();
    let other = Context::new(&insecure_test_params(10, 1).unwrap()).unwrap();
    let mut kg = other.key_generator();
    let sk = kg.secret_key(None);
    let ct = Encryptor::with_secret_key(&other, &sk)
        .encrypt_values(&[Complex64::new(1.0, 0.0)], 1)
        .unwrap();
    assert!(f.eval.add(&ct, &ct).is_err());
    assert!(Decryptor::new(&f.ctx, &f.sk).decrypt(&ct).is_err());
}

#[test]
fn decoding_handles_large_values_at_high_levels() {
    // Values far above q_0 / scale must be reconstructed through the full CRT.
    let x: Vec<Complex64> = (0..SLOTS)
        .map(|i| Complex64::new(1e6 * (i as f64 - 512.0), -3e5))
        .collect();
    let got = dec(&enc(&x));
    let rel: Vec<f64> = x
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).norm() / 1e6)
        .collect();
    assert!(
        rel.iter().all(|r| *r < 1e-6),
        "max rel err {:?}",
        rel.iter().cloned().fold(0.0, f64::max)
    );
}

#[test]
fn noise_flooding_costs_the_documented_precision() {
    let f = fixture();
    let x = values(&[(0.7, -0.2)]);
    let ct = enc(&x);
    let mut d = Decryptor::new(&f.ctx, &f.sk);
    let plain = PrecisionStats::compare(&x, &d.decrypt_values(&ct).unwrap());
    let flooded = PrecisionStats::compare(&x, &d.decrypt_values_flooded(&ct, 20.0).unwrap());
    println!("plain decryption: {plain}\nflooded with 2^20: {flooded}");
    // log2 Δ - flood_bits - log2(N)/2 = 40 - 20 - 5.5 = 14.5 bits, give or take a few.
    assert!(
        flooded.complex.mean < plain.complex.mean - 5.0,
        "{plain} {flooded}"
    );
    assert!(
        flooded.complex.mean > 11.0 && flooded.complex.mean < 19.0,
        "{flooded}"
    );
    assert!(d.decrypt_values_flooded(&ct, f64::NAN).is_err());
}

#[test]
fn in_place_accumulation_of_sums_and_products() {
    let f = fixture();
    let xs: Vec<Vec<Complex64>> = (1..=4)
        .map(|k| values(&[(0.2 * k as f64, -0.1 * k as f64)]))
        .collect();
    let cts: Vec<Ciphertext> = xs.iter().map(|x| enc(x)).collect();
    // Σ x_k x_{k+1} with one relinearization
    let mut acc = f.eval.mul(&cts[0], &cts[1]).unwrap();
    for k in 1..3 {
        f.eval
            .mul_add_assign(&mut acc, &cts[k], &cts[k + 1])
            .unwrap();
    }
    let got = dec(&f.eval.rescale(&f.eval.relinearize(&acc).unwrap()).unwrap());
    let want: Vec<Complex64> = (0..SLOTS)
        .map(|s| (0..3).map(|k| xs[k][s] * xs[k + 1][s]).sum())
        .collect();
    assert!(PrecisionStats::compare(&want, &got).complex.min > 17.0);
    // add_assign / sub_assign
    let mut sum = cts[0].clone();
    f.eval.add_assign(&mut sum, &cts[1]).unwrap();
    f.eval.sub_assign(&mut sum, &cts[2]).unwrap();
    let want: Vec<Complex64> = (0..SLOTS).map(|s| xs[0][s] + xs[1][s] - xs[2][s]).collect();
    assert!(PrecisionStats::compare(&want, &dec(&sum)).complex.min > 20.0);
    // mismatched accumulator scale is a typed error
    let mut wrong = cts[0].clone();
    assert!(matches!(
        f.eval.mul_add_assign(&mut wrong, &cts[1], &cts[2]),
        Err(CkksError::ScaleMismatch(_, _))
    ));
}

#[test]
fn key_switch_moves_a_ciphertext_to_another_secret() {
    let f = fixture();
    let mut kg = f.ctx.key_generator();
    let other = kg.secret_key(None);
    let swk = kg.switching_key(kg.secret_poly(&other), &f.sk);
    let x = values(&[(0.7, -0.3), (-0.2, 0.9)]);
    let ct = Encryptor::with_secret_key(&f.ctx, &other)
        .encrypt_values(&x, SLOTS)
        .unwrap();
    // under the wrong key the message is lost; after switching it decrypts under `sk`
    assert!(PrecisionStats::compare(&x, &dec(&ct)).complex.mean < 1.0);
    for level in [f.ctx.max_level(), 1] {
        let low = f.eval.drop_to_level(&ct, level).unwrap();
        let switched = f.eval.key_switch(&low, &swk).unwrap();
        assert_eq!((switched.level(), switched.degree()), (level, 1));
        assert_eq!(switched.scale(), ct.scale());
        let stats = PrecisionStats::compare(&x, &dec(&switched));
        assert!(stats.complex.min > 20.0, "level {level}: {stats}");
    }
    // a key that stops below the ciphertext's level, and a degree-2 input, are typed errors
    let short = kg.switching_key_at(kg.secret_poly(&other), &f.sk, 1);
    assert!(matches!(
        f.eval.key_switch(&ct, &short),
        Err(CkksError::LevelTooLow { .. })
    ));
    let tensor = f.eval.mul(&ct, &ct).unwrap();
    assert!(matches!(
        f.eval.key_switch(&tensor, &swk),
        Err(CkksError::Degree(2, 1))
    ));
}

/// Galois keys whose uniform halves were dropped from memory rotate to exactly the same
/// ciphertext (the halves are expanded from the same seeds), take half the memory, and
/// serialize to the same bytes in both forms.
#[test]
fn galois_keys_without_uniform_halves_give_identical_rotations() {
    use ckks_core::ckks::serialize::{to_bytes, to_bytes_with};
    let f = fixture();
    let mut compact = f.eval.keys().clone();
    compact.drop_galois_uniform_halves();
    let full_bytes: usize = f
        .eval
        .keys()
        .galois
        .values()
        .map(|g| g.key_memory_bytes())
        .sum();
    let compact_bytes: usize = compact.galois.values().map(|g| g.key_memory_bytes()).sum();
    assert_eq!(2 * compact_bytes, full_bytes);
    for (g, key) in &compact.galois {
        let full = &f.eval.keys().galois[g];
        for seeded in [true, false] {
            assert_eq!(
                to_bytes_with(&f.ctx, key, seeded).unwrap(),
                to_bytes_with(&f.ctx, full, seeded).unwrap()
            );
        }
    }
    let small = Evaluator::new(&f.ctx, compact);
    let cx = enc(&values(&[(0.5, -0.25), (0.75, 0.1)]));
    // through the hoisted path and the single-rotation path, at the top and a lower level
    let low = f.eval.drop_level(&cx, 2).unwrap();
    for ct in [&cx, &low] {
        let want = f.eval.rotate_hoisted(ct, &STEPS).unwrap();
        let got = small.rotate_hoisted(ct, &STEPS).unwrap();
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(to_bytes(&f.ctx, w).unwrap(), to_bytes(&f.ctx, g).unwrap());
        }
        assert_eq!(
            to_bytes(&f.ctx, &f.eval.conjugate(ct).unwrap()).unwrap(),
            to_bytes(&f.ctx, &small.conjugate(ct).unwrap()).unwrap()
        );
    }
}

#[test]
fn steps_sharing_a_galois_element_share_one_key() {
    let f = fixture();
    let top = f.ctx.max_level();
    let s = SLOTS as i64;
    // 3 and 3 - slots are one element (the higher level wins), 0 and slots need no key,
    // levels above the top are capped
    let steps = [(3, 1), (3 - s, 2), (0, 3), (s, 1), (-1, top + 5)];
    let levels = EvaluationKeys::galois_levels(&f.ctx, &steps, Some(0));
    let want: std::collections::BTreeMap<u64, usize> = [
        (f.ctx.galois_element_for_rotation(3), 2),
        (f.ctx.galois_element_for_rotation(-1), top),
        (f.ctx.galois_element_for_conjugation(), 0),
    ]
    .into_iter()
    .collect();
    assert_eq!(levels, want);
    let mut kg = f.ctx.key_generator();
    let keys = EvaluationKeys::generate_leveled(&f.ctx, &mut kg, &f.sk, false, &steps, Some(0));
    let made: std::collections::BTreeMap<u64, usize> =
        keys.galois.iter().map(|(&g, k)| (g, k.level())).collect();
    assert_eq!(made, want);
}

#[test]
fn slot_views_read_a_periodic_ciphertext_with_fewer_or_more_slots() {
    let f = fixture();
    let n = SLOTS / 4;
    let period: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new((i as f64 * 0.3).sin(), (i as f64 * 0.7).cos() * 0.5))
        .collect();
    let full: Vec<Complex64> = (0..SLOTS).map(|i| period[i % n]).collect();
    // a full-slot ciphertext whose values repeat every n slots is an n-slot ciphertext
    let ct = enc(&full);
    let view = f.eval.with_slots(&ct, n).unwrap();
    assert_eq!(view.slots(), n);
    assert_close(&period, &dec(&view), 20.0).unwrap();
    // and back: the n values repeated over all the slots
    let back = f.eval.with_slots(&view, SLOTS).unwrap();
    assert_close(&full, &dec(&back), 20.0).unwrap();
    // an n-slot encryption read with all the slots repeats its values
    let sparse = Encryptor::with_public_key(&f.ctx, &f.pk)
        .encrypt_values(&period, n)
        .unwrap();
    assert_close(
        &full,
        &dec(&f.eval.with_slots(&sparse, SLOTS).unwrap()),
        20.0,
    )
    .unwrap();
    for bad in [0, 3, 2 * SLOTS] {
        assert!(f.eval.with_slots(&ct, bad).is_err(), "{bad} slots");
    }
}
