//! Shapes for every factor, the straight-through gradient, weight-file errors, training
//! steps and checkpoint resume, on tiny configurations (fast in the test profile).

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use latent_codec::codec::{cpu, init_params, with_seed};
use latent_codec::model::{PatchDiscriminator, VectorQuantizer, VqGan};
use latent_codec::train::{perplexity, CodeUsage, TrainConfig, Trainer};
use latent_codec::{Codec, CodecConfig, CodecError};
use med_data::GrayImage;

fn vec4(t: Tensor<4>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

fn test_image(side: u32) -> GrayImage {
    GrayImage::from_fn(side, side, |x, y| {
        0.5 + 0.4 * ((x as f32 * 0.3).sin() * (y as f32 * 0.2).cos())
    })
    .unwrap()
}

#[test]
fn shapes_for_every_factor() {
    let device = cpu();
    for (f, full) in [2usize, 4, 8, 16]
        .into_iter()
        .flat_map(|f| [(f, false), (f, true)])
    {
        // The real configurations on a 64x64 input (patchify-stem and full encoders).
        let cfg = if full {
            CodecConfig::full_encoder(f).unwrap()
        } else {
            CodecConfig::for_factor(f).unwrap()
        };
        let (model, x) = with_seed(&device, f as u64, || {
            (
                init_params(VqGan::new(&cfg, &device)),
                Tensor::<4>::random([2, 1, 64, 64], Distribution::Uniform(-1.0, 1.0), &device),
            )
        });
        let out = model.forward(x, 0.25);
        assert_eq!(
            out.z.dims(),
            [2, cfg.latent_channels, 64 / f, 64 / f],
            "f={f}"
        );
        assert_eq!(out.vq.quantized.dims(), out.z.dims());
        assert_eq!(out.vq.indices.dims(), [2 * (64 / f) * (64 / f)]);
        assert_eq!(out.reconstruction.dims(), [2, 1, 64, 64]);
        // Non-square too.
        let mut tiny = CodecConfig::tiny(f).unwrap();
        tiny.encoder_attention = full;
        let m = with_seed(&device, 0, || init_params(VqGan::new(&tiny, &device)));
        let o = m.forward(Tensor::zeros([1, 1, 32, 64], &device), 0.25);
        assert_eq!(o.z.dims(), [1, tiny.latent_channels, 32 / f, 64 / f]);
        assert_eq!(o.reconstruction.dims(), [1, 1, 32, 64]);
    }
    let d = with_seed(&device, 0, || {
        init_params(PatchDiscriminator::new(1, 8, 2, &device))
    });
    let logits = d.forward(Tensor::zeros([3, 1, 64, 64], &device));
    // 64 -> 32 (s2) -> 16 (s2) -> 15 (s1, k4) -> 14 (s1, k4)
    assert_eq!(logits.dims(), [3, 1, 14, 14]);
}

#[test]
fn codec_latent_shape_at_256_for_f8() {
    let codec = Codec::random(CodecConfig::for_factor(8).unwrap(), 3, &cpu()).unwrap();
    let lat = codec.encode(&test_image(256)).unwrap();
    assert_eq!(lat.shape, [4, 32, 32]);
    assert_eq!(lat.continuous.len(), 4 * 32 * 32);
    assert_eq!(lat.codes.indices.len(), 1024);
    assert_eq!(lat.codes.bits_per_index(), 10);
    assert_eq!(lat.codes.pack().len(), 1280);
    let img = codec.decode(&lat).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));
    assert!(matches!(
        codec.encode(&test_image(100)),
        Err(CodecError::BadImageSize { factor: 8, .. })
    ));
}

