//! The geometric network: plaintext training learns the synthetic task, and the encrypted
//! forward pass (encrypted inputs, weights encrypted under the client's public key) agrees
//! with the plaintext one, at small insecure test parameters.

use ckks_core::ckks::{
    insecure_test_params, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator,
};
use geo_fhe::data::{synthetic_dataset, Dataset, Standardizer};
use geo_fhe::encrypted::{encode_planar, encrypt_planar};
use geo_fhe::network::{argmax, EncryptedModel, GeoNet, ProductMethod, TrainConfig, DEPTH};
use geo_fhe::GeoError;

fn trained() -> (GeoNet, Dataset, Dataset) {
    let train = synthetic_dataset(300, 12, 10);
    let test = synthetic_dataset(90, 12, 11);
    let s = Standardizer::fit(&train.x);
    let norm = |d: &Dataset| Dataset {
        x: d.x.iter().map(|m| s.apply(m)).collect(),
        y: d.y.clone(),
    };
    let cfg = TrainConfig {
        epochs: 25,
        ..TrainConfig::default()
    };
    let (net, hist) = GeoNet::train(&norm(&train), &cfg).unwrap();
    assert!(
        hist.last().unwrap() < hist.first().unwrap(),
        "loss did not decrease: {hist:?}"
    );
    (net, norm(&train), norm(&test))
}

#[test]
fn data_is_deterministic_and_balanced() {
    let a = synthetic_dataset(30, 10, 3);
    let b = synthetic_dataset(30, 10, 3);
    assert_eq!(a, b);
    assert_ne!(a, synthetic_dataset(30, 10, 4));
    for c in 0..3 {
        assert_eq!(a.y.iter().filter(|&&y| y == c).count(), 10);
    }
    // Healthy volumes have a much smaller segmented volume than lesions on average.
    let vol = |c: usize| {
        let v: Vec<f64> =
            a.x.iter()
                .zip(&a.y)
                .filter(|(_, &y)| y == c)
                .map(|(m, _)| m.0[7])
                .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(vol(0) < vol(1) && vol(0) < vol(2));
}

#[test]
fn training_rejects_bad_input() {
    assert!(matches!(
        GeoNet::train(&Dataset::default(), &TrainConfig::default()),
        Err(GeoError::Model(_))
    ));
    let d = synthetic_dataset(3, 8, 1);
    let cfg = TrainConfig {
        batch: 0,
        ..TrainConfig::default()
    };
    assert!(matches!(GeoNet::train(&d, &cfg), Err(GeoError::Model(_))));
}

#[test]
fn plaintext_and_encrypted_networks_agree() {
    let (net, train, test) = trained();
    let acc = net.accuracy(&test);
    assert!(
        net.accuracy(&train) > 0.6 && acc > 0.6,
        "accuracy {acc} is near chance (1/3)"
    );

    let ctx = Context::new(&insecure_test_params(10, DEPTH).unwrap()).unwrap();
    let slots = ctx.params().max_slots();
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let pk = kg.public_key(&sk);
    let eval = Evaluator::new(
        &ctx,
        EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[], false),
    );
    let mut enc = Encryptor::with_public_key(&ctx, &pk);
    let scale = ctx.params().default_scale();
    let x = encrypt_planar(
        &mut enc,
        &encode_planar(&ctx, &test.x, slots, DEPTH, scale).unwrap(),
    )
    .unwrap();
    let dec = Decryptor::new(&ctx, &sk);
    let mut model = None;
    for method in [ProductMethod::Direct, ProductMethod::Pauli] {
        let m = EncryptedModel::encrypt(&net, &ctx, &mut enc, slots, DEPTH, scale, method).unwrap();
        let out = m.forward(&eval, &x).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].level(), 0);
        let cols: Vec<_> = out.iter().map(|c| dec.decrypt_values(c).unwrap()).collect();
        for (i, xi) in test.x.iter().enumerate() {
            let want = net.logits(xi);
            let got: Vec<f64> = cols.iter().map(|c| c[i].re).collect();
            for (w, g) in want.iter().zip(&got) {
                assert!(
                    (w - g).abs() < 1e-3 * (1.0 + w.abs()),
                    "{method:?} sample {i}: {want:?} vs {got:?}"
                );
            }
            assert_eq!(argmax(&got), net.predict(xi), "{method:?} sample {i}");
        }
        model = Some(m);
    }
    let model = model.unwrap();
    // Inputs at the wrong level are refused.
    let low = x.drop_to_level(&eval, DEPTH - 1).unwrap();
    assert!(matches!(
        model.forward(&eval, &low),
        Err(GeoError::Layout(_))
    ));
}
