//! Model configuration: downsampling factor, channel widths, codebook.

use serde::{Deserialize, Serialize};

use crate::error::{CodecError, Result};

/// Architecture of a VQGAN (Esser et al. 2021, "Taming Transformers for High-Resolution Image
/// Synthesis", CVPR; layout of the `taming-transformers` encoder/decoder).
///
/// The encoder has `log2(f) + 1` resolution levels; each holds `num_res_blocks` residual blocks
/// and all but the last end with a stride-2 convolution, so the latent is `f` times smaller than
/// the image on each side. A mid-block (residual, self-attention, residual) follows. The decoder
/// mirrors it with nearest-neighbour upsampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodecConfig {
    /// Downsampling factor `f` (2, 4, 8 or 16).
    pub factor: usize,
    /// Image channels (1 for grayscale X-rays).
    pub in_channels: usize,
    /// Width of the first level.
    pub base_channels: usize,
    /// Per-level width multipliers (`log2(f) + 1` entries).
    pub channel_mult: Vec<usize>,
    /// Residual blocks per level.
    pub num_res_blocks: usize,
    /// Latent channels (the quantizer's code dimension).
    pub latent_channels: usize,
    /// Number of codebook vectors.
    pub codebook_size: usize,
    /// Groups of the group normalisations (must divide every width).
    pub norm_groups: usize,
    /// Encoder levels replaced by a patchify stem: a `2^s x 2^s` convolution with stride `2^s`
    /// (as the patch embedding of Dosovitskiy et al. 2021, ViT, and Liu et al. 2022,
    /// ConvNeXt) maps the image straight to level `s` (`s = 0`: the taming-transformers
    /// encoder, a 3x3 convolution at full resolution). The decoder keeps every level.
    pub encoder_stem_levels: usize,
    /// Whether the encoder's mid-block has its self-attention block (the decoder's always
    /// has one).
    pub encoder_attention: bool,
}

/// The configuration of weight files of format version 1 (before the encoder stem and the
/// optional encoder attention): a full-resolution encoder with attention.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct CodecConfigV1 {
    factor: usize,
    in_channels: usize,
    base_channels: usize,
    channel_mult: Vec<usize>,
    num_res_blocks: usize,
    latent_channels: usize,
    codebook_size: usize,
    norm_groups: usize,
}

impl From<CodecConfigV1> for CodecConfig {
    fn from(c: CodecConfigV1) -> Self {
        Self {
            factor: c.factor,
            in_channels: c.in_channels,
            base_channels: c.base_channels,
            channel_mult: c.channel_mult,
            num_res_blocks: c.num_res_blocks,
            latent_channels: c.latent_channels,
            codebook_size: c.codebook_size,
            norm_groups: c.norm_groups,
            encoder_stem_levels: 0,
            encoder_attention: true,
        }
    }
}

impl CodecConfig {
    /// The configuration used for factor `f`, with the latent shapes of Table 4 of Rombach et al.
    /// 2022 that Latent-HE (Kim et al. 2025) follows: 256x256 gives 128x128x2 (f=2), 64x64x3
    /// (f=4), 32x32x4 (f=8) and 16x16x8 (f=16). Widths are small (16 at full resolution, at most
    /// 64) so that training fits a 2-core CPU; codebook size 1024. The encoder is the cheap
    /// client-side one: a patchify stem to the last level but one (`log2(f) - 1` levels; f = 8:
    /// a 4x4 stride-4 convolution to 64x64x32), no encoder self-attention.
    pub fn for_factor(factor: usize) -> Result<Self> {
        let (latent_channels, channel_mult) = match factor {
            2 => (2, vec![1, 2]),
            4 => (3, vec![1, 2, 4]),
            8 => (4, vec![1, 2, 2, 4]),
            16 => (8, vec![1, 2, 2, 4, 4]),
            _ => return Err(CodecError::UnsupportedFactor(factor)),
        };
        Ok(Self {
            factor,
            in_channels: 1,
            base_channels: 16,
            channel_mult,
            num_res_blocks: 1,
            latent_channels,
            codebook_size: 1024,
            norm_groups: 8,
            encoder_stem_levels: factor.trailing_zeros() as usize - 1,
            encoder_attention: false,
        })
    }

