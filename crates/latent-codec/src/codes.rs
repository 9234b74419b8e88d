//! Latents, codebook indices and their compact serialization.
//!
//! Index streams are bit-packed with `ceil(log2 K)` bits per index, least significant bit
//! first (10 bits at K = 1024: a 32x32 f=8 latent is 1280 bytes of payload). Every serialized
//! object starts with a 4-byte magic and a version byte and ends with a CRC-32 (IEEE 802.3
//! polynomial) of everything before it, so truncation and bit flips are detected.

use serde::{Deserialize, Serialize};

use crate::config::bits_for;
use crate::error::{CodecError, Result};

const INDEX_MAGIC: &[u8; 4] = b"LCIX";
const LATENT_MAGIC: &[u8; 4] = b"LCLT";
const FORMAT_VERSION: u8 = 1;

/// CRC-32 (IEEE, reflected polynomial 0xEDB88320), as in zlib/PNG (`crc32fast`).
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// Append the CRC-32 of `buf` to it.
pub(crate) fn seal(mut buf: Vec<u8>) -> Vec<u8> {
    let c = crc32(&buf);
    buf.extend_from_slice(&c.to_le_bytes());
    buf
}

/// Check magic, version and trailing CRC; return the body between header and CRC.
pub(crate) fn unseal<'a>(
    bytes: &'a [u8],
    magic: &[u8],
    version: u16,
    version_len: usize,
    what: &str,
) -> Result<&'a [u8]> {
    unseal_versions(bytes, magic, &[version], version_len, what).map(|(_, body)| body)
}

/// [`unseal`] for a format readable in several versions (the last one is the current one):
/// returns the version found and the body.
pub(crate) fn unseal_versions<'a>(
    bytes: &'a [u8],
    magic: &[u8],
    versions: &[u16],
    version_len: usize,
    what: &str,
) -> Result<(u16, &'a [u8])> {
    let header = magic.len() + version_len;
    if bytes.len() < magic.len() || &bytes[..magic.len()] != magic {
        return Err(CodecError::BadMagic { what: what.into() });
    }
    if bytes.len() < header + 4 {
        return Err(CodecError::Corrupted {
            what: what.into(),
            detail: format!("{} bytes, shorter than the header", bytes.len()),
        });
    }
    let v = &bytes[magic.len()..header];
    let found = if version_len == 1 {
        v[0] as u16
    } else {
        u16::from_le_bytes([v[0], v[1]])
    };
    if !versions.contains(&found) {
        return Err(CodecError::UnsupportedVersion {
            what: what.into(),
            found,
            expected: versions.last().copied().unwrap_or_default(),
        });
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let actual = crc32(body);
    if stored != actual {
        return Err(CodecError::Corrupted {
            what: what.into(),
            detail: format!("CRC-32 {actual:08x}, stored {stored:08x}"),
        });
    }
    Ok((found, &body[header..]))
}

/// Codebook indices of one image's latent: `height x width` indices into a codebook of
/// `codebook_size` vectors, row-major.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeIndices {
    /// Codebook size `K` the indices refer to.
    pub codebook_size: u32,
    /// Latent height.
    pub height: u16,
    /// Latent width.
    pub width: u16,
    /// Indices, row-major, each `< codebook_size`.
    pub indices: Vec<u16>,
}

impl CodeIndices {
    /// Build, checking the count and the range of every index.
    pub fn new(codebook_size: u32, height: u16, width: u16, indices: Vec<u16>) -> Result<Self> {
        if !(2..=65536).contains(&codebook_size) {
            return Err(CodecError::LatentMismatch(format!(
                "codebook size {codebook_size} outside 2..=65536"
            )));
        }
        if indices.len() != height as usize * width as usize {
            return Err(CodecError::LatentMismatch(format!(
                "{} indices for a {height}x{width} latent",
                indices.len()
            )));
        }
        if let Some(bad) = indices.iter().find(|&&i| i as u32 >= codebook_size) {
            return Err(CodecError::LatentMismatch(format!(
                "index {bad} outside a codebook of {codebook_size}"
            )));
        }
        Ok(Self {
            codebook_size,
            height,
            width,
            indices,
        })
    }

