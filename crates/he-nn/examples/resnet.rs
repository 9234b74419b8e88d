//! Full-size encrypted ResNet on a 4x32x32 input with 14 outputs, at the 128-bit bootstrapping
//! preset `BTS-N16-L9` (N = 2^16): plan (level trace, bootstraps, rotation keys and their
//! levels, memory), keys, encrypted inference with per-step times, and the error against the
//! plaintext `f64` reference.
//!
//! ```text
//! cargo run --release -p he-nn --example resnet -- plan                 # plan only (seconds)
//! cargo run --release -p he-nn --example resnet                         # ResNet-20, one image
//! cargo run --release -p he-nn --example resnet -- model=resnet20-se
//! cargo run --release -p he-nn --example resnet -- model=resnet20-1conv
//! ```
//!
//! Options: `model=resnet20|resnet20-se|resnet20-1conv|resnet32|...` (random weights, seeded;
//! SE with reduction 4), `level=` input level (default: the top of the chain), `logscale=`
//! working scale (default 45), `budget=` MiB of encoded diagonals (default 0; the rest are
//! encoded during inference), `bts=encoded|deferred` how the bootstrapper holds its
//! CoeffToSlot / SlotToCoeff diagonals (default deferred), `compact=<level>|none` the lowest
//! level whose bootstrapping-only Galois keys keep only seeds for their uniform halves
//! (default 0: all of them), `seed=`, `full-slot-bootstrap` (bootstrap all `N/2` slots
//! instead of the tensors' period).

use ckks_core::circuits::{BootstrapConfig, BootstrapPreset, DiagonalStorage};
use ckks_core::ckks::{Decryptor, Encryptor, PrecisionStats};
use ckks_core::Complex64;
use he_nn::zoo::{calibrate_batch_norm, resnet, RandomInit, ResNetConfig};
use he_nn::{CompileOptions, EncryptedModel, Shape, Tensor};
use std::collections::BTreeMap;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident memory of this process (Linux `VmHWM`), in GiB.
fn peak_memory_gib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / (1 << 20) as f64)
}

