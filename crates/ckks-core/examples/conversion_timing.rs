//! Times the fast basis conversion alone (`BasisExtender::extend`), the kernel of ModUp and
//! ModDown, on one thread: the minimum over repetitions, so that a loaded machine disturbs it
//! least.
//!
//! ```text
//! cargo run --release -p ckks-core --example conversion_timing -- [log N] [reps]
//! CKKS_CORE_NO_AVX2=1 target/release/examples/conversion_timing 12     # scalar path
//! ```
//!
//! Shapes of `Preset::N16L9`'s key switching: ModUp of one digit (5 primes of 50 bits to 5
//! other ciphertext primes and 5 special primes of 61 bits, fast conversion) and ModDown
//! (5 special primes to 10 ciphertext primes, exact centered conversion). At `log N = 12` the
//! inputs and outputs stay in the core's L2 cache; at 16 they do not.

use ckks_core::ring::basis::{BasisExtender, Conversion};
use ckks_core::ring::primes::generate_primes;
use ckks_core::ring::Modulus;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let log_n: u32 = args.next().map_or(Ok(16), |a| a.parse())?;
    let reps: usize = args.next().map_or(Ok(40), |a| a.parse())?;
    let n = 1usize << log_n;
    let moduli = |bits, count| -> Result<Vec<Modulus>, Box<dyn std::error::Error>> {
        Ok(generate_primes(bits, n, count, &[])?
            .into_iter()
            .map(Modulus::new)
            .collect())
    };
    let (q, p) = (moduli(50, 10)?, moduli(61, 5)?);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let shapes = [
        (
            "ModUp, 5 -> 10, fast",
            &q[..5],
            [&q[5..], &p[..]].concat(),
            Conversion::Fast,
        ),
        (
            "ModDown, 5 -> 10, exact",
            &p[..],
            q.clone(),
            Conversion::CenteredExact,
        ),
    ];
    for (name, src, dst, mode) in shapes {
        let ext = BasisExtender::new(src, &dst);
        let input: Vec<u64> = (0..src.len() * n)
            .map(|i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % src[i / n].value())
            .collect();
        let mut out = vec![0u64; dst.len() * n];
        let targets: Vec<usize> = (0..dst.len()).collect();
        let best = (0..reps)
            .map(|_| {
                let t = Instant::now();
                pool.install(|| {
                    let mut outs: Vec<&mut [u64]> = out.chunks_mut(n).collect();
                    ext.extend(&input, n, &targets, &mut outs, mode);
                });
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let checksum = out.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        println!(
            "{name}: {:.3} ms (min of {reps}), {:.2} ns per output, checksum {checksum:016x}",
            best * 1e3,
            best * 1e9 / (dst.len() * n) as f64
        );
    }
    Ok(())
}
