//! The canonical binary encoding.
//!
//! Every value has exactly one encoding, so hashes and signatures over it are
//! well defined: integers are fixed-width big-endian, byte strings and lists
//! carry a `u32` length prefix, options a one-byte tag. Decoding checks every
//! length against the remaining input and a per-kind maximum, so hostile input
//! costs at most its own size and never panics.

use crate::{Error, Result};

/// Largest byte string accepted by the decoder (a transaction payload or a
/// contract's code); a block is a list of such items.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Largest number of items in one list.
pub const MAX_ITEMS: usize = 1 << 20;

/// Appends the canonical encoding of `self` to a buffer.
pub trait Encode {
    /// Writes the encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The encoding of `self` as a new buffer.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// Reads a value from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value, advancing the reader.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self>;

    /// Decodes a whole buffer; trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// A cursor over encoded input.
#[derive(Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { input, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::UnexpectedEnd { wanted: n, remaining: self.remaining() });
        }
        let slice = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    /// Takes exactly `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a length prefix and checks it against `max` and the input left.
    pub fn len_prefix(&mut self, max: usize, what: &'static str) -> Result<usize> {
        let len = u32::decode_from(self)? as usize;
        if len > max {
            return Err(Error::TooLong { what, len, max });
        }
        Ok(len)
    }

    /// Fails unless the whole input was consumed.
    pub fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(Error::TrailingBytes(n)),
        }
    }
}

macro_rules! int_codec {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
        impl Decode for $t {
            fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
                Ok(<$t>::from_be_bytes(r.array()?))
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64, i64);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        match u8::decode_from(r)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(Error::InvalidTag { what: "bool", tag }),
        }
    }
}

/// Writes a length prefix; lengths above `u32::MAX` cannot be produced by the
/// types of this crate because the decoder caps them far lower.
fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    len.encode_to(out);
}

impl Encode for [u8] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_len(out, self.len());
        out.extend_from_slice(self);
    }
}

impl Encode for Vec<u8> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_slice().encode_to(out);
    }
}

impl Decode for Vec<u8> {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let len = r.len_prefix(MAX_BYTES, "bytes")?;
        Ok(r.take(len)?.to_vec())
    }
}

impl Encode for str {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_bytes().encode_to(out);
    }
}

impl Encode for String {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.as_str().encode_to(out);
    }
}

impl Decode for String {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let len = r.len_prefix(MAX_BYTES, "string")?;
        let bytes = r.take(len)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| Error::InvalidUtf8)
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode_to(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        match u8::decode_from(r)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode_from(r)?)),
            tag => Err(Error::InvalidTag { what: "option", tag }),
        }
    }
}

/// A list of encodable items (not bytes: `Vec<u8>` encodes as a byte string).
pub fn encode_list<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    put_len(out, items.len());
    for item in items {
        item.encode_to(out);
    }
}

/// Reads a list written by [`encode_list`].
pub fn decode_list<T: Decode>(r: &mut Reader<'_>) -> Result<Vec<T>> {
    let len = r.len_prefix(MAX_ITEMS, "list")?;
    // Each item takes at least one byte, so the input bounds the allocation.
    let mut items = Vec::with_capacity(len.min(r.remaining()));
    for _ in 0..len {
        items.push(T::decode_from(r)?);
    }
    Ok(items)
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
        self.1.encode_to(out);
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        Ok((A::decode_from(r)?, B::decode_from(r)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian_and_round_trip() {
        assert_eq!(0x0102_0304u32.encode(), vec![1, 2, 3, 4]);
        assert_eq!(u64::decode(&7u64.encode()).ok(), Some(7));
        assert!(matches!(u64::decode(&[1, 2]), Err(Error::UnexpectedEnd { .. })));
    }

    #[test]
    fn lengths_are_checked_before_allocating() {
        let mut evil = Vec::new();
        u32::MAX.encode_to(&mut evil);
        assert!(matches!(Vec::<u8>::decode(&evil), Err(Error::TooLong { .. })));
        let mut short = Vec::new();
        10u32.encode_to(&mut short);
        short.push(1);
        assert!(matches!(Vec::<u8>::decode(&short), Err(Error::UnexpectedEnd { .. })));
    }

    #[test]
    fn trailing_bytes_and_bad_tags_are_rejected() {
        assert!(matches!(u8::decode(&[1, 2]), Err(Error::TrailingBytes(1))));
        assert!(matches!(bool::decode(&[2]), Err(Error::InvalidTag { .. })));
        assert!(matches!(Option::<u8>::decode(&[9]), Err(Error::InvalidTag { .. })));
        assert!(matches!(String::decode(&[0, 0, 0, 1, 0xff]), Err(Error::InvalidUtf8)));
    }
}
