//! Full-size encrypted ResNets at the 128-bit bootstrapping preset (N = 2^16): minutes and
//! about 15 GiB each, so ignored by default:
//!
//! ```text
//! cargo test --release -p he-nn --test full_size -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each runs one random-weight model on one 4x32x32 input and requires every logit within
//! `1e-3` of the plaintext `f64` reference (issue 8's bound). The example
//! `cargo run --release -p he-nn --example resnet` prints the same run in detail.

use ckks_core::circuits::BootstrapPreset;
use ckks_core::ckks::{Decryptor, Encryptor};
use he_nn::zoo::{calibrate_batch_norm, resnet, RandomInit, ResNetConfig};
use he_nn::{CompileOptions, EncryptedModel, Shape, Tensor};

fn run(cfg: ResNetConfig) {
    let mut init = RandomInit::new(7);
    let mut model = resnet(&cfg, &mut init);
    let calibration: Vec<Tensor> = (0..8)
        .map(|_| Tensor::new(model.input, init.uniform(model.input.len(), 1.0)).unwrap())
        .collect();
    calibrate_batch_norm(&mut model, &calibration).unwrap();
    let set = BootstrapPreset::N16.build().unwrap();
    let plan =
        EncryptedModel::compile(&model, &set.params, &CompileOptions::full_size(&set)).unwrap();
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    let x = Tensor::new(model.input, init.uniform(model.input.len(), 1.0)).unwrap();
    let ct = plan
        .encrypt_input(
            &mut Encryptor::with_secret_key(&ctx, &sk),
            std::slice::from_ref(&x),
        )
        .unwrap();
    let out = plan.infer(&ct, &server).unwrap();
    let got = plan
        .decrypt_logits(&Decryptor::new(&ctx, &sk), &out, 1)
        .unwrap();
    let want = model.forward(&x).unwrap();
    let err = got[0]
        .iter()
        .zip(&want.data)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    println!(
        "{}: {} bootstraps, max |encrypted - reference| = {err:.3e}",
        model.name,
        plan.bootstraps()
    );
    assert!(err <= 1e-3, "{}: {err}", model.name);
}

fn input() -> Shape {
    Shape::new(4, 32, 32)
}

#[test]
#[ignore = "full size: minutes and ~15 GiB"]
fn resnet20_matches_the_reference() {
    run(ResNetConfig::depth(20, input(), 14));
}

#[test]
#[ignore = "full size: minutes and ~15 GiB"]
fn resnet20_se_matches_the_reference() {
    run(ResNetConfig::depth(20, input(), 14).with_se(4));
}

#[test]
#[ignore = "full size: minutes and ~15 GiB"]
fn resnet20_one_conv_matches_the_reference() {
    run(ResNetConfig::depth(20, input(), 14).one_conv());
}
