//! `evaluate`: metrics and timings of trained weight files on the 4 held-out real X-rays and
//! held-out synthetic phantoms, as a markdown table, and the reconstruction figure (original
//! and reconstruction per weight file, each with a 4x zoom of a region).
//!
//! ```text
//! cargo run --profile test -p latent-codec --bin evaluate -- \
//!     --weights crates/latent-codec/weights/vqgan-f8.lcw --figure docs/img/latent-codec-recon.png
//! ```

use std::path::PathBuf;

use burn::module::Module;
use clap::Parser;
use latent_codec::codec::cpu;
use latent_codec::data::{eval_phantoms, real_split, EvalImage};
use latent_codec::eval::evaluate;
use latent_codec::{Codec, CodecError, Result};
use med_data::figure::captioned_grid;
use med_data::io::{save_png, PngDepth};
use med_data::GrayImage;

#[derive(Parser, Debug)]
#[command(about = "Evaluate latent-codec weight files and draw the reconstruction figure")]
struct Args {
    /// Weight files (`.lcw`).
    #[arg(long, required = true, num_args = 1..)]
    weights: Vec<PathBuf>,
    /// Held-out phantoms to score.
    #[arg(long, default_value_t = 8)]
    phantoms: usize,
    /// Write the reconstruction figure here (PNG).
    #[arg(long)]
    figure: Option<PathBuf>,
    /// Zoom region: left, top, side (pixels of the 256x256 image).
    #[arg(long, num_args = 3, default_values_t = [64u32, 80, 64])]
    zoom: Vec<u32>,
}

fn zoom(img: &GrayImage, z: &[u32]) -> Result<GrayImage> {
    Ok(img.crop(z[0], z[1], z[2], z[2])?.resize(256, 256)?)
}

/// Draw the outline of the zoom region (white, 1 px).
fn outline(img: &GrayImage, z: &[u32]) -> GrayImage {
    let mut out = img.clone();
    let w = out.width();
    let data = out.data_mut();
    for t in 0..z[2] {
        for (x, y) in [
            (z[0] + t, z[1]),
            (z[0] + t, z[1] + z[2] - 1),
            (z[0], z[1] + t),
            (z[0] + z[2] - 1, z[1] + t),
        ] {
            data[(y * w + x) as usize] = 1.0;
        }
    }
    out
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.zoom[0] + args.zoom[2] > 256 || args.zoom[1] + args.zoom[2] > 256 || args.zoom[2] == 0 {
        return Err(CodecError::InvalidArgument(
            "zoom region outside 256x256".into(),
        ));
    }
    let device = cpu();
    let codecs = args
        .weights
        .iter()
        .map(|p| Codec::load(p, &device))
        .collect::<Result<Vec<_>>>()?;
    let (_, real_held) = real_split()?;
    let phantoms = eval_phantoms(args.phantoms);

    println!("| weights | f | latent | set | n | PSNR dB | SSIM | MAE | codes used | perplexity | encode ms | decode ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (path, codec) in args.weights.iter().zip(&codecs) {
        eprintln!(
            "{}: f={}, {} generator parameters, {} bytes",
            path.display(),
            codec.config().factor,
            codec.model().num_params(),
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        );
    }
    for (path, codec) in args.weights.iter().zip(&codecs) {
        let c = codec.config();
        let shape = c.latent_shape(256, 256);
        for (name, set) in [
            ("real X-rays, held out", &real_held),
            ("SYNTHETIC phantoms, held out", &phantoms),
        ] {
            let r = evaluate(codec, set)?;
            println!(
                "| {} | {} | {}x{}x{} | {name} | {} |",
                path.file_name().unwrap_or_default().to_string_lossy(),
                c.factor,
                shape[1],
                shape[2],
                shape[0],
                r.table_cells()
            );
        }
    }

    if let Some(fig) = &args.figure {
        let pick: Vec<&EvalImage> = real_held
            .iter()
            .take(2)
            .chain(phantoms.iter().take(1))
            .collect();
        let mut tiles = Vec::new();
        for e in &pick {
            let tag = if e.synthetic {
                "SYNTHETIC phantom"
            } else {
                "real, held out"
            };
            tiles.push((outline(&e.image, &args.zoom), format!("original ({tag})")));
            tiles.push((zoom(&e.image, &args.zoom)?, "original, 4x zoom".to_string()));
            for codec in &codecs {
                let rec = codec.reconstruct(&e.image)?;
                let m = med_data::metrics::image_metrics(&e.image, &rec, 1.0)?;
                let f = codec.config().factor;
                tiles.push((
                    rec.clone(),
                    format!("f={f}: {:.1} dB, SSIM {:.3}", m.psnr, m.ssim),
                ));
                tiles.push((zoom(&rec, &args.zoom)?, format!("f={f}, 4x zoom")));
            }
        }
        let cols = 2 + 2 * codecs.len() as u32;
        let grid = captioned_grid(
            &tiles,
            cols,
            2,
            &[
                "latent-codec VQGAN reconstructions at 256x256",
                "rows 1-2: real held-out X-rays (Kermany et al., CC BY 4.0) - row 3: SYNTHETIC phantom",
            ],
        )?;
        save_png(&grid, fig, PngDepth::Eight)?;
        eprintln!("figure written to {}", fig.display());
    }
    Ok(())
}
