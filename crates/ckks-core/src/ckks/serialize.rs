//! Serialization with serde + postcard: versioned, bound to a parameter fingerprint, validated.
//!
//! Every object travels in an envelope `{magic "PMCK", version, kind, fingerprint, body}`.
//! On read, the magic, the version, the kind and the SHA-256 fingerprint of the reader's
//! parameters are checked before the body is decoded; the body is then validated completely:
//! bases and lengths against the parameters, every coefficient below its modulus, scales
//! finite, slot counts powers of two. Malformed, truncated or foreign bytes give a
//! [`CkksError`], never a panic or a wrong object.
//!
//! Coefficients are bit-packed at the size of their prime. The uniform half of public keys,
//! switching keys and fresh symmetric ciphertexts is replaced by its 32-byte seed when
//! `compressed` is set (the default of [`to_bytes`]), which halves their size.

use super::evaluator::EvaluationKeys;
use super::{Ciphertext, Context, Parameters, Plaintext};
use crate::error::{CkksError, Result};
use crate::ring::sampler::uniform_from_seed;
use crate::ring::{Basis, Form, RnsPoly};
use crate::rlwe::keys::digit_seed;
use crate::rlwe::{GaloisKey, PublicKey, RelinearizationKey, SecretKey, SwitchingKey};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;

const MAGIC: [u8; 4] = *b"PMCK";
/// Current format version.
pub const FORMAT_VERSION: u16 = 2;

#[derive(Serialize, Deserialize)]
struct Envelope {
    magic: [u8; 4],
    version: u16,
    kind: u8,
    fingerprint: [u8; 32],
    body: ByteBuf,
}

/// An object that can be written with [`to_bytes`] and read with [`from_bytes`].
pub trait Serializable: Sized {
    /// Kind tag of the envelope.
    const KIND: u8;
    /// The body, compressed (seeds instead of uniform polynomials) or not.
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>>;
    /// Decodes and validates a body.
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self>;
}

/// Serializes `obj` (compressed) for the parameters of `ctx`.
pub fn to_bytes<T: Serializable>(ctx: &Context, obj: &T) -> Result<Vec<u8>> {
    to_bytes_with(ctx, obj, true)
}

/// Serializes `obj`, with seeds (`compressed`) or with full uniform polynomials.
pub fn to_bytes_with<T: Serializable>(ctx: &Context, obj: &T, compressed: bool) -> Result<Vec<u8>> {
    let env = Envelope {
        magic: MAGIC,
        version: FORMAT_VERSION,
        kind: T::KIND,
        fingerprint: ctx.fingerprint(),
        body: ByteBuf::from(obj.encode_body(ctx, compressed)?),
    };
    postcard::to_allocvec(&env).map_err(|e| CkksError::Serialize(e.to_string()))
}

/// Reads an object written by [`to_bytes`] for the same parameters.
pub fn from_bytes<T: Serializable>(ctx: &Context, bytes: &[u8]) -> Result<T> {
    let env: Envelope = decode_exact(bytes)?;
    if env.magic != MAGIC {
        return Err(CkksError::Deserialize(
            "not a ckks-core object (bad magic)".into(),
        ));
    }
    if env.version != FORMAT_VERSION {
        return Err(CkksError::Version(env.version));
    }
    if env.kind != T::KIND {
        return Err(CkksError::Deserialize(format!(
            "object kind {} where {} was expected",
            env.kind,
            T::KIND
        )));
    }
    if env.fingerprint != ctx.fingerprint() {
        return Err(CkksError::FingerprintMismatch);
    }
    T::decode_body(ctx, &env.body)
}

/// Serializes parameters (self-describing: no fingerprint check on read).
pub fn params_to_bytes(params: &Parameters) -> Result<Vec<u8>> {
    let env = Envelope {
        magic: MAGIC,
        version: FORMAT_VERSION,
        kind: 0,
        fingerprint: params.fingerprint(),
        body: ByteBuf::from(
            postcard::to_allocvec(params).map_err(|e| CkksError::Serialize(e.to_string()))?,
        ),
    };
    postcard::to_allocvec(&env).map_err(|e| CkksError::Serialize(e.to_string()))
}

/// Reads and re-validates parameters (including the security check).
pub fn params_from_bytes(bytes: &[u8]) -> Result<Parameters> {
    let env: Envelope = decode_exact(bytes)?;
    if env.magic != MAGIC || env.kind != 0 {
        return Err(CkksError::Deserialize("not a parameter set".into()));
    }
    if env.version != FORMAT_VERSION {
        return Err(CkksError::Version(env.version));
    }
    let params: Parameters = decode_exact(&env.body)?;
    params.validate()?;
    if params.fingerprint() != env.fingerprint {
        return Err(CkksError::FingerprintMismatch);
    }
    Ok(params)
}