    /// Bits per index, `ceil(log2 K)`.
    pub fn bits_per_index(&self) -> u32 {
        bits_for(self.codebook_size as usize)
    }

    /// Bit-packed indices (no header): `ceil(n * bits / 8)` bytes.
    pub fn pack(&self) -> Vec<u8> {
        pack_bits(&self.indices, self.bits_per_index())
    }

    /// Serialize: magic `LCIX`, version, `K` (u32 LE), height, width (u16 LE), packed indices,
    /// CRC-32. 1297 bytes for a 32x32 latent at K = 1024.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(17 + self.indices.len() * 2);
        buf.extend_from_slice(INDEX_MAGIC);
        buf.push(FORMAT_VERSION);
        buf.extend_from_slice(&self.codebook_size.to_le_bytes());
        buf.extend_from_slice(&self.height.to_le_bytes());
        buf.extend_from_slice(&self.width.to_le_bytes());
        buf.extend_from_slice(&self.pack());
        seal(buf)
    }

    /// Parse [`to_bytes`](Self::to_bytes) output; typed errors on bad magic, version,
    /// length, checksum or out-of-range indices.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "code indices";
        let body = unseal(bytes, INDEX_MAGIC, FORMAT_VERSION as u16, 1, what)?;
        if body.len() < 8 {
            return Err(CodecError::Corrupted {
                what: what.into(),
                detail: "header truncated".into(),
            });
        }
        let k = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        let h = u16::from_le_bytes([body[4], body[5]]);
        let w = u16::from_le_bytes([body[6], body[7]]);
        let n = h as usize * w as usize;
        let bits = bits_for(k.max(2) as usize);
        let need = (n * bits as usize).div_ceil(8);
        if body.len() - 8 != need {
            return Err(CodecError::Corrupted {
                what: what.into(),
                detail: format!("{} payload bytes, {need} expected", body.len() - 8),
            });
        }
        let indices = unpack_bits(&body[8..], bits, n);
        Self::new(k, h, w, indices)
    }
}

/// Pack `values` with `bits` bits each, least significant bit first.
pub fn pack_bits(values: &[u16], bits: u32) -> Vec<u8> {
    let mut out = vec![0u8; (values.len() * bits as usize).div_ceil(8)];
    let mut pos = 0usize;
    for &v in values {
        for b in 0..bits {
            if (v >> b) & 1 == 1 {
                out[pos / 8] |= 1 << (pos % 8);
            }
            pos += 1;
        }
    }
    out
}

/// Inverse of [`pack_bits`]: read `count` values of `bits` bits.
pub fn unpack_bits(bytes: &[u8], bits: u32, count: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(count);
    let mut pos = 0usize;
    for _ in 0..count {
        let mut v = 0u16;
        for b in 0..bits {
            if bytes
                .get(pos / 8)
                .is_some_and(|x| (x >> (pos % 8)) & 1 == 1)
            {
                v |= 1 << b;
            }
            pos += 1;
        }
        out.push(v);
    }
    out
}

/// A latent of one image: the continuous encoder output `z_e` (what the Latent-HE classifier
/// reads) and its quantization as codebook indices (what the decoder reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latent {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Continuous encoder output, channel-major (`c, y, x`).
    pub continuous: Vec<f32>,
    /// Nearest-codebook indices, `height x width`.
    pub codes: CodeIndices,
}

