//! The exported he-nn model computes what the burn network computes.

use burn::tensor::{Device, Tensor, TensorData};
use he_nn::digits;
use he_nn_train::{accuracy, export_gap, train, TrainConfig};

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
    let x: Vec<f32> = test_set
        .iter()
        .take(16)
        .flat_map(|d| d.image.data.iter().map(|&v| v as f32))
        .collect();
    let burn_logits: Vec<f32> = net
        .forward(Tensor::from_data(
            TensorData::new(x.clone(), [16, 1, 8, 8]),
            &Device::flex(),
        ))
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    let gap = export_gap(&model, &x, &burn_logits).unwrap();
    assert!(gap < 1e-3, "{gap}");
}
