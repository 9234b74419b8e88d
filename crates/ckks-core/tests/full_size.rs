//! Full-size precision checks at the N = 2^16 presets (slow: run with
//! `cargo test --release -p ckks-core --test full_size -- --ignored`).
//!
//! Lattigo's tests require a mean precision of at least `log2(scale) - (log N + 2)` bits for
//! fresh encryptions and for multiply + relinearize + rescale results; so do these.

use ckks_core::ckks::{
    Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, PrecisionStats, Preset,
};
use ckks_core::Complex64;

fn check(preset: Preset) {
    let params = preset.build().unwrap();
    let ctx = Context::new(&params).unwrap();
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let pk = kg.public_key(&sk);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[1], true);
    let eval = Evaluator::new(&ctx, keys);
    let slots = params.max_slots();
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.01).sin(), (i as f64 * 0.02).cos()))
        .collect();
    let y: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new(1.0 - (i % 5) as f64 * 0.4, -0.3))
        .collect();
    let bound = params.log_scale() - (params.log_n() as f64 + 2.0);
    let dec = Decryptor::new(&ctx, &sk);
    for encryptor in [
        Encryptor::with_public_key(&ctx, &pk),
        Encryptor::with_secret_key(&ctx, &sk),
    ]
    .iter_mut()
    {
        let cx = encryptor.encrypt_values(&x, slots).unwrap();
        let cy = encryptor.encrypt_values(&y, slots).unwrap();
        let fresh = PrecisionStats::compare(&x, &dec.decrypt_values(&cx).unwrap());
        println!("{} fresh: {fresh}", params.name());
        assert!(
            fresh.real.mean >= bound && fresh.imag.mean >= bound,
            "{fresh}"
        );
        let prod = eval.rescale(&eval.mul_relin(&cx, &cy).unwrap()).unwrap();
        let want: Vec<Complex64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
        let got = PrecisionStats::compare(&want, &dec.decrypt_values(&prod).unwrap());
        println!("{} mul+relin+rescale: {got}", params.name());
        assert!(got.real.mean >= bound && got.imag.mean >= bound, "{got}");
        let rot = eval.rotate(&prod, 1).unwrap();
        let want_rot: Vec<Complex64> = (0..slots).map(|i| want[(i + 1) % slots]).collect();
        let got = PrecisionStats::compare(&want_rot, &dec.decrypt_values(&rot).unwrap());
        println!("{} rotate: {got}", params.name());
        assert!(got.real.mean >= bound && got.imag.mean >= bound, "{got}");
    }
}

#[test]
#[ignore = "full size: N = 2^16, several seconds in release mode"]
fn precision_at_n16_benchmark_preset() {
    check(Preset::N16L9);
}

#[test]
#[ignore = "full size: N = 2^16 with 25 primes"]
fn precision_at_n16_deep_preset() {
    check(Preset::N16);
}

#[test]
#[ignore = "full size: N = 2^15"]
fn precision_at_n15_preset() {
    check(Preset::N15);
}
