//! Where each element of a `C x H x W` tensor lives in the slots of a ciphertext.
//!
//! **Multiplexed packing** (Lee, Lee, Lee, Kim, No, Kang, *Low-complexity deep convolutional
//! neural networks on fully homomorphic encryption using multiplexed parallel convolutions*,
//! ICML 2022, §4). The input is packed row-major: element `(c, y, x)` at `c·HW + y·W + x`.
//! A stride-`s` layer keeps the spatial grid of its input and leaves a gap of `s` between
//! neighbouring outputs; instead of wasting the gaps, `g²` channels share one grid
//! (gap `g`, the product of the strides so far), interleaved in the gaps:
//!
//! ```text
//!     slot(c, y, x) = ⌊c / g²⌋ · cs + ⌊(c mod g²) / g⌋ · rs + (c mod g) · xs + y·g·rs + x·g·xs
//! ```
//!
//! with the strides `(cs, rs, xs) = (H_0 W_0, W_0, 1)` of the input grid. Every linear layer is
//! then one matrix from the input slots to the output slots (see [`crate::plan`]): with this
//! layout its nonzero diagonals stay few (a convolution tap is the same slot offset at every
//! output of a channel pair), and the number of slots a tensor needs never grows with the
//! stride.
//!
//! **SIMD batching.** The slots are cut into `batch` blocks of `span = slots / batch`
//! slots; input `b` lives at offset `b · span`, and every matrix is block-diagonal, so one
//! inference evaluates `batch` inputs.
//!
//! **Cyclic replication** (one input per ciphertext). A tensor of extent `e` is repeated
//! with period `P` (the power of two `>= e`) across all the slots. A linear layer then reads
//! each input at its offset modulo `P`, whichever copy that lands in, so a diagonal index
//! is `k = (in - out) mod P` instead of `mod N/2`: a 3x3 convolution between `C`-channel
//! tensors that fill `P` slots needs `9 C` diagonals (every channel difference `mod C`) where
//! one copy needs `9 (2C - 1)`. Every output is written to every copy, so the next layer
//! finds its input replicated again, at no extra cost (a diagonal just has more nonzeros).

use crate::error::{HeNnError, Result};
use crate::model::Shape;

/// Strides of the multiplexed layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    /// Slots between channel grids.
    pub cs: usize,
    /// Slots between rows of the base grid.
    pub rs: usize,
    /// Slots between columns of the base grid.
    pub xs: usize,
    /// Gap `g` (product of the strides so far).
    pub gap: usize,
}

impl Strides {
    /// Row-major packing of `shape`.
    pub fn row_major(shape: Shape) -> Self {
        Self {
            cs: shape.h * shape.w,
            rs: shape.w,
            xs: 1,
            gap: 1,
        }
    }

    /// The strides after a layer of stride `s`.
    pub fn downsampled(self, s: usize) -> Self {
        Self {
            gap: self.gap * s,
            ..self
        }
    }

    /// Slot of `(c, y, x)` inside a block.
    pub fn slot(&self, c: usize, y: usize, x: usize) -> usize {
        let g = self.gap;
        (c / (g * g)) * self.cs
            + ((c % (g * g)) / g) * self.rs
            + (c % g) * self.xs
            + y * g * self.rs
            + x * g * self.xs
    }
}

/// The slot (inside a block) of every logical element of a tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The tensor's shape.
    pub shape: Shape,
    /// `slots[i]` for the element of row-major index `i` (its first copy).
    pub slots: Vec<usize>,
    /// The layout repeats every `period` slots of the block (`period = span`: one copy).
    pub period: usize,
    /// Copies in a block (`span / period`).
    pub copies: usize,
}

impl Layout {
    /// The multiplexed layout of `shape` with `strides`; an error if it exceeds `span`
    /// slots.
    pub fn multiplexed(shape: Shape, strides: Strides, span: usize) -> Result<Self> {
        let mut slots = Vec::with_capacity(shape.len());
        for c in 0..shape.c {
            for y in 0..shape.h {
                for x in 0..shape.w {
                    slots.push(strides.slot(c, y, x));
                }
            }
        }
        Self::checked(shape, slots, span)
    }

    /// Element `i` at slot `i`.
    pub fn compact(shape: Shape, span: usize) -> Result<Self> {
        Self::checked(shape, (0..shape.len()).collect(), span)
    }

    fn checked(shape: Shape, slots: Vec<usize>, span: usize) -> Result<Self> {
        let end = slots.iter().max().map_or(0, |m| m + 1);
        if end > span {
            return Err(HeNnError::Plan(format!(
                "a {shape} tensor needs {end} slots, a batch block has {span}"
            )));
        }
        Ok(Self {
            shape,
            slots,
            period: span,
            copies: 1,
        })
    }

    /// The same layout repeated with the period `P = next_power_of_two(extent)` across the
    /// block of `span` slots (a power of two).
    pub fn replicated(mut self, span: usize) -> Self {
        self.period = self.extent().next_power_of_two().min(span);
        self.copies = span / self.period;
        self
    }

    /// The same slots read as another shape with as many elements (flatten).
    pub fn reshaped(&self, shape: Shape) -> Self {
        Self {
            shape,
            ..self.clone()
        }
    }

    /// Writes `values[i]` at every copy of element `i` into `block` (one batch block).
    pub fn scatter<T: Copy>(&self, values: &[T], block: &mut [T]) {
        for (&s, &x) in self.slots.iter().zip(values) {
            for r in 0..self.copies {
                block[s + r * self.period] = x;
            }
        }
    }

    /// Slots used inside a block (one past the highest).
    pub fn extent(&self) -> usize {
        self.slots.iter().max().map_or(0, |m| m + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn multiplexed_layout_is_injective_and_dense_after_strides() {
        // ResNet-20's stages: 16x32x32, 32x16x16 (gap 2), 64x8x8 (gap 4) all fit 16384 slots
        let base = Strides::row_major(Shape::new(16, 32, 32));
        for (shape, s) in [
            (Shape::new(16, 32, 32), base),
            (Shape::new(32, 16, 16), base.downsampled(2)),
            (Shape::new(64, 8, 8), base.downsampled(2).downsampled(2)),
        ] {
            let l = Layout::multiplexed(shape, s, 16384).unwrap();
            let distinct: BTreeSet<usize> = l.slots.iter().copied().collect();
            assert_eq!(distinct.len(), shape.len(), "{shape}");
            // multiplexing fills the gaps: the tensor occupies exactly its number of elements
            assert_eq!(l.extent(), shape.len(), "{shape}");
        }
        assert!(Layout::multiplexed(Shape::new(17, 32, 32), base, 16384).is_err());
    }

    #[test]
    fn replication_repeats_every_element_with_a_power_of_two_period() {
        let l = Layout::compact(Shape::new(3, 2, 2), 64)
            .unwrap()
            .replicated(64);
        assert_eq!((l.period, l.copies), (16, 4));
        let mut block = vec![0usize; 64];
        l.scatter(&(1..=12).collect::<Vec<_>>(), &mut block);
        for (s, &v) in block.iter().enumerate() {
            let want = if s % 16 < 12 { s % 16 + 1 } else { 0 };
            assert_eq!(v, want, "slot {s}");
        }
    }
}
