//! The exported he-nn model computes what the burn network computes.

use burn::tensor::{Device, Tensor, TensorData};
use he_nn::digits;
use he_nn_train::{accuracy, train, TrainConfig};

#[test]
fn exported_model_matches_burn_and_learns() {
    let (train_set, test_set) = digits::split().unwrap();
    let config = TrainConfig {
        epochs: 2,
        ..TrainConfig::default()
    };
    let mut losses = Vec::new();
    let net = train(&train_set, &config, |_, l| losses.push(l)).unwrap();
    assert!(losses[1] < losses[0], "{losses:?}");
    assert!(accuracy(&net, &test_set).unwrap() > 0.7);
    let model = net.export("test").unwrap();
    let device = Device::flex();
    for d in test_set.iter().take(16) {
        let x: Vec<f32> = d.image.data.iter().map(|&v| v as f32).collect();
        let burn_logits: Vec<f32> = net
            .forward(Tensor::from_data(TensorData::new(x, [1, 1, 8, 8]), &device))
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let ours = model.forward(&d.image).unwrap();
        for (b, o) in burn_logits.iter().zip(&ours.data) {
            assert!((*b as f64 - o).abs() < 1e-3 * (1.0 + o.abs()), "{b} vs {o}");
        }
    }
}
