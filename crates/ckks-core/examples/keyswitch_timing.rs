//! Times multiply + relinearize and rotate (the two hybrid key switches) on a fixed thread
//! count, and serves as the workload for instruction counts under callgrind.
//!
//! ```text
//! cargo run --release -p ckks-core --example keyswitch_timing -- [preset] [threads] [reps] [pool=MiB]
//! # instruction counts of one call each (preset N16L9, one thread):
//! valgrind --tool=callgrind --toggle-collect='*Evaluator::mul_relin*' \
//!     --toggle-collect='*Evaluator::rotate*' --toggle-collect='*Evaluator::rescale*' \
//!     target/release/examples/keyswitch_timing N16L9 1 1
//! ```
//!
//! Each line gives the median and the minimum wall time over the repetitions.
//!
//! Every call runs inside a rayon pool of `threads` workers, so with one thread the whole
//! operation executes on that worker (callgrind then attributes it to the toggled function).

use ckks_core::ckks::Decryptor;
use ckks_core::ckks::{Context, Encryptor, EvaluationKeys, Evaluator, PrecisionStats, Preset};
use ckks_core::Complex64;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Wall milliseconds of `reps` calls: median and minimum (on a shared machine the minimum is
/// the call that was interrupted least).
struct Timing {
    median: f64,
    min: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>9.2} ms (min {:>7.2})", self.median, self.min)
    }
}

fn timed(pool: &rayon::ThreadPool, reps: usize, mut f: impl FnMut() + Send) -> Timing {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            pool.install(&mut f);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    Timing {
        median: t[t.len() / 2],
        min: t[0],
    }
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
    // optional `pool=<MiB>`: limit of the polynomial buffer pool (0 disables reuse)
    if let Some(mib) = args
        .next()
        .and_then(|a| a.strip_prefix("pool=").map(str::to_owned))
    {
        ckks_core::ring::set_buffer_pool_limit(mib.parse::<usize>()? << 20);
    }
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
    let t_mul = timed(&pool, reps, || prod = Some(eval.mul_relin(&ct, &ct)));
    let t_rot = timed(&pool, reps, || rot = Some(eval.rotate(&ct, 1)));
    let prod = prod.expect("reps >= 1")?;
    let t_rescale = timed(&pool, reps, || {
        let _ = eval.rescale(&prod);
    });
    let mut fused = None;
    let t_fused = timed(&pool, reps, || {
        fused = Some(eval.mul_relin_rescale(&ct, &ct))
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
    println!("  multiply + relinearize {t_mul}   (after rescale) {p_mul}");
    println!("  rotate by 1            {t_rot}   {p_rot}");
    println!("  rescale                {t_rescale}");
    println!("  multiply + relinearize + rescale, fused {t_fused}   {p_fused}");
    Ok(())
}
