//! Times multiply + relinearize and rotate (the two hybrid key switches) on a fixed thread
//! count, and serves as the workload for instruction counts under callgrind.
//!
//! ```text
//! cargo run --release -p ckks-core --example keyswitch_timing -- [preset] [threads] [reps]
//! # instruction counts of one call each (preset N16L9, one thread):
//! valgrind --tool=callgrind --toggle-collect='*Evaluator::mul_relin*' \
//!     --toggle-collect='*Evaluator::rotate*' --toggle-collect='*Evaluator::rescale*' \
//!     target/release/examples/keyswitch_timing N16L9 1 1
//! ```
//!
//! Every call runs inside a rayon pool of `threads` workers, so with one thread the whole
//! operation executes on that worker (callgrind then attributes it to the toggled function).

use ckks_core::ckks::Decryptor;
use ckks_core::ckks::{Context, Encryptor, EvaluationKeys, Evaluator, PrecisionStats, Preset};
use ckks_core::Complex64;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "N16L9".into());
    let preset = Preset::ALL
        .into_iter()
        .find(|p| format!("{p:?}").eq_ignore_ascii_case(&name))
        .ok_or_else(|| format!("unknown preset {name}; one of {:?}", Preset::ALL))?;
    let threads: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let reps: usize = args.next().map_or(Ok(5), |a| a.parse())?;
    let params = preset.build()?;
    let ctx = Context::new(&params)?;
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[1], false);
    let eval = Evaluator::new(&ctx, keys);
    let slots = params.max_slots();
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.01).sin(), (i as f64 * 0.02).cos()) * 0.5)
        .collect();
    let ct = Encryptor::with_secret_key(&ctx, &sk).encrypt_values(&x, slots)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (mut prod, mut rot) = (None, None);
    let t_mul = median_ms(reps, || {
        prod = Some(pool.install(|| eval.mul_relin(&ct, &ct)));
    });
    let t_rot = median_ms(reps, || {
        rot = Some(pool.install(|| eval.rotate(&ct, 1)));
    });
    let prod = prod.expect("reps >= 1")?;
    let t_rescale = median_ms(reps, || {
        let _ = pool.install(|| eval.rescale(&prod));
    });
    let mut fused = None;
    let t_fused = median_ms(reps, || {
        fused = Some(pool.install(|| eval.mul_relin_rescale(&ct, &ct)));
    });
    let dec = Decryptor::new(&ctx, &sk);
    let prod = eval.rescale(&prod)?;
    let want: Vec<Complex64> = x.iter().map(|v| v * v).collect();
    let p_mul = PrecisionStats::compare(&want, &dec.decrypt_values(&prod)?);
    let p_fused = PrecisionStats::compare(&want, &dec.decrypt_values(&fused.expect("reps >= 1")?)?);
    let want: Vec<Complex64> = (0..slots).map(|i| x[(i + 1) % slots]).collect();
    let p_rot = PrecisionStats::compare(&want, &dec.decrypt_values(&rot.expect("reps >= 1")?)?);
    println!(
        "{} (N = 2^{}, {} primes, dnum {}), {threads} thread(s), median of {reps}",
        params.name(),
        params.log_n(),
        params.q().len(),
        params.dnum()
    );
    println!("  multiply + relinearize {t_mul:>9.2} ms   (after rescale) {p_mul}");
    println!("  rotate by 1            {t_rot:>9.2} ms   {p_rot}");
    println!("  rescale                {t_rescale:>9.2} ms");
    println!("  multiply + relinearize + rescale, fused {t_fused:>9.2} ms   {p_fused}");
    Ok(())
}
