//! Load any PNG, JPEG or DICOM file the way the project does and describe it.
//!
//! ```text
//! cargo run --release -p med-data --example inspect -- FILE [OUT.png]
//! ```
//!
//! Prints size and intensity range (and the DICOM attributes used), applies the
//! Latent-HE preprocessing (upscaling allowed) and, when `OUT.png` is given, writes
//! the 256x256 model input as an 8-bit PNG. Errors are printed with the file name.

use med_data::io::{load_dicom, load_image, save_png_signed, ImageFormat};
use med_data::Preprocess;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: inspect FILE [OUT.png]");
        std::process::exit(2);
    };
    if let Err(e) = run(&file, args.next()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(file: &str, out: Option<String>) -> Result<(), med_data::Error> {
    let path = std::path::Path::new(file);
    let head = std::fs::read(path).map_err(|e| med_data::Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let format = ImageFormat::detect(path, &head[..head.len().min(132)]);
    let img = if format == Some(ImageFormat::Dicom) {
        let (img, info) = load_dicom(path)?;
        println!("DICOM: {info:#?}");
        img
    } else {
        load_image(path)?
    };
    let (lo, hi) = img.min_max();
    println!(
        "{file}: {:?}, {}x{}, intensities {lo:.4}..{hi:.4}, mean {:.4}",
        format.unwrap_or(ImageFormat::Png),
        img.width(),
        img.height(),
        img.mean()
    );
    let pre = Preprocess::latent_he()
        .with_upscale()
        .apply(&img)
        .map_err(|e| e.with_path(path))?;
    println!(
        "model input: {}x{} in [-1, 1], mean {:.4}",
        pre.width(),
        pre.height(),
        pre.mean()
    );
    if let Some(out) = out {
        save_png_signed(&pre, &out)?;
        println!("wrote {out}");
    }
    Ok(())
}
