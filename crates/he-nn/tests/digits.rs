//! The real-data check: the shipped digits CNN (trained in burn by he-nn-train on
//! scikit-learn's bundled digits, real 8x8 images) gives identical predictions encrypted and
//! in plaintext on the whole test split (359 images, `he_nn::digits::is_test`).

use ckks_core::ckks::{insecure_test_params, Decryptor, Encryptor, PrecisionStats};
use ckks_core::Complex64;
use he_nn::{argmax, digits, CompileOptions, EncryptedModel, Model};

const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/digits-cnn.json");

#[test]
fn encrypted_and_plaintext_digits_predictions_are_identical() {
    let model = Model::from_json(&std::fs::read_to_string(WEIGHTS).unwrap()).unwrap();
    let (_, test) = digits::split().unwrap();
    assert_eq!(test.len(), 359);
    // N = 2^11 (insecure test set, 1024 slots), 8 images per ciphertext
    let params = insecure_test_params(11, 5).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(8)).unwrap();
    println!("{}", plan.report());
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    let mut enc = Encryptor::with_secret_key(&ctx, &sk);
    let dec = Decryptor::new(&ctx, &sk);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    let (mut plain_ok, mut enc_ok, mut same) = (0, 0, 0);
    let t = std::time::Instant::now();
    for chunk in test.chunks(plan.batch()) {
        let images: Vec<_> = chunk.iter().map(|d| d.image.clone()).collect();
        let ct = plan.encrypt_input(&mut enc, &images).unwrap();
        let out = plan.infer(&ct, &server).unwrap();
        let logits = plan.decrypt_logits(&dec, &out, chunk.len()).unwrap();
        for (d, l) in chunk.iter().zip(&logits) {
            let r = model.forward(&d.image).unwrap();
            let (p, e) = (r.argmax(), argmax(l));
            plain_ok += usize::from(p == d.label);
            enc_ok += usize::from(e == d.label);
            same += usize::from(p == e);
            want.extend(r.data);
            got.extend(l.iter().map(|&v| Complex64::new(v, 0.0)));
        }
    }
    let stats = PrecisionStats::compare_real(&want, &got);
    let max_err = want
        .iter()
        .zip(&got)
        .map(|(w, g)| (w - g.re).abs())
        .fold(0.0, f64::max);
    println!(
        "digits test split: {} images, plaintext accuracy {:.4}, encrypted accuracy {:.4}, identical predictions {same}/{}, max |logit error| {max_err:.2e}, {} ({:.1} s encrypted)",
        test.len(),
        plain_ok as f64 / test.len() as f64,
        enc_ok as f64 / test.len() as f64,
        test.len(),
        stats.real,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(same, test.len());
    assert_eq!(plain_ok, enc_ok);
    assert!(
        plain_ok as f64 / test.len() as f64 > 0.9,
        "accuracy floor of the shipped weights"
    );
    assert!(stats.real.min > 15.0, "{}", stats.real);
}