#[test]
fn quantizer_picks_nearest_code_and_passes_gradient_straight_through() {
    let device: Device = cpu().autodiff();
    let q = with_seed(&device, 2, || {
        init_params(VectorQuantizer::new(16, 3, &device))
    });
    let codebook = q
        .codebook
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let zdata: Vec<f32> = (0..2 * 3 * 2 * 2)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.01)
        .collect();
    let z = Tensor::<4>::from_data(TensorData::new(zdata.clone(), [2, 3, 2, 2]), &device)
        .require_grad();
    let beta = 0.25;
    let out = q.forward(z.clone(), beta);

    // Nearest code by brute force.
    let idx: Vec<i64> = out
        .indices
        .clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    for b in 0..2 {
        for p in 0..4 {
            let v: Vec<f32> = (0..3).map(|c| zdata[b * 12 + c * 4 + p]).collect();
            let dist =
                |k: usize| -> f32 { (0..3).map(|c| (v[c] - codebook[k * 3 + c]).powi(2)).sum() };
            let best = (0..16)
                .min_by(|&a, &b| dist(a).total_cmp(&dist(b)))
                .unwrap();
            let chosen = idx[b * 4 + p] as usize;
            assert!(dist(chosen) <= dist(best) + 1e-9, "not the nearest code");
        }
    }
    // Forward value is the code vector.
    let quant = vec4(out.quantized.clone().inner());
    for b in 0..2 {
        for p in 0..4 {
            let k = idx[b * 4 + p] as usize;
            for c in 0..3 {
                assert!((quant[b * 12 + c * 4 + p] - codebook[k * 3 + c]).abs() < 1e-6);
            }
        }
    }

    // Straight-through: d(sum(w * z_q))/dz = w exactly.
    let w: Vec<f32> = (0..24).map(|i| i as f32 * 0.1 - 1.0).collect();
    let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), [2, 3, 2, 2]), &device);
    let grads = (out.quantized.clone() * wt).sum().backward();
    let g = vec4(z.grad(&grads).expect("z has a gradient"));
    for (a, b) in g.iter().zip(&w) {
        assert!((a - b).abs() < 1e-5, "straight-through gradient {a} != {b}");
    }

    // Commitment term: d(loss)/dz = 2 beta (z - z_q) / N, the codebook term gives z none.
    let grads = out.loss.backward();
    let g = vec4(z.grad(&grads).expect("z has a gradient"));
    let n = 24.0;
    for i in 0..24 {
        let expect = 2.0 * beta as f32 * (zdata[i] - quant[i]) / n;
        assert!((g[i] - expect).abs() < 1e-6, "{} vs {expect}", g[i]);
    }
    // And the codebook receives gradient only on the chosen rows.
    let gc = q
        .codebook
        .val()
        .grad(&grads)
        .expect("codebook gradient")
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    for k in 0..16 {
        let chosen = idx.iter().any(|&i| i as usize == k);
        let norm: f32 = gc[k * 3..k * 3 + 3].iter().map(|v| v.abs()).sum();
        if !chosen {
            assert_eq!(norm, 0.0, "unused code {k} got a gradient");
        }
    }
}

#[test]
fn weights_round_trip_bit_exactly() {
    let device = cpu();
    let codec = Codec::random(CodecConfig::tiny(8).unwrap(), 5, &device).unwrap();
    let bytes = codec.to_bytes().unwrap();
    let back = Codec::from_bytes(&bytes, &device).unwrap();
    assert_eq!(back.config(), codec.config());
    let img = test_image(32);
    let (a, b) = (codec.encode(&img).unwrap(), back.encode(&img).unwrap());
    assert_eq!(a, b);
    assert_eq!(
        codec.decode(&a).unwrap().data(),
        back.decode(&b).unwrap().data()
    );
    // Latent serialization through the codec's own output.
    let lat = latent_codec::Latent::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(lat, a);
    assert_eq!(
        back.decode(&lat).unwrap().data(),
        codec.decode(&a).unwrap().data()
    );
}

