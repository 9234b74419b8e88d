//! Bootstraps a full-slot ciphertext and prints the parameter set, slots, levels before and
//! after, precision (min, mean, median bits, real and imaginary), latency on one and two
//! threads with the time of each step, key sizes and peak memory.
//!
//! ```text
//! cargo run --release -p ckks-core --example bootstrap                  # N = 2^16, BTS-N16-L9
//! cargo run --release -p ckks-core --example bootstrap -- 13            # any log N in 11..=16
//! cargo run --release -p ckks-core --example bootstrap -- 13 smooth     # smooth input
//! cargo run --release -p ckks-core --example bootstrap -- 13 random iterated
//! cargo run --release -p ckks-core --example bootstrap -- 13 random cosine
//! cargo run --release -p ckks-core --example bootstrap -- 16 q0=60 evalmod=61 cts=57
//! ```
//!
//! `threads=1` (or `threads=2`) runs only that thread count instead of both (for profiling).
//! `full-keys` generates every Galois key for the whole chain (the former default) instead of
//! each only up to the highest level it serves ([`Bootstrapper::generate_keys`]).
//! `compact-keys` drops the uniform halves of the Galois keys from memory (expanded again from
//! their seeds inside each rotation: `EvaluationKeys::drop_galois_uniform_halves`).
//! `slots=` bootstraps fewer slots (a power of two below `N/2`: trace, one EvalMod).
//! `q0=`, `evalmod=` and `cts=` override the bit sizes of `q_0`, of the EvalMod primes and of
//! the CoeffToSlot primes (the set must stay within the security bound at `N = 2^16`).
//!
//! Input: `random` (default) draws real and imaginary parts uniformly in `[-1, 1]` (seeded), as
//! Lattigo's bootstrapping tests do; `smooth` is a slowly varying signal, whose few large
//! encoding coefficients are the hard case for EvalMod's sine (its `ε^3` error); it is run
//! with the arcsine correction.
//!
//! The user key is dense ternary; bootstrapping encapsulates it in an ephemeral sparse key
//! (h = 32) whose switching key lives over `q_0 P` only. The chain is
//! [`BootstrapPreset::N16`]'s layout at every `N`; it is 128-bit secure for the user key by the
//! standard's table at `N = 2^16` only, and smaller rings get `-insecure` in the set's name.

