//! Encrypts a vector, multiplies, rotates, conjugates, decrypts, and prints precision
//! statistics and timings.
//!
//! ```text
//! cargo run --release -p ckks-core --example quickstart            # preset N16L9 (N = 2^16)
//! cargo run --release -p ckks-core --example quickstart -- N14     # any preset name
//! ```

use ckks_core::ckks::serialize::{to_bytes, to_bytes_with};
use ckks_core::ckks::{
    Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, PrecisionStats, Preset,
};
use ckks_core::Complex64;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn preset_from_arg(arg: Option<String>) -> Result<Preset, String> {
    let name = arg.unwrap_or_else(|| "N16L9".into());
    Preset::ALL
        .into_iter()
        .find(|p| format!("{p:?}").eq_ignore_ascii_case(&name))
        .ok_or_else(|| format!("unknown preset {name}; one of {:?}", Preset::ALL))
}

fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    println!("  {label:<28} {:>10.2} ms", t.elapsed().as_secs_f64() * 1e3);
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let preset = preset_from_arg(std::env::args().nth(1))?;
    let params = preset.build()?;
    println!(
        "preset {} : N = 2^{}, {} ciphertext primes (log Q = {:.1}), {} special primes (log QP = {:.1} <= {}), dnum = {}, scale 2^{}",
        params.name(),
        params.log_n(),
        params.q().len(),
        params.log_q(),
        params.p().len(),
        params.log_qp(),
        ckks_core::ckks::security_bound(params.log_n()).unwrap_or(0),
        params.dnum(),
        params.log_scale(),
    );
    println!("threads: {}", rayon::current_num_threads());
    let slots = params.max_slots();
    let ctx = timed("context", || Context::new(&params))?;
    let mut kg = ctx.key_generator();
    let sk = timed("secret key", || kg.secret_key(None));
    let pk = timed("public key", || kg.public_key(&sk));
    let keys = timed("relin + 2 rotation + conj keys", || {
        EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[1, -3], true)
    });
    let eval = Evaluator::new(&ctx, keys);

    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.001).sin(), (i as f64 * 0.003).cos() * 0.5))
        .collect();
    let y: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new(0.5 - (i % 7) as f64 / 7.0, 0.25))
        .collect();
    let scale = params.default_scale();
    let top = ctx.max_level();
    let px = timed("encode", || ctx.encode(&x, slots, top, scale))?;
    let py = ctx.encode(&y, slots, top, scale)?;
    let mut enc = Encryptor::with_public_key(&ctx, &pk);
    let cx = timed("encrypt (public key)", || enc.encrypt(&px))?;
    let cy = enc.encrypt(&py)?;
    let dec = Decryptor::new(&ctx, &sk);

    let prod = timed("multiply + relinearize", || eval.mul_relin(&cx, &cy))?;
    let prod = timed("rescale", || eval.rescale(&prod))?;
    let rot = timed("rotate by 1", || eval.rotate(&prod, 1))?;
    let hoisted = timed("hoisted rotations {1, -3}", || {
        eval.rotate_hoisted(&prod, &[1, -3])
    })?;
    let conj = timed("conjugate", || eval.conjugate(&prod))?;
    let got_fresh = timed("decrypt + decode", || dec.decrypt_values(&cx))?;

    let xy: Vec<Complex64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    let rotate = |v: &[Complex64], k: i64| -> Vec<Complex64> {
        (0..slots)
            .map(|i| v[(i as i64 + k).rem_euclid(slots as i64) as usize])
            .collect()
    };
    let report = |label: &str, want: &[Complex64], got: &[Complex64]| {
        println!("{label}: {}", PrecisionStats::compare(want, got));
    };
    println!();
    report("fresh encryption", &x, &got_fresh);
    report(
        "x * y (relinearized, rescaled)",
        &xy,
        &dec.decrypt_values(&prod)?,
    );
    report(
        "rotate(x * y, 1)",
        &rotate(&xy, 1),
        &dec.decrypt_values(&rot)?,
    );
    report(
        "hoisted rotate(x * y, -3)",
        &rotate(&xy, -3),
        &dec.decrypt_values(&hoisted[1])?,
    );
    let conj_want: Vec<Complex64> = xy.iter().map(|v| v.conj()).collect();
    report("conjugate(x * y)", &conj_want, &dec.decrypt_values(&conj)?);
    println!(
        "Lattigo-style bound for fresh/multiplied results: mean >= log2(scale) - (log N + 2) = {:.1} bits",
        params.log_scale() - (params.log_n() as f64 + 2.0)
    );

    println!();
    println!("sizes (bytes, seeded / full):");
    let sizes = |label: &str, a: usize, b: usize| println!("  {label:<22} {a:>12} / {b:>12}");
    sizes(
        "public key",
        to_bytes(&ctx, &pk)?.len(),
        to_bytes_with(&ctx, &pk, false)?.len(),
    );
    let rk = eval.keys().relin.as_ref().ok_or("no relinearization key")?;
    sizes(
        "relinearization key",
        to_bytes(&ctx, rk)?.len(),
        to_bytes_with(&ctx, rk, false)?.len(),
    );
    let ct_sym = Encryptor::with_secret_key(&ctx, &sk).encrypt(&px)?;
    sizes(
        "ciphertext (sk, fresh)",
        to_bytes(&ctx, &ct_sym)?.len(),
        to_bytes_with(&ctx, &ct_sym, false)?.len(),
    );
    sizes(
        "ciphertext (pk, fresh)",
        to_bytes(&ctx, &cx)?.len(),
        to_bytes_with(&ctx, &cx, false)?.len(),
    );
    Ok(())
}
