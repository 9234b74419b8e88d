//! Running a [`Plan`]: the server's `infer` (checks everything before any work) and the
//! client's key generation, `encrypt_input` and `decrypt_logits`.

use crate::error::{HeNnError, Result};
use crate::plan::{CubicGate, Op, Plan, Step, StepInfo};
use crate::reference::Tensor;
use ckks_core::circuits::{EncapsulationKeys, PolynomialEvaluator};
use ckks_core::ckks::{Ciphertext, Decryptor, Encryptor, EvaluationKeys, Evaluator};
use ckks_core::rlwe::SecretKey;
use ckks_core::Complex64;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What the server holds: an evaluator with the evaluation keys, and the encapsulation keys
/// when the plan bootstraps under a dense user key.
pub struct ServerKeys {
    /// Evaluator with relinearization and Galois keys.
    pub evaluator: Evaluator,
    /// Sparse-secret encapsulation keys (bootstrapping with a dense key).
    pub encapsulation: Option<EncapsulationKeys>,
}

impl ServerKeys {
    /// Bytes all the keys occupy in memory.
    pub fn memory_bytes(&self) -> usize {
        self.evaluator.keys().memory_bytes()
            + self
                .encapsulation
                .as_ref()
                .map_or(0, EncapsulationKeys::memory_bytes)
    }
}

/// One executed step: its planned levels and its wall-clock time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The planned step.
    pub step: StepInfo,
    /// Seconds it took (nested steps are also listed on their own).
    pub seconds: f64,
}

/// The executed steps so far, and who wants to hear of each.
struct Recorder<'a> {
    trace: Vec<TraceEntry>,
    observer: &'a mut dyn FnMut(&TraceEntry),
}

impl Plan {
    /// Generates the server keys the plan needs for the secret key `sk`.
    pub fn generate_keys(&self, sk: &SecretKey) -> ServerKeys {
        let mut kg = self.ctx.key_generator();
        let keys = EvaluationKeys::generate_leveled_compacted(
            &self.ctx,
            &mut kg,
            sk,
            true,
            &self.rotation_steps(),
            self.needs_conjugation().then_some(self.conjugation_level),
            |g, l| self.compacted(g, l),
        );
        let encapsulation = self
            .needs_encapsulation
            .then(|| EncapsulationKeys::generate(&mut kg, sk, 32));
        ServerKeys {
            evaluator: Evaluator::new(&self.ctx, keys),
            encapsulation,
        }
    }

    /// `(rotation, level)` for every rotation key.
    fn rotation_steps(&self) -> Vec<(i64, usize)> {
        self.rotation_levels.iter().map(|(&r, &l)| (r, l)).collect()
    }

    /// Bytes the keys of [`generate_keys`](Self::generate_keys) will occupy in memory
    /// (relinearization, level-limited Galois and conjugation keys, encapsulation keys).
    pub fn key_memory_bytes(&self) -> usize {
        let p = self.ctx.params();
        let top = self.ctx.max_level();
        // the keys generate_keys makes: one per Galois element, at the highest level asked;
        // a compacted key holds its `b` halves only
        let levels = EvaluationKeys::galois_levels(
            &self.ctx,
            &self.rotation_steps(),
            self.needs_conjugation().then_some(self.conjugation_level),
        );
        let galois: usize = levels
            .into_iter()
            .map(|(g, l)| {
                let bytes = p.switching_key_bytes(l);
                if self.compacted(g, l) {
                    bytes / 2
                } else {
                    bytes
                }
            })
            .sum();
        let encapsulation = if self.needs_encapsulation {
            p.switching_key_bytes(0) + p.switching_key_bytes(top)
        } else {
            0
        };
        p.switching_key_bytes(top) + galois + encapsulation
    }

    /// Whether the Galois key of element `g` at `level` is generated compacted
    /// ([`CompileOptions::compact_keys_from`](crate::CompileOptions::compact_keys_from)):
    /// a bootstrapping key at or above that level that no network step rotates with.
    fn compacted(&self, g: u64, level: usize) -> bool {
        self.compact_keys_from.is_some_and(|from| level >= from)
            && !self.network_galois.contains(&g)
    }

