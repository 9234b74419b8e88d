//! The shipped classifiers load, validate and have the architecture the docs state.

use he_nn::Layer;
use privmed::demo::{read_model, ParamSet, SHIPPED_LENET, SHIPPED_RESNET};
use std::path::Path;

#[test]
fn shipped_resnet20_se_is_the_default_and_has_its_architecture() {
    let (path, model) = read_model(None, ParamSet::N16).unwrap();
    assert_eq!(path, Path::new(SHIPPED_RESNET));
    assert_eq!(model.validate().unwrap().len(), 14);
    let blocks: Vec<&Layer> = model
        .layers
        .iter()
        .filter(|l| matches!(l, Layer::Residual { .. }))
        .collect();
    assert_eq!(blocks.len(), 9, "three stages of three blocks");
    for b in blocks {
        let Layer::Residual { body, .. } = b else {
            unreachable!()
        };
        let convs = body
            .iter()
            .filter(|l| matches!(l, Layer::Conv2d(_)))
            .count();
        assert_eq!(convs, 2);
        assert!(body
            .iter()
            .any(|l| matches!(l, Layer::SqueezeExcitation(_))));
    }
    assert!(std::fs::metadata(SHIPPED_RESNET).unwrap().len() < 4_000_000);
}

#[test]
fn shipped_lenet_is_the_test_parameters_default() {
    let (path, model) = read_model(None, ParamSet::Test).unwrap();
    assert_eq!(path, Path::new(SHIPPED_LENET));
    assert_eq!(model.validate().unwrap().len(), 14);
}

#[test]
fn shipped_classifiers_name_the_codec_they_were_trained_on() {
    let id = privmed::classifier_codec().unwrap().id().unwrap();
    assert_eq!(id, "vqgan-f8-c32ebc085");
    for params in [ParamSet::N16, ParamSet::Test] {
        let (_, mut model) = read_model(None, params).unwrap();
        assert_eq!(model.encoder.as_deref(), Some(id.as_str()));
        privmed::codec_for(&model, None).unwrap();
        model.encoder = Some("vqgan-f8-c00000000".into());
        let Err(err) = privmed::codec_for(&model, None) else {
            panic!("a mismatched codec was accepted")
        };
        assert!(
            matches!(err, privmed::PrivmedError::CodecMismatch { ref codec, .. } if *codec == id),
            "{err}"
        );
        // a model that records no codec is trusted
        model.encoder = None;
        privmed::codec_for(&model, None).unwrap();
    }
}
