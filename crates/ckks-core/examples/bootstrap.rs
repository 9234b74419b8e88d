//! Bootstraps a full-slot ciphertext and prints the parameter set, slots, levels before and
//! after, precision (min, mean, median bits, real and imaginary), latency on one and two
//! threads, key sizes and peak memory.
//!
//! ```text
//! cargo run --release -p ckks-core --example bootstrap            # N = 2^13
//! cargo run --release -p ckks-core --example bootstrap -- 14      # N = 2^14 (any 11..=16)
//! ```
//!
//! The user key is dense ternary; bootstrapping encapsulates it in an ephemeral sparse key
//! (h = 32) whose switching key lives over `q_0 P` only. The chain (log2 QP about 1162) is
//! 128-bit secure for the user key by the standard's table at N = 2^16 only; smaller rings get
//! `-insecure` in the set's name. No estimate of the ephemeral key's security is given yet.

use ckks_core::circuits::{BootstrapConfig, Bootstrapper, EncapsulationKeys};
use ckks_core::ckks::serialize::to_bytes;
use ckks_core::ckks::{
    Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, ParametersBuilder, PrecisionStats,
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
    let log_n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(13);
    if !(11..=16).contains(&log_n) {
        return Err("log N must be in 11..=16".into());
    }
    let config = BootstrapConfig::default();
    // q_0 | 2 levels at 2^50 | SlotToCoeff | EvalMod (60-bit, working scale q_0) | CoeffToSlot
    let mut log_q = vec![60, 50, 50];
    log_q.extend(vec![55; config.stc_levels]);
    log_q.extend(vec![60; config.eval_mod_depth()?]);
    log_q.extend(vec![58; config.cts_levels]);
    let name = if log_n == 16 {
        "BTS-N16".to_string()
    } else {
        format!("BTS-N{log_n}-insecure")
    };
    let params = ParametersBuilder::new(name)
        .log_n(log_n)
        .log_q(&log_q)
        .log_p(&[61, 61, 61])
        .log_scale(50.0)
        .build()?;
    let slots = params.max_slots();
    println!(
        "set {}: N = 2^{}, {} slots, log2 QP = {:.0} (128-bit bound {:?}), dnum = {}, scale 2^50, q_0 = 2^60, dense user key, ephemeral h = 32",
        params.name(),
        log_n,
        slots,
        params.log_qp(),
        ckks_core::ckks::security_bound(log_n),
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
    let encapsulation = EncapsulationKeys::generate(&mut kg, &sk, 32);
    println!(
        "key generation: {:.2} s ({} rotation keys + conjugation + relinearization)",
        t.elapsed().as_secs_f64(),
        bts.rotations().len()
    );
    let key_bytes = to_bytes(&ctx, &keys)?.len();
    println!(
        "evaluation keys: {:.1} MiB serialized (seeded)",
        key_bytes as f64 / (1 << 20) as f64
    );
    let eval = Evaluator::new(&ctx, keys);
    let x: Vec<Complex64> = (0..slots)
        .map(|i| {
            Complex64::new(
                (i as f64 * 0.013).sin() * 0.9,
                (i as f64 * 0.007).cos() * 0.9,
            )
        })
        .collect();
    let pt = ctx.encode(&x, slots, 0, params.default_scale())?;
    let ct = Encryptor::with_secret_key(&ctx, &sk).encrypt(&pt)?;
    let dec = Decryptor::new(&ctx, &sk);
    let mut last = None;
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let t = Instant::now();
        let out = pool.install(|| bts.bootstrap(&eval, Some(&encapsulation), &ct))?;
        println!(
            "bootstrap, {threads} thread(s): {:.2} s",
            t.elapsed().as_secs_f64()
        );
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
