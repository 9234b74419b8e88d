//! `sca-eval`: the figures of `docs/results/sca-privacy.md`. For each S_x: authorized
//! reconstruction metrics on the 4 held-out real X-rays, the attacks (decoding the public
//! code as it is, support guesses, the inversion network), support recovery against the
//! chance rate, a Kolmogorov-Smirnov test of noise against true values per code map,
//! support uncertainty, share/reveal timings, and a figure.
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --profile test -p sca-privacy --bin sca-eval -- \
//!     --attacks runs --figure docs/results/sca-privacy-figure.png
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use med_data::figure::captioned_grid;
use med_data::io::{save_png, PngDepth};
use med_data::metrics::{image_metrics, ImageMetrics};
use med_data::GrayImage;
use sca_privacy::ambiguation::AmbiguationArgs;
use sca_privacy::attack::Attacker;
use sca_privacy::codec::{cpu, shipped_weights_path};
use sca_privacy::data::real_split;
use sca_privacy::keys::RecipientSecret;
use sca_privacy::share::{
    chance_recovery, key_bits_per_vector, obfuscate, reconstruct, reveal, share, support_recovery,
    uncertainty_bits_per_vector, within_vector_ranks, SupportGuess,
};
use sca_privacy::stats::{cpu_time_ms, ks_two_sample};
use sca_privacy::{Result, Sca};

