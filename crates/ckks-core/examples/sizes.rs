//! Prints, for every preset, its parameters and the serialized size of its keys and
//! ciphertexts, seeded (compressed) and full, as a Markdown table.
//!
//! ```text
//! cargo run --release -p ckks-core --example sizes
//! ```

use ckks_core::ckks::serialize::{to_bytes, to_bytes_with, Serializable};
use ckks_core::ckks::{security_bound, Context, Encryptor, EvaluationKeys, Evaluator, Preset};
use ckks_core::Complex64;

fn mib(bytes: usize) -> String {
    format!("{:.2}", bytes as f64 / (1 << 20) as f64)
}

fn both<T: Serializable>(ctx: &Context, obj: &T) -> Result<String, ckks_core::CkksError> {
    Ok(format!(
        "{} / {}",
        mib(to_bytes(ctx, obj)?.len()),
        mib(to_bytes_with(ctx, obj, false)?.len())
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("| preset | N | L+1 | K | dnum | log2 QP (bound) | secret key (KiB) | public key | relinearization key | one Galois key | ciphertext, secret-key fresh | ciphertext, public-key fresh | ciphertext at level 0 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for preset in Preset::ALL {
        let params = preset.build()?;
        let ctx = Context::new(&params)?;
        let mut kg = ctx.key_generator();
        let sk = kg.secret_key(None);
        let pk = kg.public_key(&sk);
        let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[1], false);
        let rk = keys.relin.clone().ok_or("no relinearization key")?;
        let gk = keys
            .galois
            .values()
            .next()
            .cloned()
            .ok_or("no Galois key")?;
        let slots = params.max_slots();
        let x = vec![Complex64::new(0.5, 0.25); slots];
        let ct_sk = Encryptor::with_secret_key(&ctx, &sk).encrypt_values(&x, slots)?;
        let ct_pk = Encryptor::with_public_key(&ctx, &pk).encrypt_values(&x, slots)?;
        let eval = Evaluator::new(&ctx, EvaluationKeys::default());
        let ct_low = eval.drop_to_level(&ct_pk, 0)?;
        println!(
            "| {} | 2^{} | {} | {} | {} | {:.1} ({}) | {:.2} | {} | {} | {} | {} | {} | {} |",
            params.name(),
            params.log_n(),
            params.q().len(),
            params.p().len(),
            params.dnum(),
            params.log_qp(),
            security_bound(params.log_n()).unwrap_or(0),
            to_bytes(&ctx, &sk)?.len() as f64 / 1024.0,
            both(&ctx, &pk)?,
            both(&ctx, &rk)?,
            both(&ctx, &gk)?,
            both(&ctx, &ct_sk)?,
            both(&ctx, &ct_pk)?,
            both(&ctx, &ct_low)?,
        );
    }
    println!();
    println!("Sizes in MiB, seeded / full (the uniform half replaced by its 32-byte seed, or not); coefficients bit-packed at the size of their prime.");
    Ok(())
}