    /// Packs up to [`batch`](Plan::batch) inputs into one ciphertext at the plan's input
    /// level and scale.
    pub fn encrypt_input(&self, enc: &mut Encryptor, inputs: &[Tensor]) -> Result<Ciphertext> {
        if inputs.is_empty() || inputs.len() > self.batch {
            return Err(HeNnError::Batch {
                given: inputs.len(),
                batch: self.batch,
            });
        }
        let mut v = vec![Complex64::new(0.0, 0.0); self.slots];
        for (b, t) in inputs.iter().enumerate() {
            if t.shape != self.input_shape || t.data.len() != t.shape.len() {
                return Err(HeNnError::InputShape {
                    expected: self.input_shape.to_string(),
                    got: t.shape.to_string(),
                });
            }
            let values: Vec<Complex64> = t.data.iter().map(|&x| Complex64::new(x, 0.0)).collect();
            self.input_layout
                .scatter(&values, &mut v[b * self.span..(b + 1) * self.span]);
        }
        let pt = self
            .ctx
            .encode(&v, self.slots, self.input_level, self.scale)?;
        Ok(enc.encrypt(&pt)?)
    }

    /// Decrypts the logits of the first `count` inputs of an output ciphertext.
    pub fn decrypt_logits(
        &self,
        dec: &Decryptor,
        ct: &Ciphertext,
        count: usize,
    ) -> Result<Vec<Vec<f64>>> {
        if count > self.batch {
            return Err(HeNnError::Batch {
                given: count,
                batch: self.batch,
            });
        }
        self.ctx.check_ciphertext(ct)?;
        if ct.slots() != self.slots {
            return Err(HeNnError::Ciphertext(format!(
                "{} slots, the plan's output has {}",
                ct.slots(),
                self.slots
            )));
        }
        let v = dec.decrypt_values(ct)?;
        Ok((0..count)
            .map(|b| {
                self.output_layout
                    .slots
                    .iter()
                    .map(|&s| v[b * self.span + s].re)
                    .collect()
            })
            .collect())
    }

    /// Checks the input ciphertext and the keys against the plan (before any work).
    fn check(&self, ct: &Ciphertext, keys: &ServerKeys) -> Result<()> {
        let eval = &keys.evaluator;
        if eval.context().fingerprint() != self.ctx.fingerprint() {
            return Err(HeNnError::MissingKeys(
                "the evaluator belongs to another parameter set".into(),
            ));
        }
        self.ctx
            .check_ciphertext(ct)
            .map_err(|e| HeNnError::Ciphertext(e.to_string()))?;
        if ct.degree() != 1 {
            return Err(HeNnError::Ciphertext(format!("degree {}", ct.degree())));
        }
        if ct.level() != self.input_level {
            return Err(HeNnError::Ciphertext(format!(
                "level {}, the plan takes level {}",
                ct.level(),
                self.input_level
            )));
        }
        if (ct.scale() / self.scale - 1.0).abs() > 1e-9 {
            return Err(HeNnError::Ciphertext(format!(
                "scale 2^{:.3}, the plan takes 2^{:.3}",
                ct.scale().log2(),
                self.scale.log2()
            )));
        }
        if ct.slots() != self.slots {
            return Err(HeNnError::Ciphertext(format!(
                "{} slots, the plan takes {}",
                ct.slots(),
                self.slots
            )));
        }
        let k = eval.keys();
        if k.relin.is_none() {
            return Err(HeNnError::MissingKeys("relinearization key".into()));
        }
        let missing: Vec<String> = self
            .rotation_levels
            .iter()
            .filter_map(
                |(&r, &l)| match k.galois.get(&self.ctx.galois_element_for_rotation(r)) {
                    None => Some(format!("{r}")),
                    Some(key) if key.level() < l => {
                        Some(format!("{r} (key up to level {}, needed {l})", key.level()))
                    }
                    Some(_) => None,
                },
            )
            .collect();
        if !missing.is_empty() {
            return Err(HeNnError::MissingKeys(format!(
                "Galois keys for the rotations [{}]",
                missing.join(", ")
            )));
        }
        if self.needs_conjugation()
            && !k
                .galois
                .contains_key(&self.ctx.galois_element_for_conjugation())
        {
            return Err(HeNnError::MissingKeys(
                "conjugation key (bootstrapping)".into(),
            ));
        }
        if self.needs_encapsulation && keys.encapsulation.is_none() {
            return Err(HeNnError::MissingKeys(
                "encapsulation keys (bootstrapping with a dense user key)".into(),
            ));
        }
        Ok(())
    }

