//! Criterion benchmarks at the 128-bit preset `N14` (PN14-D7, 8192 slots), on one and on two
//! threads (separate rayon pools):
//!
//! * `product/*`: one batched geometric product (planar ct x ct and ct x pt over 8192
//!   multivectors, interleaved ct x ct and ct x pt over 1024) at level 5;
//! * `network/*`: the full 1 -> 16 -> 8 -> 3 network over a full batch of 8192 encrypted
//!   samples with encrypted weights (about 40 s per iteration on one thread; 10 samples).
//!
//! ```text
//! cargo bench -p geo-fhe --bench geo -- product     # products only
//! cargo bench -p geo-fhe --bench geo -- network     # the network (long)
//! ```

use ckks_core::ckks::{Context, Encryptor, EvaluationKeys, Evaluator, Preset};
use criterion::{criterion_group, criterion_main, Criterion};
use geo_fhe::algebra::{Multivector, BLADES};
use geo_fhe::data::{synthetic_dataset, Dataset, Standardizer};
use geo_fhe::encrypted::*;
use geo_fhe::network::{EncryptedModel, GeoNet, ProductMethod, TrainConfig, DEPTH};
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Setup {
    eval: Evaluator,
    enc: Encryptor,
    ctx: Context,
    slots: usize,
}

fn setup() -> Setup {
    let params = Preset::N14.build().expect("preset builds");
    let ctx = Context::new(&params).expect("context");
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let pk = kg.public_key(&sk);
    let keys = EvaluationKeys::generate(
        &ctx,
        &mut kg,
        &sk,
        true,
        &interleaved_rotation_steps(),
        false,
    );
    Setup {
        eval: Evaluator::new(&ctx, keys),
        enc: Encryptor::with_public_key(&ctx, &pk),
        slots: params.max_slots(),
        ctx,
    }
}

fn batch(n: usize, offset: usize) -> Vec<Multivector> {
    (0..n)
        .map(|i| {
            Multivector(std::array::from_fn(|c| {
                (((i + offset) * 8 + c) as f64 * 0.37).sin()
            }))
        })
        .collect()
}

fn products(c: &mut Criterion) {
    let mut s = setup();
    let (slots, level) = (s.slots, DEPTH);
    let scale = s.ctx.params().default_scale();
    let (a, b) = (batch(slots, 0), batch(slots, 1));
    let m = slots / BLADES;
    let ca = encrypt_planar(
        &mut s.enc,
        &encode_planar(&s.ctx, &a, slots, level, scale).unwrap(),
    )
    .unwrap();
    let cb = encrypt_planar(
        &mut s.enc,
        &encode_planar(&s.ctx, &b, slots, level, scale).unwrap(),
    )
    .unwrap();
    let pb = encode_planar(&s.ctx, &b, slots, level, s.ctx.params().q()[level] as f64).unwrap();
    let ia = s
        .enc
        .encrypt(&encode_interleaved(&s.ctx, &a[..m], slots, level, scale).unwrap())
        .unwrap();
    let ib = s
        .enc
        .encrypt(&encode_interleaved(&s.ctx, &b[..m], slots, level, scale).unwrap())
        .unwrap();
    let mut g = c.benchmark_group("product");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(format!("planar ct x ct 8192 threads={threads}"), |bch| {
            bch.iter(|| pool.install(|| gp_planar(&s.eval, &ca, &cb).unwrap()))
        });
        g.bench_function(format!("planar ct x pt 8192 threads={threads}"), |bch| {
            bch.iter(|| {
                pool.install(|| gp_planar_plain(&s.eval, &ca, &pb, PlainSide::Right).unwrap())
            })
        });
        g.bench_function(
            format!("interleaved ct x ct 1024 threads={threads}"),
            |bch| bch.iter(|| pool.install(|| gp_interleaved(&s.eval, &ia, &ib).unwrap())),
        );
        g.bench_function(
            format!("interleaved ct x pt 1024 threads={threads}"),
            |bch| {
                bch.iter(|| pool.install(|| gp_interleaved_plain(&s.eval, &ia, &b[..m]).unwrap()))
            },
        );
    }
    g.finish();
}

fn network(c: &mut Criterion) {
    let mut s = setup();
    let slots = s.slots;
    let train = synthetic_dataset(600, 12, 1);
    let test = synthetic_dataset(slots, 12, 2);
    let stdz = Standardizer::fit(&train.x);
    let norm = |d: &Dataset| Dataset {
        x: d.x.iter().map(|m| stdz.apply(m)).collect(),
        y: d.y.clone(),
    };
    let cfg = TrainConfig {
        epochs: 10,
        ..TrainConfig::default()
    };
    let (net, _) = GeoNet::train(&norm(&train), &cfg).unwrap();
    let scale = s.ctx.params().default_scale();
    let x = encrypt_planar(
        &mut s.enc,
        &encode_planar(&s.ctx, &norm(&test).x, slots, DEPTH, scale).unwrap(),
    )
    .unwrap();
    let model = EncryptedModel::encrypt(
        &net,
        &s.ctx,
        &mut s.enc,
        slots,
        DEPTH,
        scale,
        ProductMethod::Pauli,
    )
    .unwrap();
    let mut g = c.benchmark_group("network");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(
            format!("1-16-8-3 full batch 8192 threads={threads}"),
            |bch| bch.iter(|| pool.install(|| model.forward(&s.eval, &x).unwrap())),
        );
    }
    g.finish();
}

criterion_group!(benches, products, network);
criterion_main!(benches);
