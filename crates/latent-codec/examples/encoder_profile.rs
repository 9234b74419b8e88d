//! Where the encoder's time goes: the cost of each operation at the shapes of the f = 8
//! encoders (full-resolution taming-transformers layout and the patchify-stem one), and the
//! whole single-image encode of both layouts, interleaved so that both see the same load.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --profile test -p latent-codec --example encoder_profile
//! ```
//!
//! Timings only depend on the shapes, so the models are randomly initialised. The per-operation
//! rows and "encoder forward alone" are burn's; the final encode table runs `Codec::encode`,
//! which is the burn-free encoder (`latent_codec::fast`) for the patchify-stem layout and
//! burn's forward pass for the full-resolution one (it has self-attention). For the A/B of
//! the two paths on the shipped weights see `examples/encode_bench.rs`. On a shared
//! machine the wall-clock medians include waiting for a core; the encode table therefore
//! also gives the CPU time the process spent per encode (all its threads, from
//! `/proc/self/task/*/schedstat`, Linux only), which is what an idle core would take.

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::{Distribution, Tensor};
use latent_codec::codec::cpu;
use latent_codec::{Codec, CodecConfig, Result};
use med_data::GrayImage;

/// Median of `reps` timings of `f`, in milliseconds (one warm-up call first).
fn median_ms<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    let _ = f();
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            let _ = f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// CPU time of all threads of this process so far, in nanoseconds (Linux `schedstat`).
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, pad: usize) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(&cpu())
}

/// One row of the operation table: wall-clock median and mean process CPU time per call.
fn op(name: String, f: impl Fn() -> Tensor<4>) {
    let reps = 9;
    let before = process_cpu_ns().unwrap_or(0);
    let wall = median_ms(reps, || f().into_data());
    let cpu = (process_cpu_ns().unwrap_or(0) - before) as f64 / 1e6 / (reps + 1) as f64;
    println!("| {name} | {wall:.2} | {cpu:.2} |");
}

fn main() -> Result<()> {
    let d = cpu();
    println!("| operation (batch 1) | ms, wall (median) | ms, CPU (mean) |\n|---|---|---|");
    // (channels, side, output channels of the 3x3 convolution) as met in the encoders.
    for (c, s, cout) in [
        (16, 256, 16),
        (16, 128, 32),
        (32, 128, 32),
        (32, 64, 32),
        (64, 32, 64),
    ] {
        let x: Tensor<4> = Tensor::random([1, c, s, s], Distribution::Normal(0.0, 1.0), &d);
        let gn = GroupNormConfig::new(8, c).init(&d);
        op(format!("GroupNorm {c}x{s}x{s}"), || gn.forward(x.clone()));
        op(format!("swish {c}x{s}x{s}"), || {
            x.clone() * sigmoid(x.clone())
        });
        let cv = conv(c, cout, 3, 1, 1);
        op(format!("conv 3x3 {c}->{cout} at {s}x{s}"), || {
            cv.forward(x.clone())
        });
        let cv = conv(c, c, 3, 2, 1);
        op(format!("conv 3x3 stride 2 {c}->{c} at {s}x{s}"), || {
            cv.forward(x.clone())
        });
    }
    let img: Tensor<4> = Tensor::random([1, 1, 256, 256], Distribution::Normal(0.0, 1.0), &d);
    let stem = conv(1, 32, 4, 4, 0);
    op("patchify 4x4 stride 4, 1->32 at 256x256".into(), || {
        stem.forward(img.clone())
    });
    let (c, n) = (64, 1024);
    let q: Tensor<3> = Tensor::random([1, n, c], Distribution::Normal(0.0, 1.0), &d);
    let k: Tensor<3> = Tensor::random([1, c, n], Distribution::Normal(0.0, 1.0), &d);
    op("self-attention 64 channels, 32x32 positions".into(), || {
        let a = softmax(q.clone().matmul(k.clone()), 2);
        k.clone().matmul(a.swap_dims(1, 2)).reshape([1, c, 32, 32])
    });

    let image = GrayImage::from_fn(256, 256, |x, y| ((x * 7 + y * 3) % 256) as f32 / 255.0)?;
    let layouts = [
        ("full-resolution + attention", CodecConfig::full_encoder(8)?),
        ("patchify stem, no attention", CodecConfig::for_factor(8)?),
    ];
    let codecs = layouts
        .iter()
        .map(|(_, c)| Codec::random(c.clone(), 1, &d))
        .collect::<Result<Vec<_>>>()?;
    for ((name, _), codec) in layouts.iter().zip(&codecs) {
        let x = latent_codec::codec::image_to_tensor(&image, &d);
        op(format!("{name}: encoder forward alone"), || {
            codec.encode_tensor(x.clone())
        });
    }
    let z: Tensor<2> = Tensor::random([1024, 4], Distribution::Normal(0.0, 1.0), &d);
    let q = &codecs[1].model().quantizer;
    op("nearest code, 1024 positions x 1024 codes".into(), || {
        q.nearest(z.clone()).float().reshape([1, 1, 32, 32])
    });
    let rounds = 5;
    let mut times = vec![Vec::new(); codecs.len()];
    let mut cpu_ns = vec![0u64; codecs.len()];
    for _ in 0..rounds {
        for ((t, cpu), codec) in times.iter_mut().zip(&mut cpu_ns).zip(&codecs) {
            let before = process_cpu_ns().unwrap_or(0);
            t.push(median_ms(3, || codec.encode(&image)));
            *cpu += process_cpu_ns().unwrap_or(0) - before;
        }
    }
    println!(
        "\n| f = 8 encoder | parameters | encode ms, wall (median of {rounds} rounds) | encode ms, CPU (mean) |\n|---|---|---|---|"
    );
    for ((name, _), ((codec, mut t), cpu)) in
        layouts.iter().zip(codecs.iter().zip(times).zip(cpu_ns))
    {
        t.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {name} | {} | {:.1} | {:.1} |",
            codec.model().encoder.num_params(),
            t[t.len() / 2],
            cpu as f64 / 1e6 / (rounds * 4) as f64
        );
    }
    Ok(())
}
