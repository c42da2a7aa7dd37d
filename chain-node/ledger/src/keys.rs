//! Key and value layouts of the index keyspaces. Integers are big-endian so
//! keys sort numerically; every decoder returns [`Error::Corrupt`] on bad
//! bytes instead of panicking.

use govchain_types::{Hash, HexValue, HistoryEntry};

use crate::{Error, Result, Tip, blockfile::Location};

/// Longest contract name the state can hold (its length is one key byte).
pub const MAX_CONTRACT_LEN: usize = 255;
/// Longest state key: the history key adds the contract and 24 bytes, and the
/// store takes keys up to 64 KiB.
pub const MAX_KEY_LEN: usize = 60 * 1024;

/// A reader over stored bytes that reports corruption with context.
struct Bytes<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn new(what: &'static str, rest: &'a [u8]) -> Self {
        Bytes { what, rest }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(Error::Corrupt(format!("{} entry is truncated", self.what)));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn hash(&mut self) -> Result<Hash> {
        Ok(Hash(self.array()?))
    }

    fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::Corrupt(format!("{} entry has {} extra bytes", self.what, self.rest.len())))
        }
    }
}

pub(crate) fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

pub(crate) fn decode_height(bytes: &[u8]) -> Result<u64> {
    let mut b = Bytes::new("block id", bytes);
    let h = b.u64()?;
    b.finish()?;
    Ok(h)
}

/// Index entry of one height: where the block is, its id and the state root
/// after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockEntry {
    pub loc: Location,
    pub id: Hash,
    pub state_root: Hash,
}

impl BlockEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80);
        out.extend_from_slice(&self.loc.file.to_be_bytes());
        out.extend_from_slice(&self.loc.offset.to_be_bytes());
        out.extend_from_slice(&self.loc.len.to_be_bytes());
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.state_root.0);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut b = Bytes::new("block index", bytes);
        let loc = Location { file: b.u32()?, offset: b.u64()?, len: b.u32()? };
        let entry = BlockEntry { loc, id: b.hash()?, state_root: b.hash()? };
        b.finish()?;
        Ok(entry)
    }
}

/// Index entry of one transaction: its block and position, where its bytes
/// are, followed by its encoded receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxEntry {
    pub height: u64,
    pub index: u32,
    pub file: u32,
    pub offset: u64,
    pub len: u32,
}

impl TxEntry {
    const LEN: usize = 28;

    pub fn encode_with(&self, receipt: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::LEN + receipt.len());
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.file.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(receipt);
        out
    }

    /// The entry and the encoded receipt after it.
    pub fn decode(bytes: &[u8]) -> Result<(Self, &[u8])> {
        let mut b = Bytes::new("transaction index", bytes);
        let entry =
            TxEntry { height: b.u64()?, index: b.u32()?, file: b.u32()?, offset: b.u64()?, len: b.u32()? };
        Ok((entry, b.rest))
    }
}

/// The committed tip and where the block files end with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TipEntry {
    pub tip: Tip,
    pub file: u32,
    pub end: u64,
}

impl TipEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(92);
        out.extend_from_slice(&self.tip.height.to_be_bytes());
        out.extend_from_slice(&self.tip.block_id.0);
        out.extend_from_slice(&self.tip.state_root.0);
        out.extend_from_slice(&self.tip.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&self.file.to_be_bytes());
        out.extend_from_slice(&self.end.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut b = Bytes::new("tip", bytes);
        let tip =
            Tip { height: b.u64()?, block_id: b.hash()?, state_root: b.hash()?, timestamp_ms: b.u64()? };
        let entry = TipEntry { tip, file: b.u32()?, end: b.u64()? };
        b.finish()?;
        Ok(entry)
    }
}

/// `[len(contract): u8][contract]`: every state key of the contract starts
/// with it, and the length byte keeps `ab` + key `c` apart from `a` + `bc`.
/// `None` if the name is too long to have been stored.
pub(crate) fn contract_prefix(contract: &str) -> Option<Vec<u8>> {
    let len = u8::try_from(contract.len()).ok()?;
    let mut out = Vec::with_capacity(1 + contract.len());
    out.push(len);
    out.extend_from_slice(contract.as_bytes());
    Some(out)
}

/// Key of the latest value: the contract prefix then the raw key, so keys of
/// one contract sort like the raw keys and range scans map one to one.
pub(crate) fn state_key(contract: &str, key: &[u8]) -> Option<Vec<u8>> {
    if key.len() > MAX_KEY_LEN {
        return None;
    }
    let mut out = contract_prefix(contract)?;
    out.extend_from_slice(key);
    Some(out)
}

