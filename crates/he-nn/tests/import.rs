//! safetensors import: a file written by the test (PyTorch-style names and F32 tensors)
//! loads into the template, and bad files are typed errors.

use he_nn::import::{load_safetensors, save_safetensors, tensor_names};
use he_nn::model::{
    ApproxSigmoid, BatchNorm, Conv2d, Dense, Layer, Model, Quadratic, Shape, SqueezeExcitation,
};
use he_nn::{HeNnError, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;

fn template(fill: f64) -> Model {
    let dense = |i: usize, o: usize| Dense {
        inputs: i,
        outputs: o,
        weight: vec![fill; i * o],
        bias: vec![fill; o],
    };
    Model {
        name: "import".into(),
        input: Shape::new(2, 4, 4),
        layers: vec![
            Layer::Conv2d(Conv2d {
                in_channels: 2,
                out_channels: 4,
                kernel: 3,
                stride: 1,
                padding: 1,
                groups: 2,
                weight: vec![fill; 4 * 3 * 3],
                bias: vec![fill; 4],
            }),
            Layer::BatchNorm(BatchNorm {
                gamma: vec![1.0; 4],
                beta: vec![fill; 4],
                mean: vec![fill; 4],
                var: vec![1.0; 4],
                eps: 1e-5,
            }),
            Layer::Residual {
                body: vec![Layer::Quadratic(Quadratic {
                    a: vec![fill; 4],
                    b: vec![1.0; 4],
                    c: vec![fill; 4],
                })],
                shortcut: vec![],
            },
            Layer::SqueezeExcitation(SqueezeExcitation {
                reduce: dense(4, 2),
                activation: Quadratic::per_layer(fill, 1.0, 0.0),
                expand: dense(2, 4),
                sigmoid: ApproxSigmoid::default(),
            }),
            Layer::GlobalAvgPool,
            Layer::Dense(dense(4, 3)),
        ],
        encoder: None,
    }
}

/// The tensors of `model` as a PyTorch-like file: F32, names `features.{i}...`.
fn pytorch_file(model: &Model) -> (Vec<u8>, HashMap<String, String>) {
    let saved = save_safetensors(model).unwrap();
    let file = safetensors::SafeTensors::deserialize(&saved).unwrap();
    let mut rename = HashMap::new();
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, shape) in tensor_names(model) {
        let view = file.tensor(&name).unwrap();
        let f32s: Vec<u8> = view
            .data()
            .chunks_exact(8)
            .flat_map(|b| (f64::from_le_bytes(b.try_into().unwrap()) as f32).to_le_bytes())
            .collect();
        let torch = name.replacen("layers.", "features.", 1);
        rename.insert(name, torch.clone());
        owned.push((torch, shape, f32s));
    }
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    (safetensors::serialize(views, None).unwrap(), rename)
}

#[test]
fn a_pytorch_style_file_loads_with_the_name_mapping() {
    let trained = {
        let mut m = template(0.0);
        let mut k = 0.0;
        let bytes = save_safetensors(&m).unwrap();
        // give every weight a distinct value through a round trip of the canonical file
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let names = tensor_names(&m);
        let mut owned = Vec::new();
        for (n, s) in &names {
            let len: usize = s.iter().product();
            let v: Vec<u8> = (0..len)
                .flat_map(|_| {
                    k += 1.0;
                    (0.5 + (k * 0.37f64).sin() * 0.25).to_le_bytes()
                })
                .collect();
            assert!(file.tensor(n).is_ok());
            owned.push((n.clone(), s.clone(), v));
        }
        let views: Vec<(String, TensorView<'_>)> = owned
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
                )
            })
            .collect();
        m = load_safetensors(
            &m,
            &safetensors::serialize(views, None).unwrap(),
            &HashMap::new(),
        )
        .unwrap();
        m
    };
    assert_ne!(trained, template(0.0));
    // F64 canonical round trip is exact
    let again = load_safetensors(
        &template(0.0),
        &save_safetensors(&trained).unwrap(),
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(again, trained);
    // F32 with PyTorch-like names: equal up to f32 rounding, same forward pass
    let (bytes, rename) = pytorch_file(&trained);
    let loaded = load_safetensors(&template(0.0), &bytes, &rename).unwrap();
    let x = Tensor::new(
        Shape::new(2, 4, 4),
        (0..32).map(|i| i as f64 / 32.0).collect(),
    )
    .unwrap();
    let (a, b) = (trained.forward(&x).unwrap(), loaded.forward(&x).unwrap());
    for (u, v) in a.data.iter().zip(&b.data) {
        assert!((u - v).abs() < 1e-5, "{u} vs {v}");
    }
    // without the mapping the names are missing
    let err = load_safetensors(&template(0.0), &bytes, &HashMap::new()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn malformed_files_are_typed_errors() {
    let m = template(0.1);
    let bytes = save_safetensors(&m).unwrap();
    for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            load_safetensors(&m, &bytes[..cut], &HashMap::new()),
            Err(HeNnError::Weights(_))
        ));
    }
    // a tensor of the wrong shape
    let mut small = m.clone();
    small.layers[5] = Layer::Dense(Dense {
        inputs: 4,
        outputs: 2,
        weight: vec![0.0; 8],
        bias: vec![0.0; 2],
    });
    let err =
        load_safetensors(&m, &save_safetensors(&small).unwrap(), &HashMap::new()).unwrap_err();
    assert!(err.to_string().contains("shape"), "{err}");
}