pub(crate) fn decode_exact<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T> {
    let (v, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| CkksError::Deserialize(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CkksError::Deserialize(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(v)
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(v).map_err(|e| CkksError::Serialize(e.to_string()))
}

// ---------------------------------------------------------------- polynomials

#[derive(Serialize, Deserialize)]
struct WirePoly {
    q: u32,
    p: u32,
    eval: bool,
    packed: ByteBuf,
}

fn pack_poly(ctx: &Context, a: &RnsPoly) -> WirePoly {
    let ring = ctx.ring();
    let mut w = BitWriter::default();
    for i in 0..a.basis.len() {
        let bits = ring.modulus(a.basis, i).bits();
        a.limb(i).iter().for_each(|&x| w.push(x, bits));
    }
    WirePoly {
        q: a.basis.q as u32,
        p: a.basis.p as u32,
        eval: a.form == Form::Eval,
        packed: ByteBuf::from(w.finish()),
    }
}

/// Unpacks and validates a polynomial; `expect` fixes the basis when the caller knows it.
fn unpack_poly(ctx: &Context, w: &WirePoly, expect: Option<Basis>, form: Form) -> Result<RnsPoly> {
    let ring = ctx.ring();
    let basis = Basis {
        q: w.q as usize,
        p: w.p as usize,
    };
    ring.check_basis(basis)
        .map_err(|e| CkksError::Deserialize(e.to_string()))?;
    if expect.is_some_and(|b| b != basis) || (w.eval != (form == Form::Eval)) {
        return Err(CkksError::Deserialize(
            "polynomial with unexpected basis or form".into(),
        ));
    }
    let n = ring.n();
    let total_bits: usize = (0..basis.len())
        .map(|i| ring.modulus(basis, i).bits() as usize * n)
        .sum();
    if w.packed.len() != total_bits.div_ceil(8) {
        return Err(CkksError::Deserialize(format!(
            "polynomial data of {} bytes where {} were expected",
            w.packed.len(),
            total_bits.div_ceil(8)
        )));
    }
    let mut r = BitReader::new(&w.packed);
    let mut out = ring.zero(basis, form);
    for i in 0..basis.len() {
        let m = *ring.modulus(basis, i);
        let bits = m.bits();
        for x in out.limb_mut(i) {
            let v = r.take(bits);
            if v >= m.value() {
                return Err(CkksError::Deserialize(
                    "coefficient not below its modulus".into(),
                ));
            }
            *x = v;
        }
    }
    Ok(out)
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u128,
    n: u32,
}

impl BitWriter {
    fn push(&mut self, v: u64, bits: u32) {
        self.acc |= (v as u128) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u128,
    n: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            acc: 0,
            n: 0,
        }
    }
    /// Next `bits` bits; the caller has checked the total length, so missing bytes read as 0.
    fn take(&mut self, bits: u32) -> u64 {
        while self.n < bits {
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            self.acc |= (b as u128) << self.n;
            self.pos += 1;
            self.n += 8;
        }
        let v = (self.acc & ((1u128 << bits) - 1)) as u64;
        self.acc >>= bits;
        self.n -= bits;
        v
    }
}

// ---------------------------------------------------------------- keys

fn full_basis(ctx: &Context) -> Basis {
    Basis::qp(ctx.max_level(), ctx.params().p().len())
}

impl Serializable for SecretKey {
    const KIND: u8 = 1;
    fn encode_body(&self, _ctx: &Context, _compressed: bool) -> Result<Vec<u8>> {
        let mut w = BitWriter::default();
        self.coeffs.iter().for_each(|&c| w.push((c + 1) as u64, 2));
        let mut bytes = w.finish();
        let out = encode(&ByteBuf::from(bytes.clone()));
        zeroize::Zeroize::zeroize(&mut bytes);
        out
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        let buf: ByteBuf = decode_exact(body)?;
        let n = ctx.params().n();
        if buf.len() != (2 * n).div_ceil(8) {
            return Err(CkksError::Deserialize("secret key of wrong length".into()));
        }
        let mut r = BitReader::new(&buf);
        let coeffs = (0..n)
            .map(|_| match r.take(2) {
                v @ 0..=2 => Ok(v as i64 - 1),
                _ => Err(CkksError::Deserialize(
                    "secret key coefficient not ternary".into(),
                )),
            })
            .collect::<Result<Vec<i64>>>()?;
        Ok(SecretKey::from_coeffs(ctx.ring(), coeffs))
    }
}

#[derive(Serialize, Deserialize)]
struct WireSeeded {
    b: WirePoly,
    a: Option<WirePoly>,
}

fn encode_pair(ctx: &Context, b: &RnsPoly, a: &RnsPoly, compressed: bool) -> WireSeeded {
    WireSeeded {
        b: pack_poly(ctx, b),
        a: (!compressed).then(|| pack_poly(ctx, a)),
    }
}

fn decode_pair(
    ctx: &Context,
    w: &WireSeeded,
    basis: Basis,
    seed: &[u8; 32],
) -> Result<[RnsPoly; 2]> {
    let b = unpack_poly(ctx, &w.b, Some(basis), Form::Eval)?;
    let a = match &w.a {
        Some(a) => unpack_poly(ctx, a, Some(basis), Form::Eval)?,
        None => uniform_from_seed(ctx.ring(), basis, seed),
    };
    Ok([b, a])
}

#[derive(Serialize, Deserialize)]
struct WirePublicKey {
    seed: [u8; 32],
    pair: WireSeeded,
}

impl Serializable for PublicKey {
    const KIND: u8 = 2;
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>> {
        encode(&WirePublicKey {
            seed: self.seed,
            pair: encode_pair(ctx, &self.b, &self.a, compressed),
        })
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        let w: WirePublicKey = decode_exact(body)?;
        let [b, a] = decode_pair(ctx, &w.pair, full_basis(ctx), &w.seed)?;
        Ok(PublicKey { b, a, seed: w.seed })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireSwitchingKey {
    seed: [u8; 32],
    digits: Vec<WireSeeded>,
}

pub(crate) fn encode_swk(ctx: &Context, k: &SwitchingKey, compressed: bool) -> WireSwitchingKey {
    let held = k.has_uniform_halves();
    WireSwitchingKey {
        seed: k.seed,
        digits: k
            .digits
            .iter()
            .enumerate()
            .map(|(j, [b, a])| {
                if compressed || held {
                    encode_pair(ctx, b, a, compressed)
                } else {
                    // the unseeded form of a key whose uniform halves were dropped
                    let a = uniform_from_seed(ctx.ring(), b.basis, &digit_seed(&k.seed, j));
                    encode_pair(ctx, b, &a, false)
                }
            })
            .collect(),
    }
}

fn decode_swk(ctx: &Context, w: &WireSwitchingKey) -> Result<SwitchingKey> {
    decode_swk_at(ctx, w, ctx.max_level())
}

/// Decodes a switching key that works up to `level` (see
/// [`KeyGenerator::switching_key_at`](crate::rlwe::KeyGenerator::switching_key_at)): it lives
/// over `Q_level P` and has the digits that cover those primes.
pub(crate) fn decode_swk_at(
    ctx: &Context,
    w: &WireSwitchingKey,
    level: usize,
) -> Result<SwitchingKey> {
    if level > ctx.max_level() {
        return Err(CkksError::Deserialize(format!(
            "switching key for level {level} above the chain's top {}",
            ctx.max_level()
        )));
    }
    let alpha = ctx.params().alpha();
    let expected = level / alpha + 1;
    if w.digits.len() != expected {
        return Err(CkksError::Deserialize(format!(
            "switching key with {} digits where level {level} needs {expected}",
            w.digits.len(),
        )));
    }
    let basis = Basis::qp(level, ctx.params().p().len());
    let digits = w
        .digits
        .iter()
        .enumerate()
        .map(|(j, d)| decode_pair(ctx, d, basis, &digit_seed(&w.seed, j)))
        .collect::<Result<Vec<_>>>()?;
    Ok(SwitchingKey {
        digits,
        seed: w.seed,
    })
}

impl Serializable for RelinearizationKey {
    const KIND: u8 = 3;
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>> {
        encode(&encode_swk(ctx, &self.0, compressed))
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        Ok(RelinearizationKey(decode_swk(ctx, &decode_exact(body)?)?))
    }
}

#[derive(Serialize, Deserialize)]
struct WireGaloisKey {
    galois_element: u64,
    /// Highest level the key serves (it lives over `Q_level P`).
    level: u32,
    key: WireSwitchingKey,
}

fn encode_galois(ctx: &Context, k: &GaloisKey, compressed: bool) -> WireGaloisKey {
    WireGaloisKey {
        galois_element: k.galois_element,
        level: k.level() as u32,
        key: encode_swk(ctx, &k.key, compressed),
    }
}

fn decode_galois(ctx: &Context, w: &WireGaloisKey) -> Result<GaloisKey> {
    let two_n = 2 * ctx.params().n() as u64;
    if w.galois_element.is_multiple_of(2) || w.galois_element >= two_n || w.galois_element == 1 {
        return Err(CkksError::Deserialize(format!(
            "invalid Galois element {}",
            w.galois_element
        )));
    }
    Ok(GaloisKey {
        galois_element: w.galois_element,
        key: decode_swk_at(ctx, &w.key, w.level as usize)?,
    })
}

impl Serializable for GaloisKey {
    const KIND: u8 = 4;
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>> {
        encode(&encode_galois(ctx, self, compressed))
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        decode_galois(ctx, &decode_exact(body)?)
    }
}

#[derive(Serialize, Deserialize)]
struct WireEvaluationKeys {
    relin: Option<WireSwitchingKey>,
    galois: Vec<WireGaloisKey>,
}

impl Serializable for EvaluationKeys {
    const KIND: u8 = 5;
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>> {
        encode(&WireEvaluationKeys {
            relin: self
                .relin
                .as_ref()
                .map(|r| encode_swk(ctx, &r.0, compressed)),
            galois: self
                .galois
                .values()
                .map(|g| encode_galois(ctx, g, compressed))
                .collect(),
        })
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        let w: WireEvaluationKeys = decode_exact(body)?;
        let relin = w
            .relin
            .as_ref()
            .map(|r| decode_swk(ctx, r).map(RelinearizationKey))
            .transpose()?;
        let mut galois = BTreeMap::new();
        for g in &w.galois {
            let k = decode_galois(ctx, g)?;
            if galois.insert(k.galois_element, k).is_some() {
                return Err(CkksError::Deserialize("duplicate Galois key".into()));
            }
        }
        Ok(EvaluationKeys { relin, galois })
    }
}

// ---------------------------------------------------------------- plaintexts and ciphertexts

fn check_scale_slots(ctx: &Context, scale: f64, slots: u32) -> Result<()> {
    if !(scale.is_finite() && scale >= 1.0) {
        return Err(CkksError::Deserialize(format!("invalid scale {scale}")));
    }
    let s = slots as usize;
    if s == 0 || !s.is_power_of_two() || s > ctx.params().max_slots() {
        return Err(CkksError::Deserialize(format!(
            "invalid slot count {slots}"
        )));
    }
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct WirePlaintext {
    poly: WirePoly,
    scale: f64,
    slots: u32,
}

impl Serializable for Plaintext {
    const KIND: u8 = 6;
    fn encode_body(&self, ctx: &Context, _compressed: bool) -> Result<Vec<u8>> {
        encode(&WirePlaintext {
            poly: pack_poly(ctx, &self.poly),
            scale: self.scale,
            slots: self.slots as u32,
        })
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        let w: WirePlaintext = decode_exact(body)?;
        check_scale_slots(ctx, w.scale, w.slots)?;
        let poly = unpack_poly(ctx, &w.poly, None, Form::Eval)?;
        if poly.basis.p != 0 {
            return Err(CkksError::Deserialize(
                "plaintext with special primes".into(),
            ));
        }
        Ok(Plaintext {
            poly,
            scale: w.scale,
            slots: w.slots as usize,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct WireCiphertext {
    c: Vec<WirePoly>,
    seed: Option<[u8; 32]>,
    /// `c_1` left out (to be expanded from `seed`).
    c1_omitted: bool,
    scale: f64,
    slots: u32,
}

impl Serializable for Ciphertext {
    const KIND: u8 = 7;
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>> {
        let seeded = compressed && self.seed.is_some();
        let c = self
            .c
            .iter()
            .enumerate()
            .filter(|(i, _)| !(seeded && *i == 1))
            .map(|(_, p)| pack_poly(ctx, p))
            .collect();
        encode(&WireCiphertext {
            c,
            seed: self.seed,
            c1_omitted: seeded,
            scale: self.scale,
            slots: self.slots as u32,
        })
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        let w: WireCiphertext = decode_exact(body)?;
        check_scale_slots(ctx, w.scale, w.slots)?;
        let omitted = usize::from(w.c1_omitted);
        if (w.c1_omitted && w.seed.is_none()) || !(2..=3).contains(&(w.c.len() + omitted)) {
            return Err(CkksError::Deserialize(format!(
                "ciphertext with {} polynomials",
                w.c.len()
            )));
        }
        let first = unpack_poly(ctx, &w.c[0], None, Form::Eval)?;
        let basis = first.basis;
        if basis.p != 0 {
            return Err(CkksError::Deserialize(
                "ciphertext with special primes".into(),
            ));
        }
        let mut c = vec![first];
        for p in &w.c[1..] {
            c.push(unpack_poly(ctx, p, Some(basis), Form::Eval)?);
        }
        if let Some(seed) = &w.seed {
            let c1 = uniform_from_seed(ctx.ring(), basis, seed);
            if w.c1_omitted {
                c.insert(1, c1);
            } else if c[1] != c1 {
                return Err(CkksError::Deserialize(
                    "ciphertext seed does not match c1".into(),
                ));
            }
        }
        Ok(Ciphertext {
            c,
            scale: w.scale,
            slots: w.slots as usize,
            seed: w.seed,
        })
    }
}