    /// Runs the encrypted model on `ct` (output: logits at the plan's output level).
    pub fn infer(&self, ct: &Ciphertext, keys: &ServerKeys) -> Result<Ciphertext> {
        self.infer_traced(ct, keys).map(|(c, _)| c)
    }

    /// [`infer`](Plan::infer) with the time and levels of every step.
    pub fn infer_traced(
        &self,
        ct: &Ciphertext,
        keys: &ServerKeys,
    ) -> Result<(Ciphertext, Vec<TraceEntry>)> {
        self.infer_observed(ct, keys, &mut |_| {})
    }

    /// [`infer_traced`](Plan::infer_traced), calling `observer` after every step (for
    /// progress display; [`trace`](Plan::trace)`().len()` steps in all).
    pub fn infer_observed(
        &self,
        ct: &Ciphertext,
        keys: &ServerKeys,
        observer: &mut dyn FnMut(&TraceEntry),
    ) -> Result<(Ciphertext, Vec<TraceEntry>)> {
        self.check(ct, keys)?;
        let mut rec = Recorder {
            trace: Vec::new(),
            observer,
        };
        let out = self.run(&self.steps, ct.clone(), keys, &mut rec)?;
        Ok((out, rec.trace))
    }

    fn run(
        &self,
        steps: &[Step],
        mut ct: Ciphertext,
        keys: &ServerKeys,
        rec: &mut Recorder<'_>,
    ) -> Result<Ciphertext> {
        for s in steps {
            let t = Instant::now();
            ct = self.apply(s, ct, keys, rec)?;
            if ct.level() != s.info.level_out {
                return Err(HeNnError::Plan(format!(
                    "step {} ended at level {}, planned {}",
                    s.info.name,
                    ct.level(),
                    s.info.level_out
                )));
            }
            let entry = TraceEntry {
                step: s.info.clone(),
                seconds: t.elapsed().as_secs_f64(),
            };
            (rec.observer)(&entry);
            rec.trace.push(entry);
        }
        Ok(ct)
    }

    fn apply(
        &self,
        s: &Step,
        ct: Ciphertext,
        keys: &ServerKeys,
        rec: &mut Recorder<'_>,
    ) -> Result<Ciphertext> {
        let eval = &keys.evaluator;
        Ok(match &s.op {
            Op::Linear { lt, bias } => {
                eval.add_plain(&eval.rescale(&lt.evaluate(eval, &ct)?)?, bias)?
            }
            Op::FactoredQuadratic { shift } => {
                let t = eval.add_plain(&ct, shift)?;
                eval.mul_relin_rescale(&ct, &t)?
            }
            Op::Quadratic { a, b, c } => {
                let u = eval.add_plain(&eval.rescale(&eval.mul_plain(&ct, a)?)?, b)?;
                let x = eval.drop_to_level(&ct, ct.level() - 1)?;
                eval.add_plain(&eval.rescale(&eval.mul_relin(&x, &u)?)?, c)?
            }
            Op::Poly { poly, scale } => {
                PolynomialEvaluator::new(eval).evaluate(&ct, poly, *scale)?
            }
            Op::RotateSum { rotations } => {
                let mut acc = ct;
                for &r in rotations {
                    acc = eval.add(&acc, &eval.rotate(&acc, r)?)?;
                }
                acc
            }
            Op::Bootstrap => {
                let bts = self.bootstrapper.as_ref().ok_or_else(|| {
                    HeNnError::Plan("a bootstrap step in a plan without bootstrapper".into())
                })?;
                // the plan's ciphertexts repeat every bts.slots() slots (a sparse view)
                let view = eval.with_slots(&ct, bts.slots())?;
                let out = bts.bootstrap(eval, keys.encapsulation.as_ref(), &view)?;
                eval.with_slots(&out, ct.slots())?
            }
            Op::Residual {
                body,
                shortcut,
                level,
            } => {
                let b = self.run(body, ct.clone(), keys, rec)?;
                let sc = self.run(shortcut, ct, keys, rec)?;
                eval.add(
                    &eval.drop_to_level(&b, *level)?,
                    &eval.drop_to_level(&sc, *level)?,
                )?
            }
            Op::Gate {
                gate,
                x_steps,
                level,
                cubic,
            } => {
                let g = self.run(gate, ct.clone(), keys, rec)?;
                let x = self.run(x_steps, ct, keys, rec)?;
                match cubic {
                    Some(k) => cubic_gate(eval, &x, &g, k, *level, self.scale)?,
                    None => eval.rescale(&eval.mul_relin(
                        &eval.drop_to_level(&x, *level)?,
                        &eval.drop_to_level(&g, *level)?,
                    )?)?,
                }
            }
        })
    }
}