#[test]
fn corrupted_and_mismatched_weights_give_typed_errors() {
    let device = cpu();
    let cfg = CodecConfig::tiny(8).unwrap();
    let codec = Codec::random(cfg.clone(), 6, &device).unwrap();
    let bytes = codec.to_bytes().unwrap();

    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(matches!(
        Codec::from_bytes(&flipped, &device),
        Err(CodecError::Corrupted { .. })
    ));
    assert!(matches!(
        Codec::from_bytes(&bytes[..bytes.len() - 100], &device),
        Err(CodecError::Corrupted { .. })
    ));
    assert!(matches!(
        Codec::from_bytes(b"PK\x03\x04 not a codec", &device),
        Err(CodecError::BadMagic { .. })
    ));
    assert!(matches!(
        Codec::from_bytes(&[], &device),
        Err(CodecError::BadMagic { .. })
    ));

    // A file whose stored configuration does not fit its tensors (same checksum discipline,
    // so only the shape check can catch it): widths 8 written, 16 declared.
    let mut wider = cfg.clone();
    wider.base_channels = 16;
    wider.norm_groups = 4;
    let tensors = latent_codec::Codec::random(cfg.clone(), 7, &device)
        .unwrap()
        .to_bytes()
        .unwrap();
    let forged = forge_config(&tensors, &wider);
    let err = Codec::from_bytes(&forged, &device).unwrap_err();
    assert!(
        matches!(err, CodecError::WeightMismatch { .. }),
        "got {err:?}"
    );
    assert!(err.to_string().contains("do not match"));

    // Asking for another factor than the file holds.
    let dir = std::env::temp_dir().join(format!("latent-codec-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny-f8.lcw");
    codec.save(&path).unwrap();
    let err = Codec::load_expecting(&path, &CodecConfig::tiny(4).unwrap(), &device).unwrap_err();
    assert!(matches!(err, CodecError::WeightMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("tiny-f8.lcw"), "{err}");
    assert!(Codec::load_expecting(&path, &cfg, &device).is_ok());
    let missing = Codec::load(dir.join("missing.lcw"), &device).unwrap_err();
    assert!(matches!(missing, CodecError::Io { .. }));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Replace the configuration inside a weight file and recompute the CRC.
fn forge_config(bytes: &[u8], cfg: &CodecConfig) -> Vec<u8> {
    let n = u32::from_le_bytes(bytes[10..14].try_into().unwrap()) as usize;
    let record = &bytes[14 + n..bytes.len() - 4];
    let new_cfg = postcard::to_allocvec(cfg).unwrap();
    let mut out = bytes[..10].to_vec();
    out.extend_from_slice(&(new_cfg.len() as u32).to_le_bytes());
    out.extend_from_slice(&new_cfg);
    out.extend_from_slice(record);
    let crc = latent_codec::codes::crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn perplexity_and_usage() {
    assert!((perplexity(&[5, 5, 5, 5]) - 4.0).abs() < 1e-9);
    assert!((perplexity(&[0, 9, 0]) - 1.0).abs() < 1e-9);
    assert_eq!(perplexity(&[0, 0]), 0.0);
    let mut u = CodeUsage::new(4);
    u.record(&[1, 1, 2], 10);
    assert_eq!(u.used(), 2);
    assert_eq!(u.dead(14, 5), vec![0, 3]);
    assert_eq!(u.dead(15, 5), vec![0, 1, 2, 3]);
    assert_eq!(u.dead(20, 10), vec![0, 1, 2, 3]);
}

fn tiny_trainer(seed: u64) -> Trainer {
    let mut cfg = CodecConfig::tiny(4).unwrap();
    cfg.codebook_size = 32;
    let train = TrainConfig {
        seed,
        batch: 2,
        crop: 16,
        lr: 2e-3,
        disc_start: 3,
        ssim_weight: 0.5,
        dead_after: 2,
        ..TrainConfig::default()
    };
    Trainer::new(cfg, train, &cpu()).unwrap()
}

fn batch(step: u64) -> Vec<f32> {
    (0..2 * 16 * 16)
        .map(|i| (i as f32 * 0.37 + step as f32).sin() * 0.8)
        .collect()
}

#[test]
fn training_reduces_loss_reinitialises_dead_codes_and_resumes_exactly() {
    let mut t = tiny_trainer(11);
    let fixed = batch(0);
    let first = t.step(fixed.clone(), 2, 16).unwrap();
    let mut reinit = 0;
    let mut adv_seen = false;
    let mut last = first.clone();
    for _ in 0..24 {
        last = t.step(fixed.clone(), 2, 16).unwrap();
        reinit += last.reinitialised;
        adv_seen |= last.d_loss > 0.0;
    }
    assert!(
        last.rec < 0.7 * first.rec,
        "reconstruction loss {} -> {}",
        first.rec,
        last.rec
    );
    assert!(reinit > 0, "no dead code was re-initialised");
    assert!(adv_seen, "discriminator never switched on");
    assert!(first.d_loss == 0.0, "discriminator on before its warm-up");

    // Resume: a run restored from a checkpoint continues exactly like the original.
    let bytes = t.checkpoint_bytes().unwrap();
    let mut resumed = Trainer::from_checkpoint_bytes(&bytes, "checkpoint", &cpu()).unwrap();
    assert_eq!(resumed.step, t.step);
    assert_eq!(resumed.usage, t.usage);
    let a = t.step(batch(7), 2, 16).unwrap();
    let b = resumed.step(batch(7), 2, 16).unwrap();
    assert_eq!(a.rec, b.rec);
    assert_eq!(a.d_loss, b.d_loss);
    let img = test_image(16);
    assert_eq!(
        t.codec().unwrap().encode(&img).unwrap(),
        resumed.codec().unwrap().encode(&img).unwrap()
    );

    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n / 3] ^= 1;
    assert!(matches!(
        Trainer::from_checkpoint_bytes(&bad, "checkpoint", &cpu()),
        Err(CodecError::Corrupted { .. })
    ));
}

#[test]
fn seeded_runs_are_reproducible() {
    let mut a = tiny_trainer(3);
    let mut b = tiny_trainer(3);
    let sa = a.step(batch(1), 2, 16).unwrap();
    let sb = b.step(batch(1), 2, 16).unwrap();
    assert_eq!(sa.rec, sb.rec);
    let c = tiny_trainer(4).step(batch(1), 2, 16).unwrap();
    assert_ne!(sa.rec, c.rec);
}

#[test]
fn version_1_weight_files_load_as_full_encoders() {
    let device = cpu();
    let mut cfg = CodecConfig::tiny(8).unwrap();
    (cfg.encoder_stem_levels, cfg.encoder_attention) = (0, true);
    let codec = Codec::random(cfg.clone(), 9, &device).unwrap();
    let v2 = codec.to_bytes().unwrap();
    // The version 1 layout: the same record after the configuration without the two
    // encoder fields.
    let n = u32::from_le_bytes(v2[10..14].try_into().unwrap()) as usize;
    let legacy = postcard::to_allocvec(&(
        cfg.factor,
        cfg.in_channels,
        cfg.base_channels,
        &cfg.channel_mult,
        cfg.num_res_blocks,
        cfg.latent_channels,
        cfg.codebook_size,
        cfg.norm_groups,
    ))
    .unwrap();
    let mut v1 = b"LATCODEC".to_vec();
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&(legacy.len() as u32).to_le_bytes());
    v1.extend_from_slice(&legacy);
    v1.extend_from_slice(&v2[14 + n..v2.len() - 4]);
    let crc = latent_codec::codes::crc32(&v1);
    v1.extend_from_slice(&crc.to_le_bytes());
    let back = Codec::from_bytes(&v1, &device).unwrap();
    assert_eq!(back.config(), &cfg);
    let img = test_image(32);
    assert_eq!(back.encode(&img).unwrap(), codec.encode(&img).unwrap());
    let mut v3 = v2.clone();
    v3[8] = 3;
    let n = v3.len();
    let crc = latent_codec::codes::crc32(&v3[..n - 4]);
    v3[n - 4..].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        Codec::from_bytes(&v3, &device),
        Err(CodecError::UnsupportedVersion {
            found: 3,
            expected: 2,
            ..
        })
    ));
}

