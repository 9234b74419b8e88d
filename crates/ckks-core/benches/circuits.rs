//! Criterion benchmarks of the circuits layer (single thread and two threads):
//!
//! * a dense 2^12 x 2^12 linear transform (N = 2^13 preset, 4096 slots, BSGS + hoisting),
//! * a 3x3-convolution-like transform (9 diagonals) over 2^15 slots (N = 2^16, 10 primes),
//! * polynomial evaluation of degree 3, 7, 63 and 127 (N = 2^16, 10 primes),
//! * one full-slot bootstrap with a dense key and encapsulation, on the `BTS-N16-L9` chain
//!   layout at N = 2^13 (insecure at that N; the N = 2^16 set itself, about a minute and
//!   11 GiB per bootstrap, is measured by `cargo run --release -p ckks-core --example
//!   bootstrap`). `BOOTSTRAP_LOG_N=16` selects another ring.
//!
//! ```text
//! cargo bench -p ckks-core --bench circuits
//! ```

use ckks_core::circuits::{
    BootstrapParametersBuilder, Bootstrapper, EncapsulationKeys, LinearTransform, Polynomial,
    PolynomialEvaluator,
};
use ckks_core::ckks::{Ciphertext, Context, Encryptor, EvaluationKeys, Evaluator, Preset};
use ckks_core::Complex64;
use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::BTreeMap;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Setup {
    ctx: Context,
    eval: Evaluator,
    ct: Ciphertext,
}

fn setup(preset: Preset, rotations: &[i64], slots: usize) -> Setup {
    let ctx = Context::new(&preset.build().expect("preset")).expect("context");
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, rotations, false);
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new(((i * 7) % 13) as f64 / 13.0 - 0.5, 0.0))
        .collect();
    let ct = Encryptor::with_secret_key(&ctx, &sk)
        .encrypt_values(&x, slots)
        .expect("encrypt");
    Setup {
        eval: Evaluator::new(&ctx, keys),
        ctx,
        ct,
    }
}

fn pools() -> Vec<(usize, rayon::ThreadPool)> {
    [1usize, 2]
        .into_iter()
        .map(|t| {
            (
                t,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .expect("pool"),
            )
        })
        .collect()
}

fn configure(
    c: &mut Criterion,
    name: String,
) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    g
}

fn dense_transform(c: &mut Criterion) {
    let slots = 1 << 12;
    let probe = Context::new(&Preset::N13.build().expect("preset")).expect("context");
    let level = probe.max_level();
    let scale = probe.params().q()[level] as f64;
    let matrix: Vec<Vec<Complex64>> = (0..slots)
        .map(|r| {
            (0..slots)
                .map(|s| Complex64::new((((r * 31 + s * 17) % 97) as f64) / 97.0 - 0.5, 0.0))
                .collect()
        })
        .collect();
    let rotations = LinearTransform::from_dense(&probe, &matrix, level, scale)
        .expect("lt")
        .rotations();
    let s = setup(Preset::N13, &rotations, slots);
    let lt = LinearTransform::from_dense(&s.ctx, &matrix, level, scale).expect("lt");
    drop(matrix);
    for (threads, pool) in pools() {
        let mut g = configure(c, format!("linear transform/{threads} thread(s)"));
        g.bench_function(
            format!("dense 4096x4096, N=2^13 ({} rotations)", rotations.len()),
            |b| b.iter(|| pool.install(|| lt.evaluate(&s.eval, &s.ct).expect("evaluate"))),
        );
        g.finish();
    }
}

fn conv_transform(c: &mut Criterion) {
    let (w, slots) = (128i64, 1usize << 15);
    let mut diagonals = BTreeMap::new();
    for dy in -1..=1 {
        for dx in -1..=1 {
            let off = (dy * w + dx).rem_euclid(slots as i64) as usize;
            diagonals.insert(
                off,
                vec![Complex64::new(0.1 * (1 + dx + dy * 3) as f64, 0.0); slots],
            );
        }
    }
    let probe = Context::new(&Preset::N16L9.build().expect("preset")).expect("context");
    let level = probe.max_level();
    let scale = probe.params().q()[level] as f64;
    let rotations = LinearTransform::from_diagonals(&probe, &diagonals, slots, level, scale)
        .expect("lt")
        .rotations();
    drop(probe);
    let s = setup(Preset::N16L9, &rotations, slots);
    let lt = LinearTransform::from_diagonals(&s.ctx, &diagonals, slots, level, scale).expect("lt");
    for (threads, pool) in pools() {
        let mut g = configure(c, format!("linear transform/{threads} thread(s)"));
        g.bench_function(
            format!(
                "3x3 conv (9 diagonals), N=2^16 ({} rotations)",
                rotations.len()
            ),
            |b| b.iter(|| pool.install(|| lt.evaluate(&s.eval, &s.ct).expect("evaluate"))),
        );
        g.finish();
    }
}

fn polynomials(c: &mut Criterion) {
    let s = setup(Preset::N16L9, &[], 1 << 15);
    let target = s.ctx.params().default_scale();
    for (threads, pool) in pools() {
        let mut g = configure(c, format!("polynomial/{threads} thread(s)"));
        for degree in [3usize, 7, 63, 127] {
            let poly = Polynomial::interpolate(
                |x: f64| (1.0 + (-4.0 * x).exp()).recip(),
                -1.0,
                1.0,
                degree,
            )
            .expect("interpolate");
            let pe = PolynomialEvaluator::new(&s.eval);
            g.bench_function(
                format!("Chebyshev degree {degree}, N=2^16 (depth {})", poly.depth()),
                |b| {
                    b.iter(|| pool.install(|| pe.evaluate(&s.ct, &poly, target).expect("evaluate")))
                },
            );
        }
        g.finish();
    }
}

fn bootstrap(c: &mut Criterion) {
    let log_n: u32 = std::env::var("BOOTSTRAP_LOG_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(13);
    let name = if log_n == 16 {
        "BTS-N16-L9".to_string()
    } else {
        format!("BTS-N{log_n}-L9-insecure")
    };
    let set = BootstrapParametersBuilder::new(name, log_n)
        .build()
        .expect("bootstrapping set");
    let ctx = Context::new(&set.params).expect("context");
    let bts = Bootstrapper::new(&ctx, set.config).expect("bootstrapper");
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &bts.rotations(), true);
    let encapsulation = EncapsulationKeys::generate(&mut kg, &sk, set.ephemeral_weight);
    let eval = Evaluator::new(&ctx, keys);
    let slots = set.params.max_slots();
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new(((i * 7) % 13) as f64 / 13.0 - 0.5, 0.0))
        .collect();
    let ct = Encryptor::with_secret_key(&ctx, &sk)
        .encrypt(
            &ctx.encode(&x, slots, 0, set.params.default_scale())
                .expect("encode"),
        )
        .expect("encrypt");
    for (threads, pool) in pools() {
        let mut g = configure(c, format!("bootstrap/{threads} thread(s)"));
        g.bench_function(format!("{}, {slots} slots", set.params.name()), |b| {
            b.iter(|| {
                pool.install(|| {
                    bts.bootstrap(&eval, Some(&encapsulation), &ct)
                        .expect("bootstrap")
                })
            })
        });
        g.finish();
    }
}

criterion_group!(
    circuits,
    polynomials,
    conv_transform,
    dense_transform,
    bootstrap
);
criterion_main!(circuits);