/// [`CubicGate`]: `x ⊙ p(y) = c_0' x + (x ⊙ w) ⊙ (c_1' + c_3 w²)` for `w` (the shifted `y`)
/// from level `ℓ` to `ℓ - 2`, at scale exactly `delta`.
///
/// Scales: `A = x ⊙ w` lands on `s_x s_w / q_ℓ`, `w²` on `s_w² / q_ℓ`, read as `c_3 w²` at
/// `s_w² / (q_ℓ |c_3|)`; their product's rescale gives `s_x s_w³ / (q_ℓ² q_{ℓ-1} |c_3|)`,
/// which is `delta` once the factor with a level to spare has been brought to the scale that
/// solves `s_x s_w³ =` [`CubicGate::scale_product`] (a product by the constant 1, then a
/// rescale).
fn cubic_gate(
    eval: &Evaluator,
    x: &Ciphertext,
    w: &Ciphertext,
    k: &CubicGate,
    level: usize,
    delta: f64,
) -> Result<Ciphertext> {
    let q = |l: usize| eval.context().params().q()[l] as f64;
    if level < 2 {
        return Err(HeNnError::Plan(format!("a cubic gate at level {level}")));
    }
    let product = k.scale_product(delta, q(level), q(level - 1));
    // a ciphertext at `scale`, level `level`, from `ct` one level or more above
    let rescaled = |ct: &Ciphertext, scale: f64| -> Result<Ciphertext> {
        let up = eval.drop_to_level(ct, level + 1)?;
        let one = eval.mul_const_with_scale(
            &up,
            Complex64::new(1.0, 0.0),
            scale * q(level + 1) / ct.scale(),
        )?;
        Ok(eval.rescale(&one)?)
    };
    let (x, w) = if x.level() > level {
        let sx = product / w.scale().powi(3);
        (rescaled(x, sx)?, eval.drop_to_level(w, level)?)
    } else if w.level() > level {
        let sw = (product / x.scale()).cbrt();
        (eval.drop_to_level(x, level)?, rescaled(w, sw)?)
    } else {
        return Err(HeNnError::Plan(format!(
            "a cubic gate at level {level} with factors at levels {} and {}",
            x.level(),
            w.level()
        )));
    };
    let xw = eval.mul_relin_rescale(&x, &w)?;
    let w2 = eval.square_relin_rescale(&w)?;
    let d = eval.add_const(&eval.relabel(&w2, k.c3)?, Complex64::new(k.c1, 0.0))?;
    let cubic = eval.mul_relin_rescale(&xw, &d)?;
    let x1 = eval.drop_to_level(&x, level - 1)?;
    let constant = eval.mul_const_with_scale(
        &x1,
        Complex64::new(k.c0, 0.0),
        delta * q(level - 1) / x1.scale(),
    )?;
    Ok(eval.add(&eval.rescale(&constant)?, &cubic)?)
}