    /// The taming-transformers layout for factor `f`: full-resolution encoder with
    /// self-attention (the shipped f = 8 weights before format version 2).
    pub fn full_encoder(factor: usize) -> Result<Self> {
        Ok(Self {
            encoder_stem_levels: 0,
            encoder_attention: true,
            ..Self::for_factor(factor)?
        })
    }

    /// A very small configuration for factor `f` (widths 8, 16 codes) for tests.
    pub fn tiny(factor: usize) -> Result<Self> {
        let mut c = Self::for_factor(factor)?;
        c.base_channels = 8;
        c.channel_mult = vec![1; c.channel_mult.len()];
        c.codebook_size = 16;
        c.norm_groups = 4;
        Ok(c)
    }

    /// Number of stride-2 levels, `log2(f)`.
    pub fn num_down(&self) -> usize {
        self.factor.trailing_zeros() as usize
    }

    /// Check internal consistency (factor, level count, group divisibility, code size).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CodecError::InvalidConfig(m));
        if !matches!(self.factor, 2 | 4 | 8 | 16) {
            return Err(CodecError::UnsupportedFactor(self.factor));
        }
        if self.channel_mult.len() != self.num_down() + 1 {
            return bad(format!(
                "channel_mult has {} levels, factor {} needs {}",
                self.channel_mult.len(),
                self.factor,
                self.num_down() + 1
            ));
        }
        if self.encoder_stem_levels > self.num_down() {
            return bad(format!(
                "encoder stem of {} levels, factor {} has {}",
                self.encoder_stem_levels,
                self.factor,
                self.num_down()
            ));
        }
        if self.in_channels == 0 || self.latent_channels == 0 || self.num_res_blocks == 0 {
            return bad("zero channels or residual blocks".into());
        }
        if self.codebook_size < 2 || self.codebook_size > 1 << 16 {
            return bad(format!(
                "codebook size {} outside 2..=65536",
                self.codebook_size
            ));
        }
        for &m in &self.channel_mult {
            let c = m * self.base_channels;
            if c == 0 || self.norm_groups == 0 || !c.is_multiple_of(self.norm_groups) {
                return bad(format!(
                    "width {c} not divisible by {} groups",
                    self.norm_groups
                ));
            }
        }
        Ok(())
    }

    /// Width of level `i`.
    pub fn width(&self, level: usize) -> usize {
        self.base_channels * self.channel_mult[level]
    }

    /// Latent shape `[channels, height, width]` for an image of `h x w` pixels.
    pub fn latent_shape(&self, h: usize, w: usize) -> [usize; 3] {
        [self.latent_channels, h / self.factor, w / self.factor]
    }

    /// Bits per stored codebook index, `ceil(log2(codebook_size))` (10 for 1024 codes).
    pub fn index_bits(&self) -> u32 {
        bits_for(self.codebook_size)
    }
}

/// `ceil(log2(n))`, at least 1.
pub(crate) fn bits_for(n: usize) -> u32 {
    (usize::BITS - (n.max(2) - 1).leading_zeros()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latent_shapes_follow_table_4() {
        for (f, shape) in [
            (2, [2, 128, 128]),
            (4, [3, 64, 64]),
            (8, [4, 32, 32]),
            (16, [8, 16, 16]),
        ] {
            let c = CodecConfig::for_factor(f).unwrap();
            c.validate().unwrap();
            assert_eq!(c.latent_shape(256, 256), shape);
            assert_eq!(c.index_bits(), 10);
        }
        assert!(matches!(
            CodecConfig::for_factor(32),
            Err(CodecError::UnsupportedFactor(32))
        ));
        let c = CodecConfig::for_factor(8).unwrap();
        assert_eq!((c.encoder_stem_levels, c.encoder_attention), (2, false));
        let full = CodecConfig::full_encoder(8).unwrap();
        assert_eq!(
            (full.encoder_stem_levels, full.encoder_attention),
            (0, true)
        );
        let mut bad = CodecConfig::for_factor(4).unwrap();
        bad.encoder_stem_levels = 3;
        assert!(matches!(bad.validate(), Err(CodecError::InvalidConfig(_))));
        assert_eq!(bits_for(2), 1);
        assert_eq!(bits_for(1024), 10);
        assert_eq!(bits_for(1025), 11);
    }
}
