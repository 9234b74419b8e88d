//! Trains the digits CNN and writes `crates/he-nn/weights/digits-cnn.json`.
//!
//! `cargo run --release -p he-nn-train --bin train-digits [-- EPOCHS SEED OUT]`

use he_nn::digits;
use he_nn_train::{accuracy, train, TrainConfig};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = TrainConfig::default();
    if let Some(e) = args.first() {
        config.epochs = e.parse()?;
    }
    if let Some(s) = args.get(1) {
        config.seed = s.parse()?;
    }
    let out = args.get(2).cloned().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../he-nn/weights/digits-cnn.json"
        )
        .to_string()
    });
    let (train_set, test_set) = digits::split()?;
    println!(
        "digits: {} train / {} test images, {config:?}",
        train_set.len(),
        test_set.len()
    );
    let t = Instant::now();
    let net = train(&train_set, &config, |epoch, loss| {
        println!(
            "epoch {:>3}  loss {loss:.4}  ({:.0} s)",
            epoch + 1,
            t.elapsed().as_secs_f64()
        )
    })?;
    let (acc_train, acc_test) = (accuracy(&net, &train_set)?, accuracy(&net, &test_set)?);
    println!("burn accuracy: train {acc_train:.4}, test {acc_test:.4}");
    let model = net.export(&format!(
        "digits-cnn (burn, {} epochs, batch {}, lr {}, seed {}; burn test accuracy {acc_test:.4})",
        config.epochs, config.batch, config.lr, config.seed
    ))?;
    let correct = test_set
        .iter()
        .filter(|d| model.forward(&d.image).map(|y| y.argmax()) == Ok(d.label))
        .count();
    println!(
        "he-nn f64 reference accuracy on the test split: {:.4}",
        correct as f64 / test_set.len() as f64
    );
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, model.to_json()?)?;
    println!("wrote {out}");
    Ok(())
}
