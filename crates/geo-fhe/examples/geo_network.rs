//! End to end on **synthetic** 3D lesion volumes: generate, describe as multivectors, train the
//! 1 -> 16 -> 8 -> 3 geometric network in plaintext, then run it with encrypted inputs and
//! encrypted weights (public key of the client) over one full batch at a 128-bit preset, on 1
//! and 2 threads; also times single batched geometric products in both layouts.
//!
//! ```text
//! cargo run --release -p geo-fhe --example geo_network            # preset N14 (PN14-D7)
//! cargo run --release -p geo-fhe --example geo_network -- N15     # any preset with depth >= 5
//! ```

use ckks_core::ckks::{
    security_bound, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, Preset,
};
use geo_fhe::algebra::{Multivector, BLADES};
use geo_fhe::data::{synthetic_dataset, Dataset, Standardizer};
use geo_fhe::encrypted::*;
use geo_fhe::network::{argmax, EncryptedModel, GeoNet, ProductMethod, TrainConfig, DEPTH};
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn secs<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "N14".into());
    let preset = Preset::ALL
        .into_iter()
        .find(|p| format!("{p:?}").eq_ignore_ascii_case(&name))
        .ok_or_else(|| format!("unknown preset {name}; one of {:?}", Preset::ALL))?;
    let params = preset.build()?;
    let slots = params.max_slots();
    println!(
        "preset {}: N = 2^{}, {} primes, log QP = {:.1} <= {} (128-bit), scale 2^{}, {} slots",
        params.name(),
        params.log_n(),
        params.q().len(),
        params.log_qp(),
        security_bound(params.log_n()).unwrap_or(0),
        params.log_scale(),
        slots
    );

    // --- Data (synthetic) and plaintext training -------------------------------------------
    let grid = 16;
    let ((train_raw, test_raw), t_data) = secs(|| {
        (
            synthetic_dataset(1500, grid, 1),
            synthetic_dataset(slots, grid, 2),
        )
    });
    println!(
        "synthetic data: {} training and {} held-out volumes of {grid}^3 voxels, {:.1} s",
        train_raw.len(),
        test_raw.len(),
        t_data
    );
    let stdz = Standardizer::fit(&train_raw.x);
    let norm = |d: &Dataset| Dataset {
        x: d.x.iter().map(|m| stdz.apply(m)).collect(),
        y: d.y.clone(),
    };
    let (train, test) = (norm(&train_raw), norm(&test_raw));
    let cfg = TrainConfig::default();
    let (trained, t_train) = secs(|| GeoNet::train(&train, &cfg));
    let (net, history) = trained?;
    println!(
        "training: {} epochs, batch {}, Adam lr {}, beta {}: {:.1} s, loss {:.3} -> {:.3}",
        cfg.epochs,
        cfg.batch,
        cfg.lr,
        cfg.beta,
        t_train,
        history.first().copied().unwrap_or(f64::NAN),
        history.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "plaintext accuracy: train {:.4}, held-out test {:.4} (synthetic); max |pre-activation| on test {:.2}",
        net.accuracy(&train),
        net.accuracy(&test),
        net.max_abs_activation(&test)
    );

    // --- Keys (client) ------------------------------------------------------------------------
    let ctx = Context::new(&params)?;
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let pk = kg.public_key(&sk);
    let (keys, t_keys) = secs(|| {
        EvaluationKeys::generate(
            &ctx,
            &mut kg,
            &sk,
            true,
            &interleaved_rotation_steps(),
            false,
        )
    });
    println!(
        "relinearization + {} rotation keys: {:.2} s",
        interleaved_rotation_steps().len(),
        t_keys
    );
    let eval = Evaluator::new(&ctx, keys);
    let dec = Decryptor::new(&ctx, &sk);
    let mut enc = Encryptor::with_public_key(&ctx, &pk);
    let scale = params.default_scale();

    // --- Single batched products ----------------------------------------------------------------
    let level = DEPTH; // the level the network's first product runs at
    let a = &test.x[..slots];
    let b: Vec<Multivector> = test.x.iter().rev().take(slots).copied().collect();
    let ca = encrypt_planar(&mut enc, &encode_planar(&ctx, a, slots, level, scale)?)?;
    let cb = encrypt_planar(&mut enc, &encode_planar(&ctx, &b, slots, level, scale)?)?;
    let pb = encode_planar(&ctx, &b, slots, level, ctx.params().q()[level] as f64)?;
    let m = slots / BLADES;
    let ia = enc.encrypt(&encode_interleaved(&ctx, &a[..m], slots, level, scale)?)?;
    let ib = enc.encrypt(&encode_interleaved(&ctx, &b[..m], slots, level, scale)?)?;
    let want: Vec<Multivector> = a.iter().zip(&b).map(|(x, y)| x.gp(y)).collect();
    let err = |got: &[Multivector]| {
        got.iter()
            .zip(&want)
            .map(|(g, w)| g.max_abs_diff(w))
            .fold(0.0, f64::max)
    };
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        pool.install(|| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let (p, t1) = secs(|| gp_planar(&eval, &ca, &cb));
            let e1 = err(&decrypt_planar(&dec, &p?, slots)?);
            let (p, t2) = secs(|| gp_planar_plain(&eval, &ca, &pb, PlainSide::Right));
            let e2 = err(&decrypt_planar(&dec, &p?, slots)?);
            let (p, t3) = secs(|| gp_interleaved(&eval, &ia, &ib));
            let e3 = err(&decrypt_interleaved(&dec, &p?, m)?);
            let (p, t4) = secs(|| gp_interleaved_plain(&eval, &ia, &b[..m]));
            let e4 = err(&decrypt_interleaved(&dec, &p?, m)?);
            for (label, t, e, n, cost) in [
                ("planar ct x ct", t1, e1, slots, planar_ct_ct_cost(slots)),
                ("planar ct x pt", t2, e2, slots, planar_ct_pt_cost(slots)),
                ("interleaved ct x ct", t3, e3, m, interleaved_ct_ct_cost(slots)),
                ("interleaved ct x pt", t4, e4, m, interleaved_ct_pt_cost(slots)),
            ] {
                println!(
                    "product {label:<20} threads {threads}: {:>9.2} ms per batch of {n:>5}, {:>8.4} ms per multivector, max error {e:.2e}, depth {}, key switches {}, tensor {}, plain mults {}",
                    t * 1e3,
                    t * 1e3 / n as f64,
                    cost.depth,
                    cost.key_switches(),
                    cost.tensor_products,
                    cost.plaintext_products
                );
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }

    // --- Encrypted network --------------------------------------------------------------------
    let batch = &test.x[..slots];
    let (x_ct, t_enc_in) = secs(|| {
        encode_planar(&ctx, batch, slots, DEPTH, scale).and_then(|pt| encrypt_planar(&mut enc, &pt))
    });
    let x_ct = x_ct?;
    println!(
        "client: encrypt {} inputs (8 ciphertexts, level {DEPTH}): {:.2} s",
        slots, t_enc_in
    );
    let plain_pred: Vec<usize> = batch.iter().map(|x| net.predict(x)).collect();
    let plain_logits: Vec<Vec<f64>> = batch.iter().map(|x| net.logits(x)).collect();
    for method in [ProductMethod::Pauli, ProductMethod::Direct] {
        let (model, t_enc_w) =
            secs(|| EncryptedModel::encrypt(&net, &ctx, &mut enc, slots, DEPTH, scale, method));
        let model = model?;
        println!(
            "model owner ({method:?}): encrypt weights and biases under the client's pk: {:.2} s",
            t_enc_w
        );
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            let (out, t) = pool.install(|| secs(|| model.forward(&eval, &x_ct)));
            let out = out?;
            let (logits, t_dec) = secs(|| -> Result<Vec<Vec<f64>>, Box<dyn std::error::Error>> {
                let cols = out
                    .iter()
                    .map(|c| dec.decrypt_values(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((0..slots)
                    .map(|i| cols.iter().map(|c| c[i].re).collect())
                    .collect())
            });
            let logits = logits?;
            let enc_pred: Vec<usize> = logits.iter().map(|l| argmax(l)).collect();
            let agree = enc_pred
                .iter()
                .zip(&plain_pred)
                .filter(|(a, b)| a == b)
                .count();
            let correct = enc_pred.iter().zip(&test.y).filter(|(a, b)| a == b).count();
            let max_err = logits
                .iter()
                .zip(&plain_logits)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                .fold(0.0, f64::max);
            println!(
            "encrypted network {method:?} threads {threads}: {:.2} s for {slots} samples = {:.4} ms per sample; decrypt {:.3} s; output level {}; encrypted accuracy {:.4}; agreement with plaintext {agree}/{slots}; max |logit error| {max_err:.2e}",
            t,
            t * 1e3 / slots as f64,
            t_dec,
            out[0].level(),
            correct as f64 / slots as f64,
        );
        }
    }
    Ok(())
}