#[test]
fn ssim_loss_matches_the_reported_metric() {
    let device = cpu();
    let a = test_image(40);
    let b = GrayImage::from_fn(40, 40, |x, y| {
        (a.data()[(y * 40 + x) as usize] + 0.1 * ((x * y) as f32 * 0.7).sin()).clamp(0.0, 1.0)
    })
    .unwrap();
    let t = |img: &GrayImage| {
        Tensor::<4>::from_data(
            TensorData::new(img.data().to_vec(), [1, 1, 40, 40]),
            &device,
        )
    };
    let batch = |img: &GrayImage| Tensor::cat(vec![t(&a), t(img)], 0);
    let got = latent_codec::model::ssim(batch(&a), batch(&b), 1.0)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()[0] as f64;
    let want = (1.0 + med_data::metrics::ssim(&a, &b, 1.0).unwrap()) / 2.0;
    assert!((got - want).abs() < 1e-4, "SSIM {got} vs {want}");
    assert!(want < 0.99);
}

#[test]
fn cosine_learning_rate() {
    let t = TrainConfig {
        lr: 1e-3,
        lr_end: 1e-5,
        decay_steps: 100,
        ..TrainConfig::default()
    };
    assert!((t.lr_at(0) - 1e-3).abs() < 1e-12);
    assert!((t.lr_at(50) - (1e-5 + 0.5 * (1e-3 - 1e-5))).abs() < 1e-12);
    assert!((t.lr_at(100) - 1e-5).abs() < 1e-12);
    assert_eq!(t.lr_at(1000), t.lr_at(100));
    let constant = TrainConfig::default();
    assert_eq!(constant.lr_at(7), constant.lr);
}

