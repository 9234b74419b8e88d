//! Fills the latent cache of the classifier zoo (SYNTHETIC phantoms encoded by a codec) ahead
//! of training, and prints the codec's fingerprint (the cache key).
//!
//! `cargo run --profile test -p he-nn-train --example encode-latents -- [COUNT] [DIR] [CODEC]`
//! (default: 2000 phantoms, `runs-zoo/latents`, latent-codec's shipped f = 8 weights).

use he_nn_train::latents::load_or_encode;
use indicatif::ProgressBar;
use latent_codec::Codec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().map(|c| c.parse()).transpose()?.unwrap_or(2000);
    let dir = args.get(1).map_or("runs-zoo/latents", String::as_str);
    let device = latent_codec::codec::cpu();
    let codec = match args.get(2) {
        Some(path) => Codec::load(path, &device)?,
        None => Codec::shipped_f8(&device)?,
    };
    println!(
        "codec f = {}, fingerprint {:08x}",
        codec.config().factor,
        codec.fingerprint()?
    );
    let pb = ProgressBar::new(count as u64);
    let set = load_or_encode(&codec, dir.as_ref(), count, |d, t| {
        pb.set_length(t as u64);
        pb.set_position(d as u64);
    })?;
    pb.finish();
    println!(
        "{} latents of shape {:?} in {dir}",
        set.samples.len(),
        set.shape
    );
    Ok(())
}
