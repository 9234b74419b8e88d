//! Label frequencies and generation speed of the synthetic phantom set, as Markdown.
//!
//! ```text
//! cargo run --release -p med-data --example phantom_stats -- [COUNT] > docs/results/med-data-phantoms.md
//! ```
//!
//! Generates `COUNT` (default 2000) 256x256 phantoms with seed 0 and NIH joint labels,
//! and compares their label frequencies and the co-occurrence of the strongest pairs with
//! the NIH ChestX-ray14 table the labels are sampled from.

use med_data::labels::{LabelStats, NIH_FINDINGS};
use med_data::phantom::PhantomGenerator;

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let g = PhantomGenerator::new(0);
    let stats = LabelStats::nih();
    let mut freq = [0u64; 14];
    let mut co = [[0u64; 14]; 14];
    let mut none = 0u64;
    let mut per_image = Vec::new();
    let start = std::time::Instant::now();
    for i in 0..count {
        let t = std::time::Instant::now();
        let p = g.generate(i);
        per_image.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(p.synthetic);
        none += (!p.labels.iter().any(|&b| b)) as u64;
        for a in 0..14 {
            if p.labels[a] {
                freq[a] += 1;
                for (c, &on) in co[a].iter_mut().zip(&p.labels) {
                    *c += on as u64;
                }
            }
        }
    }
    let total = start.elapsed().as_secs_f64();
    per_image.sort_by(f64::total_cmp);
    let median = per_image[per_image.len() / 2];
    println!("# Synthetic chest phantoms: label statistics and speed\n");
    println!(
        "SYNTHETIC DATA, not patient data. {count} phantoms, 256x256, seed 0, labels sampled from the \
         NIH ChestX-ray14 label-set distribution (`LabelSource::NihJoint`). Written by \
         `cargo run --release -p med-data --example phantom_stats -- {count}`.\n"
    );
    println!(
        "Generation: {total:.1} s in all, median {median:.1} ms per phantom, one thread \
         (2-core AMD EPYC Zen 3 development machine).\n"
    );
    println!("| finding | NIH prevalence | phantom frequency |");
    println!("|---|---:|---:|");
    println!(
        "| No Finding | {:.3} | {:.3} |",
        stats.no_finding_fraction(),
        none as f64 / count as f64
    );
    for (k, name) in NIH_FINDINGS.iter().enumerate() {
        println!(
            "| {name} | {:.3} | {:.3} |",
            stats.prior(k),
            freq[k] as f64 / count as f64
        );
    }
    println!("\nStrongest co-occurring pairs in the NIH table (fraction of images with both):\n");
    println!("| pair | NIH | phantoms | NIH if independent |");
    println!("|---|---:|---:|---:|");
    let mut pairs: Vec<(usize, usize)> = (0..14)
        .flat_map(|a| ((a + 1)..14).map(move |b| (a, b)))
        .collect();
    pairs.sort_by_key(|&(a, b)| std::cmp::Reverse(stats.cooccurrence(a, b)));
    for &(a, b) in pairs.iter().take(8) {
        let nih = stats.cooccurrence(a, b) as f64 / stats.total() as f64;
        println!(
            "| {} + {} | {nih:.4} | {:.4} | {:.4} |",
            NIH_FINDINGS[a],
            NIH_FINDINGS[b],
            co[a][b] as f64 / count as f64,
            stats.prior(a) * stats.prior(b)
        );
    }
}