fn gib(bytes: usize) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn config(name: &str) -> Result<ResNetConfig, String> {
    let input = Shape::new(4, 32, 32);
    let (base, se) = match name.strip_suffix("-se") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let (base, one) = match base.strip_suffix("-1conv") {
        Some(b) => (b, true),
        None => (base, false),
    };
    let depth: usize = base
        .strip_prefix("resnet")
        .and_then(|d| d.parse().ok())
        .filter(|d| d % 6 == 2 && *d >= 8)
        .ok_or_else(|| format!("unknown model {name} (resnet<6n+2>[-1conv][-se])"))?;
    let mut cfg = ResNetConfig::depth(depth, input, 14);
    if one {
        cfg = cfg.one_conv();
    }
    if se {
        cfg = cfg.with_se(4);
    }
    Ok(cfg)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |key: &str| args.iter().find_map(|a| a.strip_prefix(key));
    let plan_only = args.iter().any(|a| a == "plan");
    let cfg = config(opt("model=").unwrap_or("resnet20"))?;
    let seed: u64 = opt("seed=").map(str::parse).transpose()?.unwrap_or(7);
    let log_scale: Option<f64> = opt("logscale=").map(str::parse).transpose()?;
    let budget: Option<usize> = opt("budget=").map(str::parse).transpose()?;
    let bts_storage = match opt("bts=") {
        None => None,
        Some("encoded") => Some(DiagonalStorage::Encoded),
        Some("deferred") => Some(DiagonalStorage::Deferred),
        Some(other) => return Err(format!("bts={other}: encoded or deferred").into()),
    };

    let mut init = RandomInit::new(seed);
    let mut model = resnet(&cfg, &mut init);
    // batch-norm statistics from 8 random inputs, as training would set them
    let calibration: Vec<Tensor> = (0..8)
        .map(|_| Tensor::new(model.input, init.uniform(model.input.len(), 1.0)))
        .collect::<Result<_, _>>()?;
    calibrate_batch_norm(&mut model, &calibration)?;
    let set = BootstrapPreset::N16.build()?;
    // he-nn's full-size options, with any of them overridden
    let mut options = CompileOptions::full_size(&set);
    if let Some(l) = log_scale {
        options = options.scale(l.exp2());
    }
    if let Some(mib) = budget {
        options = options.encoded_budget(mib << 20);
    }
    match opt("compact=") {
        None => {}
        Some("none") => options = options.no_compact_keys(),
        Some(l) => options = options.compact_keys_from(l.parse()?),
    }
    if let (Some(storage), Some(config)) = (bts_storage, options.bootstrap) {
        options = options.bootstrap(BootstrapConfig {
            diagonals: storage,
            ..config
        });
    }
    if let Some(l) = opt("level=") {
        options = options.input_level(l.parse()?);
    }
    if args.iter().any(|a| a == "full-slot-bootstrap") {
        options = options.full_slot_bootstrap();
    }
    println!(
        "model {} (random weights, seed {seed}), input {}, 14 outputs",
        model.name, model.input
    );
    println!(
        "parameters {} (N = 2^{}, log2 QP = {:.0}, 128-bit by the standard's table for the dense user key), \
         ephemeral key h = {}, bootstrap failure probability <= 2^{:.1}, working scale 2^{:.0}",
        set.params.name(),
        set.params.n().trailing_zeros(),
        set.params.log_qp(),
        set.ephemeral_weight,
        set.failure_probability().log2(),
        options.scale.map_or(set.params.log_scale(), f64::log2),
    );
    let t = Instant::now();
    let plan = EncryptedModel::compile(&model, &set.params, &options)?;
    println!("compile: {:.1} s", t.elapsed().as_secs_f64());
    println!("{}", plan.report());
    let mut by_level: BTreeMap<usize, usize> = BTreeMap::new();
    for &l in plan.rotation_levels().values() {
        *by_level.entry(l).or_default() += 1;
    }
    println!(
        "rotation keys by level (level: count): {by_level:?}; keys in memory {:.2} GiB; diagonals {:.2} GiB",
        gib(plan.key_memory_bytes()),
        gib(plan.diagonal_bytes())
    );
    println!(
        "depth {} levels, {} bootstraps, input level {}, output level {}",
        plan.depth(),
        plan.bootstraps(),
        plan.input_level(),
        plan.output_level()
    );
    if plan_only {
        return Ok(());
    }

    let ctx = plan.context().clone();
    let t = Instant::now();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    println!(
        "keys: {:.1} s, {:.2} GiB in memory",
        t.elapsed().as_secs_f64(),
        gib(server.memory_bytes())
    );
    let x = Tensor::new(model.input, init.uniform(model.input.len(), 1.0))?;
    let ct = plan.encrypt_input(
        &mut Encryptor::with_secret_key(&ctx, &sk),
        std::slice::from_ref(&x),
    )?;
    let t = Instant::now();
    let total_steps = plan.trace().len();
    let mut done = 0;
    let (out, trace) = plan.infer_observed(&ct, &server, &mut |e| {
        done += 1;
        eprintln!(
            "[{done}/{total_steps}] {} {} {:.1} s",
            e.step.kind, e.step.name, e.seconds
        );
    })?;
    let total = t.elapsed().as_secs_f64();
    let got = plan.decrypt_logits(&Decryptor::new(&ctx, &sk), &out, 1)?;
    let want = model.forward(&x)?;
    let max_err = got[0]
        .iter()
        .zip(&want.data)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    let stats = PrecisionStats::compare_real(
        &want.data,
        &got[0]
            .iter()
            .map(|&v| Complex64::new(v, 0.0))
            .collect::<Vec<_>>(),
    );
    let mut kinds: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for e in &trace {
        if !matches!(e.step.kind.as_str(), "residual-add" | "gate") {
            let k = kinds.entry(e.step.kind.clone()).or_default();
            k.0 += 1;
            k.1 += e.seconds;
        }
    }
    println!(
        "inference: {total:.1} s on {} threads",
        rayon::current_num_threads()
    );
    for (kind, (count, secs)) in &kinds {
        println!("  {kind:<12} {count:>3} steps {secs:>8.1} s");
    }
    println!("logits (reference | encrypted):");
    for (w, g) in want.data.iter().zip(&got[0]) {
        println!("  {w:>12.6} | {g:>12.6}");
    }
    println!(
        "max |encrypted - reference| = {max_err:.3e}; bits {}",
        stats.real
    );
    if let Some(g) = peak_memory_gib() {
        println!("peak memory: {g:.2} GiB");
    }
    Ok(())
}
