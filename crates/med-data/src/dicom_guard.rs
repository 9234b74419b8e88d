//! A pre-flight scan of DICOM element headers.
//!
//! The DICOM parser allocates a buffer of the declared length before reading a value, so
//! a corrupt length field makes it allocate (and zero) gigabytes for a 1 KiB file. This
//! scan walks the element headers of the file meta group and the data set (explicit or
//! implicit VR, little or big endian, sequences and items of defined or undefined length,
//! encapsulated pixel data) and rejects any length that does not fit in the file before
//! the parser sees it. Deflated data sets are not scanned (their lengths refer to the
//! inflated stream).

const UNDEFINED: u32 = 0xFFFF_FFFF;
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy)]
struct Enc {
    explicit: bool,
    big_endian: bool,
}

struct Scan<'a> {
    b: &'a [u8],
}

impl Scan<'_> {
    fn u16(&self, pos: usize, enc: Enc) -> Result<u16, String> {
        let s = self.b.get(pos..pos + 2).ok_or_else(|| truncated(pos))?;
        let a = [s[0], s[1]];
        Ok(if enc.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }

    fn u32(&self, pos: usize, enc: Enc) -> Result<u32, String> {
        let s = self.b.get(pos..pos + 4).ok_or_else(|| truncated(pos))?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if enc.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// Walk elements in `[pos, end)`. With `until_delimiter`, stop after a sequence or
    /// item delimitation item and return the position after it. `opaque` items (pixel
    /// data fragments) are skipped without looking inside.
    fn walk(
        &self,
        mut pos: usize,
        end: usize,
        enc: Enc,
        depth: usize,
        until_delimiter: bool,
        opaque: bool,
    ) -> Result<usize, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "sequences nested deeper than {MAX_DEPTH} at byte {pos}"
            ));
        }
        while pos < end {
            // Items and delimiters are always encoded with implicit-VR-style headers.
            let group = self.u16(pos, enc)?;
            let elem = self.u16(pos + 2, enc)?;
            if group == 0xFFFE {
                let len = self.u32(pos + 4, enc)?;
                pos += 8;
                match elem {
                    0xE00D | 0xE0DD => return Ok(pos),
                    0xE000 => {
                        if len == UNDEFINED {
                            if opaque {
                                return Err(format!(
                                    "pixel data fragment of undefined length at byte {pos}"
                                ));
                            }
                            pos = self.walk(pos, end, enc, depth + 1, true, false)?;
                        } else {
                            let stop = fit(pos, len, end, group, elem)?;
                            if !opaque {
                                self.walk(pos, stop, enc, depth + 1, false, false)?;
                            }
                            pos = stop;
                        }
                    }
                    _ => {
                        return Err(format!(
                            "unknown item tag (FFFE,{elem:04X}) at byte {}",
                            pos - 8
                        ))
                    }
                }
                continue;
            }
            let (vr, len, header) = if enc.explicit {
                let vr = self.b.get(pos + 4..pos + 6).ok_or_else(|| truncated(pos))?;
                let vr = [vr[0], vr[1]];
                if long_form(&vr) {
                    (Some(vr), self.u32(pos + 8, enc)?, 12)
                } else {
                    (Some(vr), self.u16(pos + 6, enc)? as u32, 8)
                }
            } else {
                (None, self.u32(pos + 4, enc)?, 8)
            };
            pos += header;
            let pixel_data = group == 0x7FE0 && elem == 0x0010;
            if len == UNDEFINED {
                // A sequence, encapsulated pixel data, or UN holding an implicit-VR sequence.
                let nested = if vr == Some(*b"UN") {
                    Enc {
                        explicit: false,
                        big_endian: false,
                    }
                } else {
                    enc
                };
                pos = self.walk(pos, end, nested, depth + 1, true, pixel_data)?;
            } else {
                let stop = fit(pos, len, end, group, elem)?;
                if vr == Some(*b"SQ") {
                    self.walk(pos, stop, enc, depth + 1, false, false)?;
                }
                pos = stop;
            }
        }
        if until_delimiter {
            return Err(format!("missing sequence delimiter before byte {end}"));
        }
        Ok(pos)
    }
}

