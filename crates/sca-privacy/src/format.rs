//! The common envelope of every file of this crate: magic (8 bytes), format version (u16 LE),
//! body, CRC-32 (IEEE, `crc32fast`) of everything before, LE.

use crate::error::{Result, ScaError};

/// Wrap `body` in the envelope.
pub fn seal(magic: &[u8; 8], version: u16, body: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(body.len() + 14);
    buf.extend_from_slice(magic);
    buf.extend_from_slice(&version.to_le_bytes());
    buf.extend_from_slice(body);
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// Check magic, version and CRC; return the body. `expected` names the kind of file in
/// errors, `what` the file.
pub fn unseal<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    version: u16,
    expected: &'static str,
    what: &str,
) -> Result<&'a [u8]> {
    if bytes.len() < 8 || &bytes[..8] != magic {
        return Err(ScaError::BadMagic {
            what: what.into(),
            expected,
        });
    }
    if bytes.len() < 14 {
        return Err(corrupted(what, "truncated header"));
    }
    let found = u16::from_le_bytes([bytes[8], bytes[9]]);
    if found != version {
        return Err(ScaError::UnsupportedVersion {
            what: what.into(),
            found,
            expected: version,
        });
    }
    let (head, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if crc32fast::hash(head) != crc {
        return Err(corrupted(what, "CRC-32 mismatch (truncated or modified)"));
    }
    Ok(&head[10..])
}

/// A [`ScaError::Corrupted`] for `what`.
pub fn corrupted(what: &str, detail: &str) -> ScaError {
    ScaError::Corrupted {
        what: what.into(),
        detail: detail.into(),
    }
}

/// Split off a length-prefixed (u64 LE) section from the front of `body`.
pub fn take_section<'a>(body: &mut &'a [u8], what: &str) -> Result<&'a [u8]> {
    if body.len() < 8 {
        return Err(corrupted(what, "section header truncated"));
    }
    let n = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
    let rest = &body[8..];
    if (rest.len() as u64) < n {
        return Err(corrupted(what, "section truncated"));
    }
    let (s, r) = rest.split_at(n as usize);
    *body = r;
    Ok(s)
}

/// Append a length-prefixed section.
pub fn put_section(buf: &mut Vec<u8>, section: &[u8]) {
    buf.extend_from_slice(&(section.len() as u64).to_le_bytes());
    buf.extend_from_slice(section);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip_and_rejections() {
        let m = b"TESTFILE";
        let b = seal(m, 3, b"hello");
        assert_eq!(unseal(&b, m, 3, "test", "t").unwrap(), b"hello");
        assert!(matches!(
            unseal(&b, b"OTHERFIL", 3, "test", "t"),
            Err(ScaError::BadMagic { .. })
        ));
        assert!(matches!(
            unseal(&b, m, 4, "test", "t"),
            Err(ScaError::UnsupportedVersion { found: 3, .. })
        ));
        for i in 10..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x10;
            assert!(matches!(
                unseal(&c, m, 3, "test", "t"),
                Err(ScaError::Corrupted { .. })
            ));
        }
        assert!(unseal(&b[..b.len() - 1], m, 3, "test", "t").is_err());
        assert!(unseal(&b[..9], m, 3, "test", "t").is_err());
        let mut buf = Vec::new();
        put_section(&mut buf, b"ab");
        put_section(&mut buf, b"");
        let mut r = &buf[..];
        assert_eq!(take_section(&mut r, "t").unwrap(), b"ab");
        assert_eq!(take_section(&mut r, "t").unwrap(), b"");
        assert!(take_section(&mut r, "t").is_err());
    }
}
