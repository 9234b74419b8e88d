//! The shipped f = 8 weights: load, encode a held-out real X-ray to a 4x32x32 latent, decode
//! above a PSNR floor (the floor is set 0.5 dB below the value measured when the weights
//! were committed; see docs/results/latent-codec.md).

use latent_codec::codec::cpu;
use latent_codec::data::real_split;
use latent_codec::{Codec, Latent};
use med_data::metrics::psnr;

const PSNR_FLOOR_DB: f64 = 25.8;

#[test]
fn shipped_f8_round_trip_above_floor() {
    let device = cpu();
    let codec = Codec::shipped_f8(&device).expect("shipped weights load");
    let c = codec.config();
    assert_eq!((c.factor, c.latent_channels, c.codebook_size), (8, 4, 1024));
    let (_, held_out) = real_split().unwrap();
    let img = &held_out[0].image;
    let latent = codec.encode(img).unwrap();
    assert_eq!(latent.shape, [4, 32, 32]);
    let bytes = latent.codes.to_bytes();
    assert_eq!(bytes.len(), 1297);
    let back = Latent::from_bytes(&latent.to_bytes()).unwrap();
    let rec = codec.decode(&back).unwrap();
    let p = psnr(img, &rec, 1.0).unwrap();
    eprintln!("{}: PSNR {p:.2} dB", held_out[0].id);
    assert!(
        p >= PSNR_FLOOR_DB,
        "{}: PSNR {p:.2} dB below the floor {PSNR_FLOOR_DB}",
        held_out[0].id
    );
}
