//! Criterion benchmarks of the leveled CKKS operations at N = 2^14, 2^15, 2^16 with 10
//! ciphertext primes (all sets 128-bit secure), on one and on two threads.
//!
//! ```text
//! cargo bench -p ckks-core --bench ckks                 # everything
//! cargo bench -p ckks-core --bench ckks -- 'N=2\^16'     # one ring size
//! ```

use ckks_core::ckks::{
    Context, Encryptor, EvaluationKeys, Evaluator, Parameters, ParametersBuilder, Preset,
};
use ckks_core::ring::{Basis, Form};
use ckks_core::Complex64;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The 10-prime benchmark sets: N = 2^16 is the `N16L9` preset; the smaller rings use the same
/// shape scaled to their security bound.
fn bench_params(log_n: u32) -> Parameters {
    match log_n {
        14 => ParametersBuilder::new("BENCH-N14-L10")
            .log_n(14)
            .log_q(&[38, 34, 34, 34, 34, 34, 34, 34, 34, 34])
            .log_p(&[45, 45])
            .dnum(5)
            .log_scale(34.0)
            .build(),
        15 => ParametersBuilder::new("BENCH-N15-L10")
            .log_n(15)
            .log_q(&[55, 45, 45, 45, 45, 45, 45, 45, 45, 45])
            .log_p(&[50, 50, 50, 50, 50])
            .dnum(2)
            .log_scale(45.0)
            .build(),
        _ => Preset::N16L9.build(),
    }
    .expect("benchmark parameters are valid and secure")
}

const HOISTED_STEPS: [i64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn bench_ring(c: &mut Criterion, log_n: u32) {
    let params = bench_params(log_n);
    let ctx = Context::new(&params).expect("context");
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let pk = kg.public_key(&sk);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &HOISTED_STEPS, false);
    let eval = Evaluator::new(&ctx, keys);
    let slots = params.max_slots();
    let values: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new((i as f64).sin(), 0.5))
        .collect();
    let scale = params.default_scale();
    let top = ctx.max_level();
    let pt = ctx.encode(&values, slots, top, scale).expect("encode");
    let mut enc = Encryptor::with_public_key(&ctx, &pk);
    let ct = enc.encrypt(&pt).expect("encrypt");
    let prod = eval.mul_relin(&ct, &ct).expect("mul");
    let ring = ctx.ring().clone();
    let plan = tfhe_ntt::prime64::Plan::try_new(params.n(), params.q()[0]).expect("plan");
    let limb: Vec<u64> = (0..params.n() as u64)
        .map(|i| i * 7919 % params.q()[0])
        .collect();

    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let mut g = c.benchmark_group(format!("N=2^{log_n} L=10/{threads} thread(s)"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        {
            if threads == 1 {
                g.bench_function("ntt (raw tfhe-ntt, 1 prime)", |b| {
                    b.iter_batched_ref(
                        || limb.clone(),
                        |l| pool.install(|| plan.fwd(l)),
                        BatchSize::LargeInput,
                    )
                });
                g.bench_function("ntt (ckks-core ring, 1 prime)", |b| {
                    b.iter_batched_ref(
                        || {
                            let mut p = ring.zero(Basis::q(0), Form::Coeff);
                            p.data_mut().copy_from_slice(&limb);
                            p
                        },
                        |p| pool.install(|| ring.ntt(p)),
                        BatchSize::LargeInput,
                    )
                });
            }
            g.bench_function("ntt (10 primes)", |b| {
                b.iter_batched_ref(
                    || {
                        let mut p = pt.clone().into_poly();
                        ring.intt(&mut p);
                        p
                    },
                    |p| pool.install(|| ring.ntt(p)),
                    BatchSize::LargeInput,
                )
            });
            g.bench_function("encode", |b| {
                b.iter(|| pool.install(|| ctx.encode(&values, slots, top, scale).expect("encode")))
            });
            g.bench_function("encrypt (public key)", |b| {
                b.iter(|| pool.install(|| enc.encrypt(&pt).expect("encrypt")))
            });
            g.bench_function("multiply + relinearize", |b| {
                b.iter(|| pool.install(|| eval.mul_relin(&ct, &ct).expect("mul")))
            });
            g.bench_function("rescale", |b| {
                b.iter(|| pool.install(|| eval.rescale(&prod).expect("rescale")))
            });
            g.bench_function("rotate", |b| {
                b.iter(|| pool.install(|| eval.rotate(&ct, 1).expect("rotate")))
            });
            g.bench_function("hoisted rotations (8 steps)", |b| {
                b.iter(|| {
                    pool.install(|| eval.rotate_hoisted(&ct, &HOISTED_STEPS).expect("rotate"))
                })
            });
        }
        g.finish();
    }
}

fn benches(c: &mut Criterion) {
    for log_n in [14, 15, 16] {
        bench_ring(c, log_n);
    }
}

criterion_group!(ckks, benches);
criterion_main!(ckks);
