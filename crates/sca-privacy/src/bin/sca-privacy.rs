//! `sca-privacy`: share an image as a public sparse code with named recipients, and reveal
//! it with a recipient's secret key.
//!
//! ```text
//! sca-privacy keygen --name alice --out keys/
//! sca-privacy share --image xray.png --to keys/alice.pk --to keys/bob.pk --out shared/xray
//!     # writes shared/xray.scapub (public code, anyone may hold it) and shared/xray.scakeys
//! sca-privacy reveal --code shared/xray.scapub --keys shared/xray.scakeys \
//!     --secret keys/alice.sk --out revealed.png
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use med_data::io::{save_png, PngDepth};
use med_data::{load_preprocessed, Preprocess};
use sca_privacy::ambiguation::AmbiguationArgs;
use sca_privacy::codec::{cpu, shipped_weights_path};
use sca_privacy::error::{read_file, write_file};
use sca_privacy::keys::{KeyBundle, RecipientPublic, RecipientSecret};
use sca_privacy::share::{reveal, share, PublicCode};
use sca_privacy::{Result, Sca};

#[derive(Parser, Debug)]
#[command(
    about = "PRIMIS image sharing: public sparse codes with ambiguation, keys for named recipients"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Make a recipient's X25519 key pair: OUT/NAME.sk (secret) and OUT/NAME.pk (public).
    Keygen {
        /// Recipient name.
        #[arg(long)]
        name: String,
        /// Folder for the two files.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Share an image (brought to 256x256) with recipients.
    Share {
        /// Image (PNG, JPEG, DICOM).
        #[arg(long)]
        image: PathBuf,
        /// Recipient public key files (repeat).
        #[arg(long = "to", required = true)]
        to: Vec<PathBuf>,
        /// Output prefix: PREFIX.scapub and PREFIX.scakeys.
        #[arg(long)]
        out: PathBuf,
        /// S_x of the shipped weights (4, 8, 16).
        #[arg(long, default_value_t = 16)]
        sparsity: usize,
        /// Other weights.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Ambiguation (default: decoy layers, as many as fit).
        #[command(flatten)]
        ambiguation: AmbiguationArgs,
    },
    /// Reveal a shared image with a recipient's secret key.
    Reveal {
        /// Public code file.
        #[arg(long)]
        code: PathBuf,
        /// Wrapped keys file.
        #[arg(long)]
        keys: PathBuf,
        /// The recipient's secret key file.
        #[arg(long)]
        secret: PathBuf,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
        /// Weights (default: the shipped ones of the code's S_x).
        #[arg(long)]
        weights: Option<PathBuf>,
    },
}

fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

fn run(cli: Cli) -> Result<()> {
    let device = cpu();
    match cli.cmd {
        Cmd::Keygen { name, out } => {
            let sk = RecipientSecret::generate(&name)?;
            std::fs::create_dir_all(&out).map_err(|source| sca_privacy::ScaError::Io {
                path: out.clone(),
                source,
            })?;
            let (skp, pkp) = (
                out.join(format!("{name}.sk")),
                out.join(format!("{name}.pk")),
            );
            write_file(&skp, &sk.to_file_bytes())?;
            write_file(&pkp, &sk.public().to_file_bytes())?;
            println!(
                "secret key {} (keep it), public key {} (give it to sharers)",
                skp.display(),
                pkp.display()
            );
        }
        Cmd::Share {
            image,
            to,
            out,
            sparsity,
            weights,
            ambiguation,
        } => {
            let sca = Sca::load(
                weights.unwrap_or_else(|| shipped_weights_path(sparsity)),
                &device,
            )?;
            let mut pre = Preprocess::square(256).with_upscale();
            pre.range = (0.0, 1.0);
            let img = load_preprocessed(&image, &pre)?;
            let recipients = to
                .iter()
                .map(RecipientPublic::load)
                .collect::<Result<Vec<_>>>()?;
            let amb = ambiguation.resolve(sca.config().code_dim, sca.config().sparsity)?;
            let s_n = amb.noise(sca.config().sparsity);
            let t = Instant::now();
            let shared = share(&sca, &img, amb, &recipients)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let (pubp, keyp) = (with_ext(&out, ".scapub"), with_ext(&out, ".scakeys"));
            if let Some(dir) = pubp.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| sca_privacy::ScaError::Io {
                    path: dir.into(),
                    source,
                })?;
            }
            write_file(&pubp, &shared.public_bytes)?;
            shared.keys.save(&keyp)?;
            println!(
                "public code {} ({} bytes, S_x = {}, S_n = {s_n}), keys for {} recipient(s) {}; share took {ms:.1} ms",
                pubp.display(),
                shared.public_bytes.len(),
                sca.config().sparsity,
                recipients.len(),
                keyp.display()
            );
        }
        Cmd::Reveal {
            code,
            keys,
            secret,
            out,
            weights,
        } => {
            let bytes = read_file(&code)?;
            let header = PublicCode::from_bytes(&bytes, &code.display().to_string())?.header;
            let sca = Sca::load(
                weights.unwrap_or_else(|| shipped_weights_path(header.sparsity as usize)),
                &device,
            )?;
            let bundle = KeyBundle::load(&keys)?;
            let sk = RecipientSecret::load(&secret)?;
            let t = Instant::now();
            let img = reveal(&sca, &bytes, &bundle, &sk)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            save_png(&img, &out, PngDepth::Sixteen)?;
            println!(
                "revealed {} for {:?}; reveal took {ms:.1} ms",
                out.display(),
                sk.name
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