/// Prefix of every history entry of one key: unlike the state key the raw
/// key is length-prefixed here, so the history of `a` does not run into that
/// of `ab`.
pub(crate) fn history_prefix(contract: &str, key: &[u8]) -> Option<Vec<u8>> {
    let key_len = u32::try_from(key.len()).ok().filter(|&l| l as usize <= MAX_KEY_LEN)?;
    let mut out = contract_prefix(contract)?;
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(key);
    Some(out)
}

/// One history entry's key: position numbers are inverted so a forward scan
/// yields the newest version first.
pub(crate) fn history_key(prefix: &[u8], height: u64, tx_index: u32, seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 16);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&(u64::MAX - height).to_be_bytes());
    out.extend_from_slice(&(u32::MAX - tx_index).to_be_bytes());
    out.extend_from_slice(&(u32::MAX - seq).to_be_bytes());
    out
}

/// The height in a history key (the 16 bytes at its end).
fn history_height(key: &[u8]) -> Result<u64> {
    let start = key.len().checked_sub(16).ok_or_else(|| Error::Corrupt("history key is too short".into()))?;
    let mut b = Bytes::new("history key", &key[start..]);
    Ok(u64::MAX - b.u64()?)
}

pub(crate) fn history_value(tx_id: &Hash, timestamp_ms: u64, value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(41 + value.map_or(0, <[u8]>::len));
    out.extend_from_slice(&tx_id.0);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(v);
        }
    }
    out
}

pub(crate) fn decode_history(key: &[u8], value: &[u8]) -> Result<HistoryEntry> {
    let height = history_height(key)?;
    let mut b = Bytes::new("history", value);
    let tx_id = b.hash()?;
    let timestamp_ms = b.u64()?;
    let value = match b.take(1)? {
        [0] => {
            b.finish()?;
            None
        }
        [1] => Some(HexValue(b.rest.to_vec())),
        _ => return Err(Error::Corrupt("history entry has a bad value tag".into())),
    };
    Ok(HistoryEntry { height, tx_id, timestamp_ms, value })
}

/// The smallest key above every key starting with `prefix`; `None` if there
/// is none (the prefix is all `0xff`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_reject_bad_bytes() {
        let e = BlockEntry {
            loc: Location { file: 3, offset: 99, len: 7 },
            id: Hash([1; 32]),
            state_root: Hash([2; 32]),
        };
        assert_eq!(BlockEntry::decode(&e.encode()).unwrap(), e);
        assert!(BlockEntry::decode(&e.encode()[..79]).is_err());

        let t = TxEntry { height: 5, index: 2, file: 1, offset: 1000, len: 300 };
        let bytes = t.encode_with(b"receipt");
        assert_eq!(TxEntry::decode(&bytes).unwrap(), (t, b"receipt".as_slice()));
        assert!(TxEntry::decode(&bytes[..20]).is_err());

        let tip = TipEntry {
            tip: Tip { height: 9, block_id: Hash([3; 32]), state_root: Hash([4; 32]), timestamp_ms: 77 },
            file: 2,
            end: 4096,
        };
        assert_eq!(TipEntry::decode(&tip.encode()).unwrap(), tip);
        assert!(TipEntry::decode(&[0; 10]).is_err());
    }

    #[test]
    fn history_keys_sort_newest_first_and_stay_per_key() {
        let p = history_prefix("c", b"a").unwrap();
        let older = history_key(&p, 1, 5, 0);
        let newer_tx = history_key(&p, 1, 6, 0);
        let newer_seq = history_key(&p, 1, 6, 1);
        let newer_block = history_key(&p, 2, 0, 0);
        let mut keys = vec![older.clone(), newer_tx.clone(), newer_seq.clone(), newer_block.clone()];
        keys.sort();
        assert_eq!(keys, vec![newer_block, newer_seq, newer_tx, older.clone()]);
        assert!(!history_key(&history_prefix("c", b"ab").unwrap(), 1, 0, 0).starts_with(&p));
        assert_eq!(history_height(&older).unwrap(), 1);

        let v = history_value(&Hash([7; 32]), 42, Some(b"x"));
        let entry = decode_history(&older, &v).unwrap();
        assert_eq!((entry.height, entry.timestamp_ms, entry.value), (1, 42, Some(HexValue(b"x".to_vec()))));
        let del = decode_history(&older, &history_value(&Hash([7; 32]), 42, None)).unwrap();
        assert_eq!(del.value, None);
        assert!(decode_history(&older, &v[..30]).is_err());
    }

    #[test]
    fn contract_prefixes_separate_contracts() {
        assert_ne!(state_key("ab", b"c"), state_key("a", b"bc"));
        assert!(contract_prefix(&"x".repeat(256)).is_none());
        assert!(state_key("c", &vec![0; MAX_KEY_LEN + 1]).is_none());
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
