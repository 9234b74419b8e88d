//! Write the labelled phantom figures used in `docs/med-data.md`.
//!
//! ```text
//! cargo run --release -p med-data --example phantoms [-- OUT_DIR [SEED]]
//! ```
//!
//! Writes `OUT_DIR/phantom_findings.png` (one phantom without findings and the same
//! phantom with each NIH finding alone), `OUT_DIR/phantom_grid.png` (16 phantoms with
//! label sets drawn from the NIH co-occurrence statistics, at least one finding each),
//! and prints the grid's ids and labels. Both figures say they are synthetic.

use med_data::figure::captioned_grid;
use med_data::io::{save_png, PngDepth};
use med_data::labels::NIH_FINDINGS;
use med_data::phantom::{LabelSource, PhantomConfig, PhantomGenerator};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "docs/img".into()));
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(7);
    std::fs::create_dir_all(&out)?;

    // 1. One anatomy, each finding alone.
    let generator = PhantomGenerator::new(seed);
    let index = 3;
    let mut tiles = vec![(
        generator.generate_with_labels(index, [false; 14]).image,
        "No Finding".to_string(),
    )];
    for (k, name) in NIH_FINDINGS.iter().enumerate() {
        let mut labels = [false; 14];
        labels[k] = true;
        tiles.push((
            generator.generate_with_labels(index, labels).image,
            name.replace('_', " "),
        ));
    }
    let fig = captioned_grid(
        &tiles,
        5,
        1,
        &[
            &format!("SYNTHETIC CHEST PHANTOMS - NOT PATIENT DATA (MED-DATA, SEED {seed}, INDEX {index})"),
            "ONE ANATOMY: NO FINDING, THEN EACH NIH FINDING ALONE",
        ],
    )?;
    let p = out.join("phantom_findings.png");
    save_png(&fig, &p, PngDepth::Eight)?;
    println!("wrote {}", p.display());

    // 2. Sixteen phantoms with NIH co-occurrence label sets.
    let config = PhantomConfig {
        labels: LabelSource::NihAbnormal,
        ..PhantomConfig::default()
    };
    let generator = PhantomGenerator::with_config(seed, config)?;
    let phantoms: Vec<_> = (0..16).map(|i| generator.generate(i)).collect();
    let tiles: Vec<_> = phantoms
        .iter()
        .map(|p| {
            (
                p.image.clone(),
                format!(
                    "#{} {}",
                    p.index,
                    p.label_string().replace('|', ", ").replace('_', " ")
                ),
            )
        })
        .collect();
    let fig = captioned_grid(
        &tiles,
        4,
        3,
        &[
            &format!("SYNTHETIC CHEST PHANTOMS - NOT PATIENT DATA (MED-DATA, SEED {seed})"),
            "LABEL SETS SAMPLED FROM NIH CHESTX-RAY14 CO-OCCURRENCE (AT LEAST ONE FINDING)",
        ],
    )?;
    let p = out.join("phantom_grid.png");
    save_png(&fig, &p, PngDepth::Eight)?;
    println!("wrote {}", p.display());
    for ph in &phantoms {
        println!("{}: {}", ph.id, ph.label_string());
    }
    Ok(())
}
