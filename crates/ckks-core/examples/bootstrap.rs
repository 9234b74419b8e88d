//! Bootstraps a full-slot ciphertext and prints the parameter set, slots, levels before and
//! after, precision (min, mean, median bits, real and imaginary), latency on one and two
//! threads, key sizes and peak memory.
//!
//! ```text
//! cargo run --release -p ckks-core --example bootstrap            # N = 2^13
//! cargo run --release -p ckks-core --example bootstrap -- 14      # N = 2^14 (any 11..=16)
//! ```
//!
//! The set is **not 128-bit secure** and says so in its name: bootstrapping here still needs
//! a sparse secret (h = 32) for the user key itself; the secure version (a dense user key with
//! an ephemeral sparse key inside bootstrapping) is not built yet.

use ckks_core::circuits::{BootstrapConfig, Bootstrapper};
use ckks_core::ckks::serialize::to_bytes;
use ckks_core::ckks::{
    Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, ParametersBuilder, PrecisionStats, SecretDistribution,
};
use ckks_core::Complex64;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log_n: u32 = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(13);
    if !(11..=16).contains(&log_n) {
        return Err("log N must be in 11..=16".into());
    }
    let config = BootstrapConfig::default();
    // q_0 | 2 levels at 2^50 | SlotToCoeff | EvalMod (60-bit, working scale q_0) | CoeffToSlot
    let mut log_q = vec![60, 50, 50];
    log_q.extend(vec![55; config.stc_levels]);
    log_q.extend([60; 8]);
    log_q.extend(vec![58; config.cts_levels]);
    let params = ParametersBuilder::new(format!("BTS-N{log_n}-h32-insecure"))
        .log_n(log_n)
        .log_q(&log_q)
        .log_p(&[61, 61, 61])
        .log_scale(50.0)
        .secret(SecretDistribution::HammingWeight(32))
        .build()?;
    let slots = params.max_slots();
    println!(
        "set {}: N = 2^{}, {} slots, log2 QP = {:.0}, dnum = {}, scale 2^50, q_0 = 2^60 (NOT 128-bit secure: sparse user secret)",
        params.name(),
        log_n,
        slots,
        params.log_qp(),
        params.dnum()
    );
    let ctx = Context::new(&params)?;
    let t = Instant::now();
    let bts = Bootstrapper::new(&ctx, config)?;
    println!("precomputation: {:.2} s", t.elapsed().as_secs_f64());
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let t = Instant::now();
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &bts.rotations(), true);
    println!(
        "key generation: {:.2} s ({} rotation keys + conjugation + relinearization)",
        t.elapsed().as_secs_f64(),
        bts.rotations().len()
    );
    let key_bytes = to_bytes(&ctx, &keys)?.len();
    println!("evaluation keys: {:.1} MiB serialized (seeded)", key_bytes as f64 / (1 << 20) as f64);
    let eval = Evaluator::new(&ctx, keys);
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.013).sin() * 0.9, (i as f64 * 0.007).cos() * 0.9))
        .collect();
    let pt = ctx.encode(&x, slots, 0, params.default_scale())?;
    let ct = Encryptor::with_secret_key(&ctx, &sk).encrypt(&pt)?;
    let dec = Decryptor::new(&ctx, &sk);
    let mut last = None;
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        let t = Instant::now();
        let out = pool.install(|| bts.bootstrap(&eval, &ct))?;
        println!("bootstrap, {threads} thread(s): {:.2} s", t.elapsed().as_secs_f64());
        last = Some(out);
    }
    let out = last.ok_or("no result")?;
    println!("levels: {} before -> {} after", ct.level(), out.level());
    let stats = PrecisionStats::compare(&x, &dec.decrypt_values(&out)?);
    println!("{stats}");
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory: {mib:.0} MiB");
    }
    Ok(())
}
