//! Encode time of the shipped f = 8 model on a held-out real X-ray (256x256), one thread:
//! burn's forward pass (`Codec::encode_reference`) against the burn-free encoder
//! (`Codec::encode`, `latent_codec::fast`), interleaved call by call so that both see the
//! same load. Per call it records the wall-clock time and the CPU time of the calling thread
//! (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, precise to the scheduler's accounting), and
//! prints median and minimum of both.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --profile test -p latent-codec --example encode_bench -- --rounds 40
//! # one path only, for instruction counts:
//! RAYON_NUM_THREADS=1 valgrind --tool=callgrind target/debug/examples/encode_bench --only fast --rounds 5
//! ```

use std::time::Instant;

use clap::Parser;
use latent_codec::codec::cpu;
use latent_codec::data::real_split;
use latent_codec::{Codec, Result};

#[derive(Parser, Debug)]
struct Args {
    /// Timed calls per path (after one untimed warm-up call each).
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Run one path only: `fast` or `reference`.
    #[arg(long)]
    only: Option<String>,
    /// Weight file (default: the shipped f = 8 weights).
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant of Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Default)]
struct Times {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Times {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (c, t) = (thread_cpu_ns(), Instant::now());
        let out = f();
        self.wall.push(t.elapsed().as_secs_f64() * 1e3);
        self.cpu.push((thread_cpu_ns() - c) as f64 / 1e6);
        out
    }

    fn row(&self, name: &str) -> String {
        let stats = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.total_cmp(b));
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let (cm, cmin, cmax) = stats(&self.cpu);
        let (wm, wmin, _) = stats(&self.wall);
        format!(
            "| {name} | {} | {cm:.2} | {cmin:.2} | {cmax:.2} | {wm:.2} | {wmin:.2} |",
            self.cpu.len()
        )
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = cpu();
    let codec = match &args.weights {
        Some(p) => Codec::load(p, &device)?,
        None => Codec::shipped_f8(&device)?,
    };
    let (_, held_out) = real_split()?;
    let img = &held_out[0].image;
    let (run_ref, run_fast) = match args.only.as_deref() {
        None => (true, true),
        Some("fast") => (false, true),
        Some("reference") => (true, false),
        Some(o) => {
            return Err(latent_codec::CodecError::InvalidArgument(format!(
                "--only {o}: expected fast or reference"
            )))
        }
    };
    let (mut reference, mut fast) = (Times::default(), Times::default());
    let mut check = None;
    if run_ref {
        check = Some(codec.encode_reference(img)?);
    }
    if run_fast {
        let l = codec.encode(img)?;
        if let Some(r) = &check {
            let same = l.codes.indices == r.codes.indices;
            eprintln!("warm-up: indices identical: {same}");
        }
    }
    for round in 0..args.rounds {
        // Alternate which path goes first.
        for first in [round % 2 == 0, round % 2 == 1] {
            if first && run_ref {
                reference.time(|| codec.encode_reference(img))?;
            }
            if !first && run_fast {
                fast.time(|| codec.encode(img))?;
            }
        }
    }
    println!(
        "{} ({}x{}), one thread; ms per encode\n",
        held_out[0].id,
        img.width(),
        img.height()
    );
    println!("| path | calls | CPU median | CPU min | CPU max | wall median | wall min |");
    println!("|---|---|---|---|---|---|---|");
    if run_ref {
        println!("{}", reference.row("burn forward (encode_reference)"));
    }
    if run_fast {
        println!("{}", fast.row("im2col + gemm (encode)"));
    }
    Ok(())
}
