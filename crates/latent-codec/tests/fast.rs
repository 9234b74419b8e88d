//! The burn-free encoder of `Codec::encode` (`latent_codec::fast`) against burn's forward
//! pass (`Codec::encode_reference`): the shipped weights on the held-out real X-rays and a
//! synthetic phantom, and random weights of every factor's configuration.

use latent_codec::codec::cpu;
use latent_codec::data::{eval_phantoms, real_split};
use latent_codec::model::nearest_codes;
use latent_codec::{Codec, CodecConfig, Latent};
use med_data::GrayImage;

/// Squared distance of `z` (position `p` of a `[d, n]` latent) to code `c`.
fn dist(latent: &Latent, codebook: &[f32], p: usize, c: usize) -> f64 {
    let [d, h, w] = latent.shape;
    let n = h * w;
    (0..d)
        .map(|j| (latent.continuous[j * n + p] as f64 - codebook[c * d + j] as f64).powi(2))
        .sum()
}

fn codebook(codec: &Codec) -> Vec<f32> {
    codec
        .model()
        .quantizer
        .codebook
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// Compare the fast encode with the reference: the continuous outputs agree to `rel` of their
/// largest magnitude, and an index differs only where the reference latent is within `tie`
/// (squared distance) of both codes. Returns (largest difference, indices that differ).
fn compare(codec: &Codec, img: &GrayImage, rel: f32, tie: f64) -> (f32, usize) {
    assert!(codec.has_fast_encoder());
    let fast = codec.encode(img).unwrap();
    let reference = codec.encode_reference(img).unwrap();
    assert_eq!(fast.shape, reference.shape);
    assert_eq!(fast.continuous.len(), reference.continuous.len());
    let scale = reference
        .continuous
        .iter()
        .fold(1f32, |m, v| m.max(v.abs()));
    let diff = fast
        .continuous
        .iter()
        .zip(&reference.continuous)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        diff <= rel * scale,
        "continuous output differs by {diff} (scale {scale})"
    );
    let cb = codebook(codec);
    let mut differ = 0;
    for (p, (&a, &b)) in fast
        .codes
        .indices
        .iter()
        .zip(&reference.codes.indices)
        .enumerate()
    {
        if a != b {
            differ += 1;
            let gap = dist(&reference, &cb, p, a as usize) - dist(&reference, &cb, p, b as usize);
            assert!(
                gap.abs() <= tie,
                "position {p}: code {a} instead of {b}, distance gap {gap}"
            );
        }
    }
    // The fused product + argmin forms the sums of the per-position reference loop in the
    // same order: on the same latent the indices are bit-identical.
    let [d, h, w] = reference.shape;
    let n = h * w;
    let rows: Vec<f32> = (0..n)
        .flat_map(|p| (0..d).map(move |j| (j, p)))
        .map(|(j, p)| reference.continuous[j * n + p])
        .collect();
    assert_eq!(nearest_codes(&rows, &cb, d), reference.codes.indices);
    let codes = latent_codec::fast::NearestCodes::new(&cb, d).unwrap();
    let mut planar = vec![0u16; n];
    codes.nearest_planar(&reference.continuous, &mut planar);
    assert_eq!(planar, reference.codes.indices);
    (diff, differ)
}

#[test]
fn fast_encoder_matches_burn_on_the_shipped_weights() {
    let codec = Codec::shipped_f8(&cpu()).unwrap();
    let (_, held_out) = real_split().unwrap();
    let mut images: Vec<_> = held_out.iter().map(|e| (e.id.clone(), &e.image)).collect();
    let phantoms = eval_phantoms(1);
    images.push((phantoms[0].id.clone(), &phantoms[0].image));
    let mut total_differ = 0;
    for (id, img) in images {
        let (diff, differ) = compare(&codec, img, 1e-5, 1e-5);
        eprintln!("{id}: largest |z_fast - z_burn| {diff:.2e}, {differ} of 1024 indices differ");
        total_differ += differ;
    }
    assert!(total_differ <= 5, "{total_differ} indices differ");
}

#[test]
fn fast_encoder_matches_burn_for_every_factor() {
    let device = cpu();
    let img = GrayImage::from_fn(64, 48, |x, y| {
        0.5 + 0.45 * ((x as f32 * 0.21).sin() * (y as f32 * 0.13).cos())
    })
    .unwrap();
    for f in [2usize, 4, 8, 16] {
        for cfg in [
            CodecConfig::for_factor(f).unwrap(),
            CodecConfig::tiny(f).unwrap(),
        ] {
            let codec = Codec::random(cfg, 7 + f as u64, &device).unwrap();
            compare(&codec, &img, 1e-5, 1e-4);
        }
        // With encoder self-attention the burn path runs.
        let full = Codec::random(CodecConfig::full_encoder(f).unwrap(), 1, &device).unwrap();
        assert!(!full.has_fast_encoder());
        let a = full.encode(&img).unwrap();
        let b = full.encode_reference(&img).unwrap();
        assert_eq!(a.continuous, b.continuous);
    }
}

#[test]
fn fast_encoder_checks_the_image_size() {
    let codec = Codec::random(CodecConfig::tiny(8).unwrap(), 1, &cpu()).unwrap();
    let img = GrayImage::from_fn(36, 32, |_, _| 0.5).unwrap();
    assert!(matches!(
        codec.encode(&img),
        Err(latent_codec::CodecError::BadImageSize { .. })
    ));
}