#[test]
fn distillation_from_a_donor_keeps_its_decoder() {
    let device = cpu();
    let mut donor_cfg = CodecConfig::tiny(4).unwrap();
    donor_cfg.codebook_size = 32;
    (donor_cfg.encoder_stem_levels, donor_cfg.encoder_attention) = (0, true);
    let donor = Codec::random(donor_cfg.clone(), 21, &device).unwrap();
    let mut t = tiny_trainer(5);
    assert_eq!(t.config.encoder_stem_levels, 1);
    t.init_from(&donor).unwrap();
    let codes = latent_codec::CodeIndices::new(32, 4, 4, (0..16).collect()).unwrap();
    assert_eq!(
        t.codec().unwrap().decode_indices(&codes).unwrap().data(),
        donor.decode_indices(&codes).unwrap().data()
    );
    let fixed = batch(0);
    let teacher = &donor.model().encoder;
    let first = t.distill_step(teacher, fixed.clone(), 2, 16).unwrap();
    let mut last = first.clone();
    for _ in 0..15 {
        last = t.distill_step(teacher, fixed.clone(), 2, 16).unwrap();
        assert_eq!(last.reinitialised, 0);
    }
    assert!(last.rec < 0.5 * first.rec, "{} -> {}", first.rec, last.rec);
    // Only the encoder moved.
    assert_eq!(
        t.codec().unwrap().decode_indices(&codes).unwrap().data(),
        donor.decode_indices(&codes).unwrap().data()
    );
    // A donor with another decoder is refused.
    let mut other = donor_cfg;
    other.base_channels = 16;
    let other = Codec::random(other, 1, &device).unwrap();
    assert!(matches!(
        t.init_from(&other),
        Err(CodecError::WeightMismatch { .. })
    ));
}