impl Latent {
    /// Serialize: magic `LCLT`, version, postcard body, CRC-32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = LATENT_MAGIC.to_vec();
        buf.push(FORMAT_VERSION);
        let body = postcard::to_allocvec(&(self.shape, &self.continuous, self.codes.to_bytes()))
            .expect("postcard serialization to a Vec cannot fail");
        buf.extend_from_slice(&body);
        seal(buf)
    }

    /// Parse [`to_bytes`](Self::to_bytes) output, checking the shape against the data.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "latent";
        let body = unseal(bytes, LATENT_MAGIC, FORMAT_VERSION as u16, 1, what)?;
        let (shape, continuous, codes): ([usize; 3], Vec<f32>, Vec<u8>) =
            postcard::from_bytes(body).map_err(|e| CodecError::Corrupted {
                what: what.into(),
                detail: e.to_string(),
            })?;
        let codes = CodeIndices::from_bytes(&codes)?;
        if shape.iter().product::<usize>() != continuous.len()
            || codes.height as usize != shape[1]
            || codes.width as usize != shape[2]
        {
            return Err(CodecError::LatentMismatch(format!(
                "shape {shape:?} with {} values and {}x{} codes",
                continuous.len(),
                codes.height,
                codes.width
            )));
        }
        Ok(Self {
            shape,
            continuous,
            codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_codes(k: u32, h: u16, w: u16, seed: u64) -> CodeIndices {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let idx = (0..h as usize * w as usize)
            .map(|_| rng.gen_range(0..k) as u16)
            .collect();
        CodeIndices::new(k, h, w, idx).unwrap()
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn indices_round_trip_at_ten_bits() {
        let c = random_codes(1024, 32, 32, 1);
        assert_eq!(c.bits_per_index(), 10);
        assert_eq!(c.pack().len(), 1280);
        let bytes = c.to_bytes();
        assert_eq!(bytes.len(), 4 + 1 + 8 + 1280 + 4);
        assert_eq!(CodeIndices::from_bytes(&bytes).unwrap(), c);
        // Extreme values survive too.
        let e = CodeIndices::new(1024, 1, 3, vec![0, 1023, 512]).unwrap();
        assert_eq!(CodeIndices::from_bytes(&e.to_bytes()).unwrap(), e);
        for k in [2u32, 3, 17, 1000, 65536] {
            let c = random_codes(k, 5, 7, k as u64);
            assert_eq!(CodeIndices::from_bytes(&c.to_bytes()).unwrap(), c);
        }
    }

    #[test]
    fn corrupted_index_bytes_are_refused() {
        let c = random_codes(1024, 8, 8, 2);
        let bytes = c.to_bytes();
        let mut flipped = bytes.clone();
        flipped[20] ^= 0x10;
        assert!(matches!(
            CodeIndices::from_bytes(&flipped),
            Err(CodecError::Corrupted { .. })
        ));
        assert!(matches!(
            CodeIndices::from_bytes(&bytes[..bytes.len() - 3]),
            Err(CodecError::Corrupted { .. })
        ));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(matches!(
            CodeIndices::from_bytes(&magic),
            Err(CodecError::BadMagic { .. })
        ));
        let mut version = bytes[..bytes.len() - 4].to_vec();
        version[4] = 9;
        assert!(matches!(
            CodeIndices::from_bytes(&seal(version)),
            Err(CodecError::UnsupportedVersion { found: 9, .. })
        ));
        assert!(CodeIndices::new(1024, 2, 2, vec![0, 1, 2, 1024]).is_err());
        assert!(CodeIndices::new(1024, 2, 2, vec![0, 1, 2]).is_err());
    }

    #[test]
    fn latent_round_trip_and_mismatch() {
        let codes = random_codes(1024, 4, 4, 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let continuous: Vec<f32> = (0..4 * 16).map(|_| rng.gen_range(-3.0..3.0)).collect();
        let lat = Latent {
            shape: [4, 4, 4],
            continuous,
            codes,
        };
        let bytes = lat.to_bytes();
        assert_eq!(Latent::from_bytes(&bytes).unwrap(), lat);
        let mut bad = lat.clone();
        bad.shape = [4, 2, 8];
        assert!(matches!(
            Latent::from_bytes(&bad.to_bytes()),
            Err(CodecError::LatentMismatch(_))
        ));
        let mut flipped = bytes;
        flipped[10] ^= 1;
        assert!(matches!(
            Latent::from_bytes(&flipped),
            Err(CodecError::Corrupted { .. })
        ));
    }
}
