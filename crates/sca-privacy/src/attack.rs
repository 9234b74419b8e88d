//! The supervised inversion attack (PRIMIS, Shiri et al. 2024, Sec. 5.3): an attacker given
//! (public code, image) pairs of images it may see trains a network ([`InversionNet`],
//! U-Net-like) to map public codes back to images, and is tested on public codes of images
//! it never saw.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use med_data::GrayImage;
use serde::{Deserialize, Serialize};

use crate::codec::{apply_record, cpu, module_bytes, parse_module_bytes, tiles_to_image, Codes};
use crate::config::ScaConfig;
use crate::error::{read_file, write_file, Result, ScaError};
use crate::model::InversionNet;
use crate::share::PublicCode;

/// Magic bytes of an inversion-network weight file.
pub const ATTACK_MAGIC: &[u8; 8] = b"SCAATCK\0";

/// Architecture of the attacker's network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackConfig {
    /// The autoencoder whose public codes it inverts.
    pub sca: ScaConfig,
    /// Base width.
    pub width: usize,
}

/// Public codes `[tiles, G, n, M]` (vector-major values) as network input
/// `[tiles, G*M, side, side]`.
pub fn code_maps(codes: &Codes, device: &Device) -> Tensor<4> {
    let l = codes.layout;
    let (g, m, side) = (l.groups as usize, l.code_dim as usize, l.side as usize);
    Tensor::<4>::from_data(
        TensorData::new(codes.values.clone(), [l.tiles(), g, side * side, m]),
        device,
    )
    .swap_dims(2, 3)
    .reshape([l.tiles(), g * m, side, side])
}

/// A trained inversion network.
#[derive(Debug, Clone)]
pub struct Attacker {
    config: AttackConfig,
    model: InversionNet,
    device: Device,
}

impl Attacker {
    /// Wrap a trained network (moved to the CPU, no autodiff).
    pub fn from_model(config: AttackConfig, model: InversionNet) -> Self {
        use burn::module::Module;
        let device = cpu();
        Self {
            config,
            model: model.to_device(&device),
            device,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AttackConfig {
        &self.config
    }

    /// Serialize (magic `SCAATCK`).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        module_bytes(ATTACK_MAGIC, &self.config, self.model.clone())
    }

    /// Load a weight file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let (config, record): (AttackConfig, _) =
            parse_module_bytes(&read_file(path)?, ATTACK_MAGIC, "sca-privacy attack", &what)?;
        config.sca.validate()?;
        let device = cpu();
        let model = apply_record(
            InversionNet::new(&config.sca, config.width, &device),
            record,
            &what,
        )?;
        Ok(Self {
            config,
            model,
            device,
        })
    }

    /// Save.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path, &self.to_bytes()?)
    }

    /// The attacker's reconstruction of a public code.
    pub fn invert(&self, public: &PublicCode) -> Result<GrayImage> {
        let l = public.codes.layout;
        if l.groups as usize != self.config.sca.groups
            || l.code_dim as usize != self.config.sca.code_dim
            || l.side as usize != self.config.sca.code_side()
        {
            return Err(ScaError::ModelMismatch {
                what: "public code".into(),
                detail: "code shape differs from the attack network's".into(),
            });
        }
        let out = self.model.forward(code_maps(&public.codes, &self.device));
        tiles_to_image(out, l.tiles_x, l.tiles_y)
    }
}