#[derive(Parser, Debug)]
#[command(about = "Evaluate authorized reconstruction and attacks on held-out real X-rays")]
struct Args {
    /// Sparsities to evaluate.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16")]
    sparsity: Vec<usize>,
    /// Folder with attack-s{S}/attack-s{S}.sca (from sca-attack).
    #[arg(long)]
    attacks: Option<PathBuf>,
    /// Folder with weights sca-s{S}.scw (default: the shipped ones).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Figure output.
    #[arg(long)]
    figure: Option<PathBuf>,
    /// Ambiguation (default: decoy layers, as many as fit).
    #[command(flatten)]
    ambiguation: AmbiguationArgs,
    /// Timing repetitions (median reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

fn mean(ms: &[ImageMetrics]) -> ImageMetrics {
    let n = ms.len() as f64;
    ImageMetrics {
        psnr: ms.iter().map(|m| m.psnr).sum::<f64>() / n,
        ssim: ms.iter().map(|m| m.ssim).sum::<f64>() / n,
        mae: ms.iter().map(|m| m.mae).sum::<f64>() / n,
        me: ms.iter().map(|m| m.me).sum::<f64>() / n,
        rmse: ms.iter().map(|m| m.rmse).sum::<f64>() / n,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = cpu();
    let (_, held) = real_split()?;
    let mut auth_rows = String::new();
    let mut attack_rows = String::new();
    let mut support_rows = String::new();
    let mut key_rows = String::new();
    let mut time_rows = String::new();
    let mut rank_rows = String::new();
    let mut tiles: Vec<(GrayImage, String)> = Vec::new();
    for &s in &args.sparsity {
        let wpath = match &args.weights {
            Some(d) => d.join(format!("sca-s{s}.scw")),
            None => shipped_weights_path(s),
        };
        let sca = Sca::load(&wpath, &device)?;
        let cfg = sca.config().clone();
        let amb = args.ambiguation.resolve(cfg.code_dim, s)?;
        let s_n = amb.noise(s);
        eprintln!("S_x = {s}: {}", amb.name());
        let attacker = match &args.attacks {
            Some(d) => {
                let path = d.join(format!("attack-s{s}/attack-s{s}.sca"));
                if path.exists() {
                    Some(Attacker::load(path)?)
                } else {
                    eprintln!("S_x = {s}: no inversion attack at {}", path.display());
                    None
                }
            }
            None => None,
        };
        let mut auth = Vec::new();
        let mut att: Vec<(String, Vec<ImageMetrics>)> = Vec::new();
        let mut rec = vec![Vec::new(); SupportGuess::ALL.len()];
        let mut ks_p = Vec::new();
        let mut rank_ks = Vec::new();
        for (k, img) in held.iter().enumerate() {
            let (public, key) = obfuscate(&sca, &img.image, amb, Some([k as u8 + 1; 32]))?;
            let a = reconstruct(&sca, &public, &key)?;
            auth.push(image_metrics(&img.image, &a, 1.0)?);
            // Reference, not an attack (it uses the key): the ambiguation entries alone.
            let mut noise_only = public.codes.clone();
            let m = noise_only.layout.code_dim as usize;
            for v in 0..noise_only.layout.vectors() {
                for &i in key.support(v) {
                    noise_only.values[v * m + i as usize] = 0.0;
                }
            }
            let mut attacked = vec![
                (
                    "reference: ambiguation entries alone decoded (no true entry)".to_string(),
                    sca.decode(&noise_only)?,
                ),
                (
                    "public code decoded as is".to_string(),
                    sca.decode(&public.codes)?,
                ),
            ];
            for (gi, g) in SupportGuess::ALL.iter().enumerate() {
                let guess = g.guess(&public)?;
                rec[gi].push(support_recovery(&key, &guess));
                attacked.push((
                    format!("guess {}", g.name()),
                    sca.decode(&guess.purify(&public.codes)?)?,
                ));
            }
            if let Some(at) = &attacker {
                attacked.push(("inversion network (U-Net-like)".into(), at.invert(&public)?));
            }
            for (i, (name, im)) in attacked.iter().enumerate() {
                if att.len() <= i {
                    att.push((name.clone(), Vec::new()));
                }
                att[i].1.push(image_metrics(&img.image, im, 1.0)?);
            }
            // KS per code map: true nonzeros against noise values.
            let l = public.codes.layout;
            let m = l.code_dim as usize;
            for g in 0..l.groups as usize {
                let (mut tv, mut nv) = (Vec::new(), Vec::new());
                for v in (0..l.vectors()).filter(|&v| l.group_of(v) == g) {
                    for i in 0..m {
                        let x = public.codes.values[v * m + i];
                        if key.support(v).binary_search(&(i as u8)).is_ok() {
                            tv.push(x);
                        } else if x != 0.0 {
                            nv.push(x);
                        }
                    }
                }
                ks_p.push(ks_two_sample(&tv, &nv));
            }
            let (tr, nr) = within_vector_ranks(&public, &key);
            rank_ks.push(ks_two_sample(&tr, &nr));
            if k == 0 {
                tiles.push((img.image.clone(), format!("S={s} original")));
                tiles.push((
                    a.clone(),
                    format!("S={s} authorized {:.1} dB", auth[0].psnr),
                ));
                for (name, im) in attacked.iter().filter(|(n, _)| {
                    n.contains("as is") || n.contains("top-S |x|") || n.contains("inversion")
                }) {
                    let mm = image_metrics(&img.image, im, 1.0)?;
                    let short = if name.contains("as is") {
                        "public as is"
                    } else if name.contains("inversion") {
                        "inversion net"
                    } else {
                        "top-S guess"
                    };
                    tiles.push((im.clone(), format!("{short} SSIM {:.2}", mm.ssim)));
                }
            }
        }
        let am = mean(&auth);
        auth_rows += &format!(
            "| {s} | {s_n} | {:.4} | {:+.4} | {:.4} | {:.2} | {:.4} |\n",
            am.mae, am.me, am.rmse, am.psnr, am.ssim
        );
        for (name, ms) in &att {
            let m = mean(ms);
            let worst = ms.iter().map(|m| m.ssim).fold(f64::MIN, f64::max);
            attack_rows += &format!(
                "| {s} | {name} | {:.2} | {:.4} | {:.4} |\n",
                m.psnr, m.ssim, worst
            );
        }
        let chance = chance_recovery(s, s_n);
        for (gi, g) in SupportGuess::ALL.iter().enumerate() {
            let r = rec[gi].iter().sum::<f64>() / rec[gi].len() as f64;
            support_rows += &format!("| {s} | {} | {:.4} | {:.4} |\n", g.name(), r, chance);
        }
        let ps: Vec<f64> = ks_p.iter().map(|x| x.1).collect();
        let ds: Vec<f64> = ks_p.iter().map(|x| x.0).collect();
        let vectors = held[0].image.width() as usize / cfg.patch as usize
            * (held[0].image.height() as usize / cfg.patch as usize)
            * cfg.vectors_per_tile();
        let ub = uncertainty_bits_per_vector(s, s_n);
        let kb = key_bits_per_vector(cfg.code_dim, s)?;
        key_rows += &format!(
            "| {s} | {s_n} | {vectors} | {ub:.2} | {:.0} | {kb} | {} | {:.3} | {:.3} | {:.4} |\n",
            ub * vectors as f64,
            (kb as usize * vectors).div_ceil(8),
            median(ds.clone()),
            ps.iter().cloned().fold(f64::INFINITY, f64::min),
            median(ps.clone())
        );
        rank_rows += &format!(
            "| {s} | {} | {:.4} | {:.2e} | {:.4} |\n",
            amb.name(),
            rank_ks.iter().map(|x| x.0).fold(0.0, f64::max),
            rank_ks.iter().map(|x| x.1).fold(f64::INFINITY, f64::min),
            median(rank_ks.iter().map(|x| x.1).collect())
        );
        // Timings: share (encode, sparsify, ambiguate, wrap for one recipient) and reveal.
        let alice = RecipientSecret::generate("alice")?;
        let img = &held[0].image;
        let mut ts = Vec::new();
        let mut tr = Vec::new();
        let (mut cs, mut cr) = (Vec::new(), Vec::new());
        for _ in 0..args.reps.max(1) {
            let (t, c) = (Instant::now(), cpu_time_ms());
            let shared = share(&sca, img, amb, std::slice::from_ref(&alice.public()))?;
            cs.push(cpu_time_ms() - c);
            ts.push(t.elapsed().as_secs_f64() * 1e3);
            let (t, c) = (Instant::now(), cpu_time_ms());
            let _ = reveal(&sca, &shared.public_bytes, &shared.keys, &alice)?;
            cr.push(cpu_time_ms() - c);
            tr.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        time_rows += &format!(
            "| {s} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            min(&cs),
            median(cs.clone()),
            median(ts),
            min(&cr),
            median(cr.clone()),
            median(tr)
        );
        eprintln!("S_x = {s} done");
    }
    println!("## Authorized reconstruction, 4 held-out real X-rays (mean)\n");
    println!("| S_x | S_n | MAE | ME | RMSE | PSNR dB | SSIM |\n|---|---|---|---|---|---|---|\n{auth_rows}");
    println!("## Attacks, same images (mean; worst = highest SSIM of the 4)\n");
    println!(
        "| S_x | attack | PSNR dB | SSIM | worst SSIM |\n|---|---|---|---|---|\n{attack_rows}"
    );
    println!("## Support recovery of the guesses (fraction of true support entries found)\n");
    println!(
        "| S_x | guess | recovered | chance S_x/(S_x+S_n) |\n|---|---|---|---|\n{support_rows}"
    );
    println!("## Support uncertainty, key size, ambiguation statistics\n");
    println!("| S_x | S_n | vectors/image | uncertainty bits/vector | bits/image | key bits/vector | key bytes/image | KS D median | KS p min | KS p median |\n|---|---|---|---|---|---|---|---|---|---|\n{key_rows}");
    println!("## Within-vector rank test (KS, true entries' ranks by |x| against the ambiguation entries', per image)\n");
    println!(
        "| S_x | ambiguation | D max | p min | p median |\n|---|---|---|---|---|\n{rank_rows}"
    );
    println!(
        "## Timings, 256x256, one recipient, {} repetitions (ms; CPU = process CPU time, wall = elapsed)\n",
        args.reps
    );
    println!("| S_x | share CPU min | share CPU median | share wall median | reveal CPU min | reveal CPU median | reveal wall median |\n|---|---|---|---|---|---|---|\n{time_rows}");
    if let Some(f) = &args.figure {
        let title = [
            "PRIMIS SPARSE CODES: ORIGINAL / AUTHORIZED / ATTACKS",
            "HELD-OUT REAL X-RAY",
        ];
        let grid = captioned_grid(&tiles, 5, 2, &title)?;
        save_png(&grid, f, PngDepth::Eight)?;
        eprintln!("figure {}", f.display());
    }
    Ok(())
}
