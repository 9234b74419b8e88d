//! # he-nn
//!
//! The server side of the Latent-HE pipeline (Kim et al. 2025): an encrypted CNN executor
//! over the project's RNS-CKKS library `ckks-core`.
//!
//! * [`model`]: a framework-free, serde model description (Conv2d, BatchNorm, quadratic
//!   activations, square, cubic sigmoid, squeeze-and-excitation, pooling, dense, residual,
//!   flatten) with shape validation, and [`reference`]: its `f64` forward pass;
//! * [`affine`]: every linear layer as a sparse affine map, composed symbolically;
//! * [`layout`]: multiplexed packing (Lee et al. 2022) and SIMD batching;
//! * [`plan`]: the planner ([`EncryptedModel::compile`]): levels, bootstraps, rotation keys;
//! * [`exec`]: [`Plan::infer`], key generation, `encrypt_input`, `decrypt_logits`;
//! * [`import`]: weights from safetensors files;
//! * [`digits`]: the real-data check's dataset (scikit-learn's bundled `digits`);
//! * [`zoo`]: ResNet-`6n+2` (with or without squeeze-and-excitation, one or two convolutions
//!   per block) and LeNet builders with seeded random weights (templates and test models).
//!
//! ```
//! use he_nn::model::{Conv2d, Dense, Layer, Model, Quadratic, Shape};
//! use he_nn::{CompileOptions, EncryptedModel, Tensor};
//! use ckks_core::ckks::{insecure_test_params, Decryptor, Encryptor};
//!
//! let model = Model {
//!     name: "tiny".into(),
//!     input: Shape::new(1, 4, 4),
//!     layers: vec![
//!         Layer::Conv2d(Conv2d { in_channels: 1, out_channels: 2, kernel: 3, stride: 1,
//!             padding: 1, groups: 1, weight: vec![0.1; 18], bias: vec![0.0, 0.1] }),
//!         Layer::Quadratic(Quadratic::per_layer(0.5, 1.0, 0.0)),
//!         Layer::GlobalAvgPool,
//!         Layer::Dense(Dense { inputs: 2, outputs: 3, weight: vec![1.0, -1.0, 0.5, 0.5, 0.0, 2.0], bias: vec![] }),
//!     ],
//!     encoder: None,
//! };
//! let params = insecure_test_params(10, 3).unwrap(); // test-only; use a Preset in practice
//! let plan = EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(4)).unwrap();
//! let ctx = plan.context().clone();
//! let sk = ctx.key_generator().secret_key(None);
//! let server = plan.generate_keys(&sk);
//!
//! let x = Tensor::new(Shape::new(1, 4, 4), (0..16).map(|i| i as f64 / 16.0).collect()).unwrap();
//! let ct = plan.encrypt_input(&mut Encryptor::with_secret_key(&ctx, &sk), &[x.clone()]).unwrap();
//! let out = plan.infer(&ct, &server).unwrap();
//! let got = plan.decrypt_logits(&Decryptor::new(&ctx, &sk), &out, 1).unwrap();
//! let want = model.forward(&x).unwrap();
//! for (g, w) in got[0].iter().zip(&want.data) {
//!     assert!((g - w).abs() < 1e-6);
//! }
//! ```

pub mod affine;
pub mod digits;
pub mod error;
pub mod exec;
pub mod import;
pub mod layout;
pub mod model;
pub mod plan;
pub mod reference;
pub mod zoo;

pub use error::{HeNnError, Result};
pub use exec::{ServerKeys, TraceEntry};
pub use model::{Layer, Model, Shape};
pub use plan::{CompileOptions, EncryptedModel, Plan, StepInfo};
pub use reference::{argmax, Tensor};