/// Whether an explicit VR uses the 4-byte length form. Only the VRs with a 2-byte
/// length are listed: an unknown (corrupt) VR is read as UN, with a 4-byte length, as
/// the parser does.
fn long_form(vr: &[u8]) -> bool {
    !matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

fn truncated(pos: usize) -> String {
    format!("file ends inside an element header at byte {pos}")
}

fn fit(pos: usize, len: u32, end: usize, group: u16, elem: u16) -> Result<usize, String> {
    match pos.checked_add(len as usize) {
        Some(stop) if stop <= end => Ok(stop),
        _ => Err(format!(
            "element ({group:04X},{elem:04X}) at byte {pos} declares {len} bytes, only {} remain",
            end.saturating_sub(pos)
        )),
    }
}

/// Check that every element length in a DICOM Part 10 file fits in the file.
/// Files without the `DICM` marker are left to the parser.
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let start = if bytes.get(128..132) == Some(b"DICM") {
        132
    } else if bytes.starts_with(b"DICM") {
        4
    } else {
        return Ok(());
    };
    let scan = Scan { b: bytes };
    let le_explicit = Enc {
        explicit: true,
        big_endian: false,
    };
    // File meta group: explicit VR little endian, group 0002.
    let mut pos = start;
    let mut ts = String::new();
    while pos + 4 <= bytes.len() && scan.u16(pos, le_explicit)? == 0x0002 {
        let elem = scan.u16(pos + 2, le_explicit)?;
        let next = scan.walk_one(pos, le_explicit)?;
        if elem == 0x0010 {
            let header = next.1;
            ts = String::from_utf8_lossy(&bytes[pos + header..next.0])
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        pos = next.0;
    }
    let mut enc = match ts.as_str() {
        "1.2.840.10008.1.2" => Enc {
            explicit: false,
            big_endian: false,
        },
        "1.2.840.10008.1.2.2" => Enc {
            explicit: true,
            big_endian: true,
        },
        "1.2.840.10008.1.2.1.99" => return Ok(()),
        _ => le_explicit,
    };
    // Some writers encode the data set in implicit VR despite an explicit transfer
    // syntax (pydicom reads such files with a warning): follow the bytes.
    if enc.explicit {
        if let Some(vr) = bytes.get(pos + 4..pos + 6) {
            if !vr.iter().all(u8::is_ascii_uppercase) {
                enc.explicit = false;
            }
        }
    }
    scan.walk(pos, bytes.len(), enc, 0, false, false)
        .map(|_| ())
}

impl Scan<'_> {
    /// One explicit-VR element with a defined length: (position after it, header size).
    fn walk_one(&self, pos: usize, enc: Enc) -> Result<(usize, usize), String> {
        let group = self.u16(pos, enc)?;
        let elem = self.u16(pos + 2, enc)?;
        let vr = self.b.get(pos + 4..pos + 6).ok_or_else(|| truncated(pos))?;
        let (len, header) = if long_form(vr) {
            (self.u32(pos + 8, enc)?, 12)
        } else {
            (self.u16(pos + 6, enc)? as u32, 8)
        };
        if len == UNDEFINED {
            return Err(format!(
                "meta element ({group:04X},{elem:04X}) has undefined length"
            ));
        }
        Ok((fit(pos + header, len, self.b.len(), group, elem)?, header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    fn file(body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend_from_slice(b"DICM");
        f.extend(le((2, 0x10), b"UI", b"1.2.840.10008.1.2.1\0"));
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn accepts_well_formed_and_rejects_impossible_lengths() {
        let good = file(&le((0x10, 0x10), b"PN", b"DOE^JOHN"));
        assert_eq!(check(&good), Ok(()));
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 10] = 0xFF; // the PN length, now 0xFF08 bytes
        assert!(check(&bad).unwrap_err().contains("(0010,0010)"));
        // Undefined-length sequence with an undefined-length item, properly delimited.
        let mut sq = Vec::new();
        sq.extend_from_slice(&[0x08, 0x00, 0x15, 0x11]);
        sq.extend_from_slice(b"SQ\0\0");
        sq.extend_from_slice(&UNDEFINED.to_le_bytes());
        sq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        sq.extend_from_slice(&UNDEFINED.to_le_bytes());
        sq.extend(le((0x08, 0x1150), b"UI", b"1.2\0"));
        sq.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        sq.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert_eq!(check(&file(&sq)), Ok(()));
        // The same without its delimiters is rejected.
        assert!(check(&file(&sq[..sq.len() - 16])).is_err());
        // Not a Part 10 file: left to the parser.
        assert_eq!(check(b"hello"), Ok(()));
        // Truncated header.
        let g = file(&le((0x10, 0x10), b"PN", b"DOE^JOHN"));
        assert!(check(&g[..g.len() - 11]).is_err());
    }
}
