//! Fills the latent cache of the classifier zoo (SYNTHETIC phantoms encoded by the shipped
//! f = 8 codec) ahead of training.
//!
//! `cargo run --profile test -p he-nn-train --example encode-latents -- [COUNT] [DIR]`

use he_nn_train::latents::load_or_encode;
use indicatif::ProgressBar;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().map(|c| c.parse()).transpose()?.unwrap_or(2000);
    let dir = args.get(1).map_or("runs-zoo/latents", String::as_str);
    let codec = latent_codec::Codec::shipped_f8(&latent_codec::codec::cpu())?;
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