use ckks_core::circuits::{
    BootstrapConfig, BootstrapParametersBuilder, Bootstrapper, EncapsulationKeys, EvalModConfig,
};
use ckks_core::ckks::serialize::to_bytes;
use ckks_core::ckks::{Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, PrecisionStats};
use ckks_core::Complex64;
use rand::{Rng, SeedableRng};
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let log_n: u32 = args.first().map(|a| a.parse()).transpose()?.unwrap_or(16);
    if !(11..=16).contains(&log_n) {
        return Err("log N must be in 11..=16".into());
    }
    let smooth = args.iter().any(|a| a == "smooth");
    let iterated = args.iter().any(|a| a == "iterated");
    let cosine = args.iter().any(|a| a == "cosine");
    let mut eval_mod = EvalModConfig::default();
    if cosine {
        (eval_mod.degree, eval_mod.double_angle, eval_mod.baby_log) = (63, 2, 3);
    }
    if smooth {
        eval_mod.arcsine_degree = 3;
    }
    let config = BootstrapConfig {
        eval_mod,
        ..Default::default()
    };
    let name = if log_n == 16 {
        "BTS-N16-L9".to_string()
    } else {
        format!("BTS-N{log_n}-L9-insecure")
    };
    let bits = |key: &str, default: u32| -> Result<u32, Box<dyn std::error::Error>> {
        match args.iter().find_map(|a| a.strip_prefix(key)) {
            Some(v) => Ok(v.parse()?),
            None => Ok(default),
        }
    };
    let set = BootstrapParametersBuilder::new(name, log_n)
        .log_q0(bits("q0=", 58)?)
        .circuit_primes(50, bits("evalmod=", 61)?, bits("cts=", 57)?)
        .config(config)
        .build()?;
    let params = &set.params;
    let slots = bits("slots=", params.max_slots() as u32)? as usize;
    println!(
        "set {}: N = 2^{log_n}, {slots} slots, log2 QP = {:.0} (128-bit bound {:?}), {} primes + {} special, dnum = {}, scale 2^{}, q_0 = 2^{:.0}",
        params.name(),
        params.log_qp(),
        ckks_core::ckks::security_bound(log_n),
        params.q().len(),
        params.p().len(),
        params.dnum(),
        params.log_scale(),
        (params.q()[0] as f64).log2(),
    );
    println!(
        "EvalMod: {:?}; dense user key, ephemeral h = {} over log2(q_0 P) = {:.0}; failure probability per bootstrap <= 2^{:.1}",
        config.eval_mod,
        set.ephemeral_weight,
        set.ephemeral_log_modulus(),
        set.failure_probability().log2()
    );
    let ctx = Context::new(params)?;
    let t = Instant::now();
    let bts = Bootstrapper::with_slots(&ctx, config, slots)?;
    println!("precomputation: {:.2} s", t.elapsed().as_secs_f64());
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let t = Instant::now();
    let mut keys = if args.iter().any(|a| a == "full-keys") {
        EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &bts.rotations(), true)
    } else {
        bts.generate_keys(&mut kg, &sk)
    };
    if args.iter().any(|a| a == "compact-keys") {
        keys.drop_galois_uniform_halves();
    }
    let encapsulation = EncapsulationKeys::generate(&mut kg, &sk, set.ephemeral_weight);
    println!(
        "key generation: {:.2} s ({} rotation keys + conjugation + relinearization)",
        t.elapsed().as_secs_f64(),
        bts.rotations().len()
    );
    let mut by_level = std::collections::BTreeMap::<usize, usize>::new();
    for g in keys.galois.values() {
        *by_level.entry(g.level()).or_default() += 1;
    }
    println!("Galois keys by level (level: count): {by_level:?}");
    let eval = Evaluator::new(&ctx, keys);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let x: Vec<Complex64> = (0..slots)
        .map(|i| {
            if smooth {
                let t = i as f64;
                Complex64::new((t * 0.013).sin() * 0.9, (t * 0.007).cos() * 0.9)
            } else {
                Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0))
            }
        })
        .collect();
    let pt = ctx.encode(&x, slots, 0, params.default_scale())?;
    let ct = Encryptor::with_secret_key(&ctx, &sk).encrypt(&pt)?;
    let dec = Decryptor::new(&ctx, &sk);
    let mut last = None;
    // `threads=1` (or `threads=2`) runs one configuration only (profiling)
    let thread_counts: Vec<usize> = match bits("threads=", 0)? {
        0 => vec![1, 2],
        t => vec![t as usize],
    };
    for threads in thread_counts {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let t = Instant::now();
        let out = if iterated {
            pool.install(|| bts.bootstrap_iterated(&eval, Some(&encapsulation), &ct, 20))?
        } else {
            let (out, steps) =
                pool.install(|| bts.bootstrap_timed(&eval, Some(&encapsulation), &ct))?;
            println!(
                "  steps: ModRaise {:.2} s, CoeffToSlot {:.2} s, EvalMod {:.2} s, SlotToCoeff {:.2} s",
                steps.mod_raise.as_secs_f64(),
                steps.coeff_to_slot.as_secs_f64(),
                steps.eval_mod.as_secs_f64(),
                steps.slot_to_coeff.as_secs_f64()
            );
            out
        };
        println!(
            "bootstrap{}, {threads} thread(s): {:.2} s",
            if iterated { " (iterated)" } else { "" },
            t.elapsed().as_secs_f64()
        );
        last = Some(out);
    }
    let out = last.ok_or("no result")?;
    println!("levels: {} before -> {} after", ct.level(), out.level());
    let stats = PrecisionStats::compare(&x, &dec.decrypt_values(&out)?);
    println!("{stats}");
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory (bootstrapping): {mib:.0} MiB");
    }
    // key by key: serializing all keys at once holds their encoded copies together (several
    // GiB at N = 2^16), which would make this line the process's memory peak
    let keys = eval.keys();
    let mut key_bytes = match &keys.relin {
        Some(r) => to_bytes(&ctx, r)?.len(),
        None => 0,
    };
    for g in keys.galois.values() {
        key_bytes += to_bytes(&ctx, g)?.len();
    }
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "evaluation keys: {:.1} MiB serialized (seeded, key by key), {:.1} MiB in memory (unseeded; encapsulation keys {:.1} MiB more)",
        mib(key_bytes),
        mib(keys.memory_bytes()),
        mib(encapsulation.memory_bytes()),
    );
    Ok(())
}
