//! `privmed`: `demo`, `train-classifier`, `train-codec` (see `docs/privmed.md`).

use clap::{Parser, Subcommand};
use privmed::demo::{render, run, DemoArgs};
use privmed::{one_line, PrivmedError};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "privmed",
    version,
    about = "Privacy-preserving chest X-ray classification (Latent-HE)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// X-ray -> VQGAN latent -> encrypted classifier -> decrypted findings, beside plaintext.
    Demo(DemoArgs),
    /// A classifier on SYNTHETIC test latents, plaintext beside encrypted.
    Evaluate(privmed::evaluate::EvalArgs),
    /// Train a zoo classifier on SYNTHETIC phantom latents (he-nn-train).
    TrainClassifier(he_nn_train::classify::TrainArgs),
    /// Train the VQGAN codec (latent-codec).
    TrainCodec(latent_codec::cli::TrainArgs),
}

fn execute(cli: Cli) -> Result<(), PrivmedError> {
    match cli.command {
        Command::Demo(args) => {
            let report = run(&args, |line| println!("{line}"))?;
            print!("{}", render(&report, args.real_trained));
        }
        Command::Evaluate(args) => {
            let report = privmed::evaluate::run(&args, |line| println!("{line}"))?;
            print!("{}", privmed::evaluate::render(&report));
        }
        Command::TrainClassifier(args) => {
            let codec = privmed::codec_or_default(args.codec.as_deref())?;
            let s = he_nn_train::classify::run(&args, &codec)?;
            println!(
                "{}: best epoch {} of {}; SYNTHETIC test split ({} images): AUROC macro {:.4}, F1 micro / macro / weighted {:.4} / {:.4} / {:.4}; model {}",
                s.name,
                s.best_epoch,
                s.epochs,
                s.test.n,
                s.test.auroc_macro.unwrap_or(f64::NAN),
                s.test.f1_micro.unwrap_or(f64::NAN),
                s.test.f1_macro.unwrap_or(f64::NAN),
                s.test.f1_weighted.unwrap_or(f64::NAN),
                s.model.map_or("not exported (ReLU / sigmoid variant)".into(), |p| p.display().to_string())
            );
        }
        Command::TrainCodec(args) => latent_codec::cli::train(&args)?,
    }
    Ok(())
}

fn main() -> ExitCode {
    match execute(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privmed: error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}
