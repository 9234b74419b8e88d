//! Weight averaging of several snapshots of one training run (Polyak averaging; "stochastic
//! weight averaging", Izmailov et al. 2018): the element-wise mean of every parameter over
//! snapshots taken along the low-learning-rate tail of a run, often a slightly better model
//! than any single snapshot. The generator has no batch statistics (GroupNorm only), so the
//! averaged weights need no recalibration.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::codec::{cpu, Codec};
use crate::error::{CodecError, Result};
use crate::model::floats;

/// Collects every float parameter of a module, in visiting order.
struct Collect(Vec<(Vec<usize>, Vec<f32>)>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let dims = t.dims().to_vec();
        self.0.push((dims, floats(t)));
    }
}

/// Replaces every float parameter, in visiting order, by the next of `values`.
struct Replace {
    values: Vec<Vec<f32>>,
    next: usize,
}

impl ModuleMapper for Replace {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let v = std::mem::take(&mut self.values[self.next]);
        self.next += 1;
        param.map(|t| {
            let shape = t.dims();
            let device = t.device();
            Tensor::from_data(TensorData::new(v, shape), &device)
        })
    }
}

fn params(codec: &Codec) -> Vec<(Vec<usize>, Vec<f32>)> {
    let mut c = Collect(Vec::new());
    codec.model().visit(&mut c);
    c.0
}

/// The element-wise mean of the generator parameters of `codecs` (at least one, all of one
/// configuration), as a codec of that configuration. [`CodecError::WeightMismatch`] when the
/// configurations or parameter shapes differ, [`CodecError::InvalidArgument`] for an empty
/// list.
pub fn average(codecs: &[Codec]) -> Result<Codec> {
    let first = codecs
        .first()
        .ok_or_else(|| CodecError::InvalidArgument("no weights to average".into()))?;
    let mismatch = |detail: String| CodecError::WeightMismatch {
        what: "averaged weights".into(),
        detail,
    };
    let base = params(first);
    let mut sums: Vec<Vec<f64>> = base
        .iter()
        .map(|(_, v)| v.iter().map(|&x| x as f64).collect())
        .collect();
    for (n, c) in codecs.iter().enumerate().skip(1) {
        if c.config() != first.config() {
            return Err(mismatch(format!("snapshot {n} has another configuration")));
        }
        let p = params(c);
        if p.len() != base.len() {
            return Err(mismatch(format!("snapshot {n}: parameter count differs")));
        }
        for (i, ((dims, v), s)) in p.iter().zip(sums.iter_mut()).enumerate() {
            if dims != &base[i].0 {
                return Err(mismatch(format!(
                    "snapshot {n}: parameter {i} has shape {dims:?}, not {:?}",
                    base[i].0
                )));
            }
            s.iter_mut().zip(v).for_each(|(s, &x)| *s += x as f64);
        }
    }
    let k = codecs.len() as f64;
    let values = sums
        .into_iter()
        .map(|s| s.into_iter().map(|x| (x / k) as f32).collect())
        .collect();
    let mut replace = Replace { values, next: 0 };
    let model = first.model().clone().to_device(&cpu()).map(&mut replace);
    Codec::from_model(first.config().clone(), model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{init_params, with_seed};
    use crate::config::CodecConfig;
    use crate::model::VqGan;

    fn model(seed: u64) -> Codec {
        let config = CodecConfig::tiny(8).unwrap();
        let device = cpu();
        let m = with_seed(&device, seed, || init_params(VqGan::new(&config, &device)));
        Codec::from_model(config, m).unwrap()
    }

    #[test]
    fn mean_of_two_snapshots_is_elementwise() {
        let (a, b) = (model(1), model(2));
        let avg = average(&[a.clone(), b.clone()]).unwrap();
        let (pa, pb, pm) = (params(&a), params(&b), params(&avg));
        assert_eq!(pa.len(), pm.len());
        let mut differs = false;
        for ((x, y), m) in pa.iter().zip(&pb).zip(&pm) {
            assert_eq!(x.0, m.0);
            for ((&x, &y), &m) in x.1.iter().zip(&y.1).zip(&m.1) {
                assert!((m - (x + y) / 2.0).abs() <= 1e-6 * (1.0 + x.abs() + y.abs()));
                differs |= x != y;
            }
        }
        assert!(differs, "the two seeds gave identical models");
    }

    #[test]
    fn average_of_one_is_the_same_model() {
        let a = model(3);
        let avg = average(std::slice::from_ref(&a)).unwrap();
        assert_eq!(a.to_bytes().unwrap(), avg.to_bytes().unwrap());
    }

    #[test]
    fn mismatched_or_empty_inputs_are_errors() {
        assert!(matches!(average(&[]), Err(CodecError::InvalidArgument(_))));
        let config = CodecConfig::tiny(4).unwrap();
        let device = cpu();
        let m = with_seed(&device, 1, || init_params(VqGan::new(&config, &device)));
        let other = Codec::from_model(config, m).unwrap();
        assert!(matches!(
            average(&[model(1), other]),
            Err(CodecError::WeightMismatch { .. })
        ));
    }
}
