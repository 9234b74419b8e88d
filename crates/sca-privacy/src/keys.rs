//! Recipients' X25519 key pairs and the wrapping of the secret support key for each
//! recipient: ephemeral-static X25519 (Bernstein 2006; RFC 7748), key derivation
//! `k = SHA-256("sca-privacy wrap v1" || shared || epk || rpk)`, ChaCha20-Poly1305 (RFC 8439)
//! with a random 96-bit nonce and associated data `SHA-256(public code file)`, so a key
//! only opens with the very public code it was made for.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::{read_file, write_file, Result, ScaError};
use crate::format::{corrupted, seal, unseal};

const SECRET_MAGIC: &[u8; 8] = b"SCASKEY\0";
const PUBLIC_MAGIC: &[u8; 8] = b"SCAPKEY\0";
const BUNDLE_MAGIC: &[u8; 8] = b"SCAKEYS\0";
const VERSION: u16 = 1;
const KDF_LABEL: &[u8] = b"sca-privacy wrap v1";

/// A recipient's X25519 public key with the recipient's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientPublic {
    /// Name the sharer addresses the recipient by.
    pub name: String,
    /// X25519 public key.
    pub key: [u8; 32],
}

/// A recipient's X25519 secret key (zeroized on drop by `x25519-dalek`).
#[derive(Clone)]
pub struct RecipientSecret {
    /// Recipient name.
    pub name: String,
    secret: StaticSecret,
}

impl std::fmt::Debug for RecipientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecipientSecret({:?}, ..)", self.name)
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ScaError::InvalidArgument(format!(
            "recipient name {name:?}: 1 to 255 bytes, no control characters"
        )));
    }
    Ok(())
}

impl RecipientSecret {
    /// A fresh key pair from the operating system's CSPRNG.
    pub fn generate(name: &str) -> Result<Self> {
        check_name(name)?;
        Ok(Self {
            name: name.into(),
            secret: StaticSecret::random_from_rng(OsRng),
        })
    }

    /// From 32 secret bytes (tests; a key from elsewhere).
    pub fn from_bytes(name: &str, bytes: [u8; 32]) -> Result<Self> {
        check_name(name)?;
        Ok(Self {
            name: name.into(),
            secret: StaticSecret::from(bytes),
        })
    }

    /// The public half.
    pub fn public(&self) -> RecipientPublic {
        RecipientPublic {
            name: self.name.clone(),
            key: PublicKey::from(&self.secret).to_bytes(),
        }
    }

    /// Secret key file (magic `SCASKEY`, name, 32 bytes, CRC-32).
    pub fn to_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut body =
            Zeroizing::new(postcard::to_allocvec(&self.name).expect("postcard to a Vec"));
        body.extend_from_slice(self.secret.as_bytes());
        Zeroizing::new(seal(SECRET_MAGIC, VERSION, &body))
    }

    /// Parse a secret key file.
    pub fn from_file_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let body = unseal(bytes, SECRET_MAGIC, VERSION, "sca-privacy secret key", what)?;
        let (name, rest): (String, &[u8]) =
            postcard::take_from_bytes(body).map_err(|e| corrupted(what, &e.to_string()))?;
        let bytes: [u8; 32] = rest
            .try_into()
            .map_err(|_| corrupted(what, "secret key is not 32 bytes"))?;
        let k = Self::from_bytes(&name, bytes);
        zeroize::Zeroize::zeroize(&mut { bytes });
        k
    }

    /// Load a secret key file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(read_file(path)?);
        Self::from_file_bytes(&bytes, &path.display().to_string())
    }
}

impl RecipientPublic {
    /// Public key file (magic `SCAPKEY`, postcard, CRC-32).
    pub fn to_file_bytes(&self) -> Vec<u8> {
        seal(
            PUBLIC_MAGIC,
            VERSION,
            &postcard::to_allocvec(self).expect("postcard to a Vec"),
        )
    }

