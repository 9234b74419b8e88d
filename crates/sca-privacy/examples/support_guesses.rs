//! Support recovery of every [`SupportGuess`] against the shipped ambiguation of the 4
//! held-out real X-rays, per image, with the chance rate (fixed noise seeds, so the figures
//! repeat).
//!
//! ```text
//! RAYON_NUM_THREADS=1 target/debug/examples/support_guesses
//! ```

use sca_privacy::ambiguation::Ambiguation;
use sca_privacy::codec::cpu;
use sca_privacy::data::real_split;
use sca_privacy::share::{chance_recovery, obfuscate, support_recovery, SupportGuess};
use sca_privacy::{Result, Sca};

fn main() -> Result<()> {
    let (_, held) = real_split()?;
    for s in [4usize, 8, 16] {
        let sca = Sca::shipped(s, &cpu())?;
        let amb = Ambiguation::default_for(64, s);
        let mut mean = vec![0f64; SupportGuess::ALL.len()];
        for (k, h) in held.iter().enumerate() {
            let (public, key) = obfuscate(&sca, &h.image, amb, Some([k as u8 + 1; 32]))?;
            let mut line = format!("S_x = {s:2} {}:", h.id);
            for (g, guess) in SupportGuess::ALL.iter().enumerate() {
                let r = support_recovery(&key, &guess.guess(&public)?);
                mean[g] += r / held.len() as f64;
                line += &format!(" {} {r:.4};", guess.name());
            }
            println!("{line}");
        }
        let chance = chance_recovery(s, amb.noise(s));
        let means: Vec<String> = SupportGuess::ALL
            .iter()
            .zip(&mean)
            .map(|(g, r)| format!("{} {r:.4}", g.name()))
            .collect();
        println!(
            "S_x = {s:2} mean: {} (chance {chance:.4})",
            means.join("; ")
        );
    }
    Ok(())
}
