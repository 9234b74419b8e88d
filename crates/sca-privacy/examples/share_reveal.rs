//! Share a held-out real X-ray with two recipients, reveal it as one of them, and show what
//! an attacker without the key gets.
//!
//! ```text
//! cargo run --profile test -p sca-privacy --example share_reveal
//! ```

use med_data::metrics::{psnr, ssim};
use sca_privacy::ambiguation::Ambiguation;
use sca_privacy::codec::cpu;
use sca_privacy::data::real_split;
use sca_privacy::keys::RecipientSecret;
use sca_privacy::share::{reveal, share, PublicCode, SupportGuess};
use sca_privacy::{Result, Sca};

fn main() -> Result<()> {
    let sca = Sca::shipped(16, &cpu())?;
    let (_, held_out) = real_split()?;
    let img = &held_out[0].image;
    let alice = RecipientSecret::generate("alice")?;
    let bob = RecipientSecret::generate("bob")?;
    let shared = share(
        &sca,
        img,
        Ambiguation::default_for(64, 16),
        &[alice.public(), bob.public()],
    )?;
    println!(
        "{}: public code {} bytes, wrapped key {} bytes per recipient",
        held_out[0].id,
        shared.public_bytes.len(),
        shared.keys.keys[0].ciphertext.len()
    );
    let revealed = reveal(&sca, &shared.public_bytes, &shared.keys, &alice)?;
    println!(
        "alice: PSNR {:.2} dB, SSIM {:.4}",
        psnr(img, &revealed, 1.0)?,
        ssim(img, &revealed, 1.0)?
    );
    let eve = RecipientSecret::generate("alice")?;
    println!(
        "eve with her own key: {}",
        reveal(&sca, &shared.public_bytes, &shared.keys, &eve).unwrap_err()
    );
    let public = PublicCode::from_bytes(&shared.public_bytes, "public code")?;
    let raw = sca.decode(&public.codes)?;
    println!(
        "decoded without key: PSNR {:.2} dB, SSIM {:.4}",
        psnr(img, &raw, 1.0)?,
        ssim(img, &raw, 1.0)?
    );
    let guess = SupportGuess::TopMagnitude.guess(&public)?;
    let g = sca.decode(&guess.purify(&public.codes)?)?;
    println!(
        "top-S guess: PSNR {:.2} dB, SSIM {:.4}",
        psnr(img, &g, 1.0)?,
        ssim(img, &g, 1.0)?
    );
    Ok(())
}