    /// Parse a public key file.
    pub fn from_file_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let body = unseal(bytes, PUBLIC_MAGIC, VERSION, "sca-privacy public key", what)?;
        let k: Self = postcard::from_bytes(body).map_err(|e| corrupted(what, &e.to_string()))?;
        check_name(&k.name)?;
        Ok(k)
    }

    /// Load a public key file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_file_bytes(&read_file(path)?, &path.display().to_string())
    }
}

/// The support key wrapped for one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Recipient name.
    pub recipient: String,
    /// Ephemeral X25519 public key of the sharer.
    pub ephemeral: [u8; 32],
    /// ChaCha20-Poly1305 nonce.
    pub nonce: [u8; 12],
    /// Encrypted packed support key with its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// The wrapped keys of one shared image, for all its recipients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBundle {
    /// SHA-256 of the public code file the keys belong to.
    pub code_hash: [u8; 32],
    /// One entry per recipient.
    pub keys: Vec<WrappedKey>,
}

fn kdf(shared: &[u8; 32], epk: &[u8; 32], rpk: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(KDF_LABEL);
    h.update(shared);
    h.update(epk);
    h.update(rpk);
    Zeroizing::new(h.finalize().into())
}

/// SHA-256 of a public code file (the associated data of every wrapped key).
pub fn code_hash(public_code: &[u8]) -> [u8; 32] {
    Sha256::digest(public_code).into()
}

/// Wrap the packed support key `secret` for `recipient`, bound to `code_hash`.
pub fn wrap(
    secret: &[u8],
    recipient: &RecipientPublic,
    code_hash: &[u8; 32],
) -> Result<WrappedKey> {
    check_name(&recipient.name)?;
    let eph = EphemeralSecret::random_from_rng(OsRng);
    let epk = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(recipient.key));
    if !shared.was_contributory() {
        return Err(ScaError::InvalidArgument(format!(
            "recipient {:?}: public key of small order",
            recipient.name
        )));
    }
    let k = kdf(shared.as_bytes(), &epk, &recipient.key);
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let ciphertext = ChaCha20Poly1305::new(Key::from_slice(&k[..]))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: code_hash,
            },
        )
        .map_err(|_| ScaError::InvalidArgument("encryption failed".into()))?;
    Ok(WrappedKey {
        recipient: recipient.name.clone(),
        ephemeral: epk,
        nonce,
        ciphertext,
    })
}

/// Unwrap with the recipient's secret key; [`ScaError::UnwrapFailed`] for a wrong key or a
/// modified key or public code.
pub fn unwrap(
    w: &WrappedKey,
    secret: &RecipientSecret,
    code_hash: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>> {
    let rpk = PublicKey::from(&secret.secret).to_bytes();
    let shared = secret.secret.diffie_hellman(&PublicKey::from(w.ephemeral));
    let k = kdf(shared.as_bytes(), &w.ephemeral, &rpk);
    ChaCha20Poly1305::new(Key::from_slice(&k[..]))
        .decrypt(
            Nonce::from_slice(&w.nonce),
            Payload {
                msg: &w.ciphertext,
                aad: code_hash,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| ScaError::UnwrapFailed(w.recipient.clone()))
}

impl KeyBundle {
    /// Key file (magic `SCAKEYS`, postcard, CRC-32).
    pub fn to_bytes(&self) -> Vec<u8> {
        seal(
            BUNDLE_MAGIC,
            VERSION,
            &postcard::to_allocvec(self).expect("postcard to a Vec"),
        )
    }

    /// Parse a key file.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let body = unseal(bytes, BUNDLE_MAGIC, VERSION, "sca-privacy key bundle", what)?;
        postcard::from_bytes(body).map_err(|e| corrupted(what, &e.to_string()))
    }

    /// The entry of recipient `name`.
    pub fn for_recipient(&self, name: &str) -> Result<&WrappedKey> {
        self.keys
            .iter()
            .find(|k| k.recipient == name)
            .ok_or_else(|| ScaError::UnknownRecipient(name.into()))
    }

    /// Save to a file.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        write_file(path, &self.to_bytes())
    }

    /// Load a file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_bytes(&read_file(path)?, &path.display().to_string())
    }
}
