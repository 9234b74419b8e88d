//! Time the stages of share and reveal of a 256x256 held-out real X-ray (single thread with
//! `RAYON_NUM_THREADS=1`; process CPU time, ms, so that other processes' load does not count).
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --profile test -p sca-privacy --example profile_share
//! # one share and one reveal only, for instruction counts (load-independent):
//! valgrind --tool=callgrind --toggle-collect='sca_privacy::share::share' \
//!     target/debug/examples/profile_share once
//! valgrind --tool=callgrind --toggle-collect='sca_privacy::share::reveal' \
//!     target/debug/examples/profile_share once
//! # share and reveal only, N repetitions at S_x = 4, 8, 16 (CPU ms: min, median, all):
//! RAYON_NUM_THREADS=1 target/debug/examples/profile_share timing 11
//! ```

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sca_privacy::ambiguation::{
    ambiguate, ambiguate_with_layers, Ambiguation, DecoyLayer, DecoySource,
};
use sca_privacy::codec::cpu;
use sca_privacy::data::real_split;
use sca_privacy::keys::{code_hash, RecipientSecret};
use sca_privacy::share::{
    decoy_images, obfuscate, reveal, share, tile_permutation, transformed_tiles, PublicCode,
};
use sca_privacy::sparse::sparsify;
use sca_privacy::stats::cpu_time_ms;
use sca_privacy::{Result, Sca};

/// A stopwatch of CPU time.
#[derive(Clone, Copy)]
struct Instant(f64);

impl Instant {
    fn now() -> Self {
        Self(cpu_time_ms())
    }
}

fn ms(t: Instant) -> f64 {
    cpu_time_ms() - t.0
}

fn main() -> Result<()> {
    let sca = Sca::shipped(16, &cpu())?;
    let (_, held) = real_split()?;
    let img = &held[0].image;
    let alice = RecipientSecret::generate("alice")?;
    let amb = Ambiguation::default_for(64, 16);
    let phantom = Ambiguation::Decoys {
        count: 3,
        images: 1,
        source: DecoySource::Phantom,
    };
    if std::env::args().nth(1).as_deref() == Some("timing") {
        let reps: usize = std::env::args()
            .nth(2)
            .and_then(|r| r.parse().ok())
            .unwrap_or(11);
        for s in [4usize, 8, 16] {
            let sca = Sca::shipped(s, &cpu())?;
            let amb = Ambiguation::default_for(64, s);
            let (mut cs, mut cr) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let t = Instant::now();
                let shared = share(&sca, img, amb, &[alice.public()])?;
                cs.push(ms(t));
                let t = Instant::now();
                let _ = reveal(&sca, &shared.public_bytes, &shared.keys, &alice)?;
                cr.push(ms(t));
            }
            let stat = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                (v[0], v[v.len() / 2])
            };
            let ((smin, smed), (rmin, rmed)) = (stat(&mut cs), stat(&mut cr));
            println!(
                "S_x = {s:2}: share CPU ms min {smin:.1} median {smed:.1} | reveal min {rmin:.1} median {rmed:.1} | share all {:?}",
                cs.iter().map(|x| (x * 10.0).round() / 10.0).collect::<Vec<_>>()
            );
        }
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("once") {
        let shared = share(&sca, img, amb, &[alice.public()])?;
        let back = reveal(&sca, &shared.public_bytes, &shared.keys, &alice)?;
        println!("one share and reveal: {}x{}", back.width(), back.height());
        return Ok(());
    }
    for rep in 0..4 {
        let t = Instant::now();
        let dense = sca.encode_dense(img)?;
        let t_enc = ms(t);
        let t = Instant::now();
        let (sparse, key) = sparsify(&dense, 16, sca.config().kind)?;
        let t_sp = ms(t);
        let t = Instant::now();
        let codes = ambiguate(&sparse, &key, 48, &mut ChaCha20Rng::from_seed([1; 32]))?;
        let t_amb = ms(t);
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let t = Instant::now();
        let decoy = decoy_images(img, 1, &mut rng)?;
        let t_phantom = ms(t);
        let t = Instant::now();
        let both = sca.encode_dense_all(&[img.clone(), decoy[0].clone()])?;
        let t_enc2 = ms(t);
        let t = Instant::now();
        let own = transformed_tiles(img, 64, &mut rng)?;
        let t_own = ms(t);
        let layers: Vec<_> = (0..3)
            .map(|k| DecoyLayer {
                source: 0,
                block: k,
                tiles: tile_permutation(16, &mut rng),
            })
            .collect();
        let t = Instant::now();
        let _ = ambiguate_with_layers(
            &sparse,
            &key,
            sca.config().kind,
            &both[1..],
            &layers,
            &mut rng,
        )?;
        let t_decoys = ms(t);
        let _ = own;
        let t = Instant::now();
        let packed = key.pack()?;
        let t_pack = ms(t);
        let (public, _) = obfuscate(&sca, img, amb, Some([1; 32]))?;
        let t = Instant::now();
        let bytes = public.to_bytes();
        let t_ser = ms(t);
        let t = Instant::now();
        let _h = code_hash(&bytes);
        let t_hash = ms(t);
        let t = Instant::now();
        let _p = PublicCode::from_bytes(&bytes, "x")?;
        let t_parse = ms(t);
        let t = Instant::now();
        let _img = sca.decode(&key.purify(&codes)?)?;
        let t_dec = ms(t);
        let t = Instant::now();
        let shared = share(&sca, img, amb, &[alice.public()])?;
        let t_share = ms(t);
        let t = Instant::now();
        let _ = share(&sca, img, phantom, &[alice.public()])?;
        let t_share_ph = ms(t);
        let t = Instant::now();
        let _ = reveal(&sca, &shared.public_bytes, &shared.keys, &alice)?;
        let t_rev = ms(t);
        println!(
            "rep {rep}: encode {t_enc:.1} (with a decoy {t_enc2:.1}) phantom {t_phantom:.1} own tiles {t_own:.1} sparsify {t_sp:.1} \
             i.i.d. ambiguate {t_amb:.1} 3 decoy layers {t_decoys:.1} pack {t_pack:.1} \
             serialize {t_ser:.1} hash {t_hash:.1} parse {t_parse:.1} decode {t_dec:.1} | share {t_share:.1} (phantom decoys {t_share_ph:.1}) reveal {t_rev:.1} ({} key bytes)",
            packed.len()
        );
    }
    Ok(())
}
