//! Weights from safetensors files (a model trained elsewhere, e.g. PyTorch's
//! `safetensors.torch.save_file(model.state_dict(), ...)`).
//!
//! The architecture comes from a template [`Model`] (its weight vectors give the sizes);
//! [`load_safetensors`] replaces every weight by the tensor of the same name. The canonical
//! names follow PyTorch's `state_dict` conventions, with `layers.{i}` for the `i`-th layer,
//! `.body.{j}` / `.shortcut.{j}` inside a residual block:
//!
//! | layer | tensors (shape) |
//! |---|---|
//! | `Conv2d` | `P.weight` `[out, in/groups, k, k]`, `P.bias` `[out]` (if the template has one) |
//! | `BatchNorm` | `P.weight` (γ), `P.bias` (β), `P.running_mean`, `P.running_var` `[C]` |
//! | `Quadratic` | `P.a`, `P.b`, `P.c` `[1]` or `[C]` |
//! | `Dense` | `P.weight` `[out, in]` (PyTorch `Linear` order), `P.bias` `[out]` |
//! | `SqueezeExcitation` | `P.reduce.weight`, `P.reduce.bias`, `P.activation.{a,b,c}`, `P.expand.weight`, `P.expand.bias` |
//!
//! `ApproxSigmoid` (a fixed polynomial), `Square`, pooling and `Flatten` have no tensors.
//! A file with other names (e.g. `features.0.weight` of an `nn.Sequential`) is read through a
//! rename map `canonical name -> name in the file`. F32 and F64 tensors are accepted; a
//! missing tensor, a wrong shape or dtype, a non-finite value or a malformed file is a typed
//! error naming the tensor.

use crate::error::{HeNnError, Result};
use crate::model::{Dense, Layer, Model, Quadratic};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};

/// A parameter tensor of the model: canonical name, shape, values.
type ParamRef<'a> = (String, Vec<usize>, &'a mut Vec<f64>);

fn dense_params<'a>(p: &str, d: &'a mut Dense, out: &mut Vec<ParamRef<'a>>) {
    let shape = vec![d.outputs, d.inputs];
    out.push((format!("{p}.weight"), shape, &mut d.weight));
    if !d.bias.is_empty() {
        out.push((format!("{p}.bias"), vec![d.outputs], &mut d.bias));
    }
}

fn quad_params<'a>(p: &str, q: &'a mut Quadratic, out: &mut Vec<ParamRef<'a>>) {
    for (n, v) in [("a", &mut q.a), ("b", &mut q.b), ("c", &mut q.c)] {
        out.push((format!("{p}.{n}"), vec![v.len()], v));
    }
}

fn sequence_params<'a>(prefix: &str, layers: &'a mut [Layer], out: &mut Vec<ParamRef<'a>>) {
    for (i, layer) in layers.iter_mut().enumerate() {
        let p = format!("{prefix}.{i}");
        match layer {
            Layer::Conv2d(c) => {
                let shape = vec![
                    c.out_channels,
                    c.in_channels / c.groups.max(1),
                    c.kernel,
                    c.kernel,
                ];
                out.push((format!("{p}.weight"), shape, &mut c.weight));
                if !c.bias.is_empty() {
                    out.push((format!("{p}.bias"), vec![c.out_channels], &mut c.bias));
                }
            }
            Layer::BatchNorm(bn) => {
                for (n, v) in [
                    ("weight", &mut bn.gamma),
                    ("bias", &mut bn.beta),
                    ("running_mean", &mut bn.mean),
                    ("running_var", &mut bn.var),
                ] {
                    out.push((format!("{p}.{n}"), vec![v.len()], v));
                }
            }
            Layer::Quadratic(q) => quad_params(&p, q, out),
            Layer::Dense(d) => dense_params(&p, d, out),
            Layer::SqueezeExcitation(se) => {
                dense_params(&format!("{p}.reduce"), &mut se.reduce, out);
                quad_params(&format!("{p}.activation"), &mut se.activation, out);
                dense_params(&format!("{p}.expand"), &mut se.expand, out);
            }
            Layer::Residual { body, shortcut } => {
                sequence_params(&format!("{p}.body"), body, out);
                sequence_params(&format!("{p}.shortcut"), shortcut, out);
            }
            Layer::Square
            | Layer::ApproxSigmoid(_)
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool
            | Layer::Flatten => {}
        }
    }
}

/// Canonical names and shapes of every tensor of `model`, in order.
pub fn tensor_names(model: &Model) -> Vec<(String, Vec<usize>)> {
    let mut m = model.clone();
    let mut out = Vec::new();
    sequence_params("layers", &mut m.layers, &mut out);
    out.into_iter().map(|(n, s, _)| (n, s)).collect()
}

fn read_tensor(view: &TensorView<'_>, name: &str, shape: &[usize]) -> Result<Vec<f64>> {
    if view.shape() != shape {
        return Err(HeNnError::Weights(format!(
            "tensor {name} has shape {:?}, the model needs {shape:?}",
            view.shape()
        )));
    }
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        other => {
            return Err(HeNnError::Weights(format!(
                "tensor {name} has dtype {other:?} (F32 or F64 expected)"
            )))
        }
    };
    if values.iter().any(|v| !v.is_finite()) {
        return Err(HeNnError::Weights(format!(
            "tensor {name} has non-finite values"
        )));
    }
    Ok(values)
}

/// `template` with every weight read from the safetensors `bytes`; `rename` maps canonical
/// names to the file's names (names absent from it are looked up as they are). The result is
/// validated.
pub fn load_safetensors(
    template: &Model,
    bytes: &[u8],
    rename: &HashMap<String, String>,
) -> Result<Model> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| HeNnError::Weights(format!("not a safetensors file: {e}")))?;
    let mut model = template.clone();
    let mut params = Vec::new();
    sequence_params("layers", &mut model.layers, &mut params);
    for (name, shape, values) in params {
        let stored = rename.get(&name).unwrap_or(&name);
        let view = file.tensor(stored).map_err(|_| {
            HeNnError::Weights(format!(
                "tensor {stored} (for {name}) is missing from the file"
            ))
        })?;
        *values = read_tensor(&view, stored, &shape)?;
    }
    model.validate()?;
    Ok(model)
}

/// Writes every weight of `model` under its canonical name as F64.
pub fn save_safetensors(model: &Model) -> Result<Vec<u8>> {
    let mut m = model.clone();
    let mut params = Vec::new();
    sequence_params("layers", &mut m.layers, &mut params);
    let bytes: BTreeMap<String, (Vec<usize>, Vec<u8>)> = params
        .into_iter()
        .map(|(n, s, v)| (n, (s, v.iter().flat_map(|x| x.to_le_bytes()).collect())))
        .collect();
    let views = bytes
        .iter()
        .map(|(n, (s, b))| {
            TensorView::new(Dtype::F64, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| HeNnError::Weights(format!("tensor {n}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None).map_err(|e| HeNnError::Weights(e.to_string()))
}
