//! Architecture and sparsity parameters of the sparse-coding autoencoder.

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScaError};

/// The S-sparsity non-linearity applied to every M-dimensional code vector
/// (PRIMIS, Shiri et al. 2024, Sec. 3: the "ternary-like" top-S operator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SparsityKind {
    /// Keep the S entries of largest magnitude, `x_i` if `|x_i| >= |x|_(S)` else 0.
    Magnitude,
    /// Keep the S/2 largest and the S/2 most negative entries (S even).
    Signed,
}

/// Architecture of [`crate::model::ScaAutoencoder`] and its sparsity.
///
/// A `patch x patch` tile is rearranged losslessly into `factor^2` channels at
/// `patch/factor` resolution (space-to-depth), passed through residual blocks of `width`
/// channels, and split into `groups` feature groups; the grouped linear projection maps each
/// group of `width / groups` features to its own code map of `code_dim`-dimensional vectors,
/// of which `sparsity` entries are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaConfig {
    /// Tile side (64).
    pub patch: u32,
    /// Space-to-depth factor (4: a 64x64 tile gives 16x16 code positions).
    pub factor: usize,
    /// Channels of the residual trunk.
    pub width: usize,
    /// Residual blocks in the encoder and in the decoder.
    pub res_blocks: usize,
    /// Feature groups = code maps per tile.
    pub groups: usize,
    /// Dimension M of every code vector.
    pub code_dim: usize,
    /// S_x, the nonzeros kept per code vector.
    pub sparsity: usize,
    /// Which S-sparsity operator.
    pub kind: SparsityKind,
}

impl ScaConfig {
    /// The shipped architecture at sparsity `s` (64x64 tiles, factor 4, width 64, 2 residual
    /// blocks, 4 code maps of M = 64).
    pub fn with_sparsity(s: usize) -> Result<Self> {
        let c = Self {
            patch: 64,
            factor: 4,
            width: 64,
            res_blocks: 2,
            groups: 4,
            code_dim: 64,
            sparsity: s,
            kind: SparsityKind::Magnitude,
        };
        c.validate()?;
        Ok(c)
    }

    /// Check the parameters fit together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ScaError::InvalidConfig(m));
        if self.factor == 0 || self.patch == 0 || !(self.patch as usize).is_multiple_of(self.factor)
        {
            return bad(format!(
                "patch {} not a positive multiple of factor {}",
                self.patch, self.factor
            ));
        }
        if self.groups == 0 || self.width == 0 || !self.width.is_multiple_of(self.groups) {
            return bad(format!(
                "width {} not a positive multiple of groups {}",
                self.width, self.groups
            ));
        }
        if self.code_dim == 0 || self.code_dim > 255 {
            return bad(format!("code dimension {} outside 1..=255", self.code_dim));
        }
        if self.sparsity == 0 || self.sparsity > self.code_dim {
            return bad(format!(
                "sparsity {} outside 1..={}",
                self.sparsity, self.code_dim
            ));
        }
        if self.kind == SparsityKind::Signed && !self.sparsity.is_multiple_of(2) {
            return bad(format!(
                "signed sparsity needs an even S, got {}",
                self.sparsity
            ));
        }
        Ok(())
    }

    /// Code positions per tile side, `patch / factor`.
    pub fn code_side(&self) -> usize {
        self.patch as usize / self.factor
    }

    /// Features per group, `width / groups`.
    pub fn group_features(&self) -> usize {
        self.width / self.groups
    }

    /// Code vectors per tile, `groups * code_side^2`.
    pub fn vectors_per_tile(&self) -> usize {
        self.groups * self.code_side() * self.code_side()
    }
}
