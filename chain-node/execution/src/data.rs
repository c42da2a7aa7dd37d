//! The `data` contract: the data-on-chain API (SPEC SC-2).
//!
//! Storage layout in the contract's key space:
//! - `v/<key>` holds the value of `<key>`;
//! - `o/<key>` holds the owner organization of `<key>` (UTF-8): the
//!   organization of the transaction that first put it. The owner record
//!   outlives a delete, so a key's history never mixes organizations and a
//!   deleted key cannot be taken over by another organization.
//!
//! Cost of queries: `range` reads at most `limit + 1` entries. `key_contains`
//! and the `value_*` queries walk the keys in order from `start` and test each
//! entry, so their cost grows with the number of keys walked, not with the
//! results; one call walks at most [`MAX_SCAN_KEYS`] entries or
//! [`MAX_SCAN_BYTES`] bytes and then reports `complete: false` with a
//! `next_start` to resume from. A value index is future work.

use std::ops::Bound;

use govchain_types::{
    Decode, Encode, Hash, HistoryEntry, MAX_RECIPIENT,
    encoding::{Reader, decode_list, encode_list},
};
use serde::{Deserialize, Serialize};

use crate::{
    Error, Result, json,
    native::{CallEnv, NativeContract},
};

/// Longest key, in bytes.
pub const MAX_KEY: usize = 1024;
/// Largest value, in bytes (a transaction payload is at most 1 MiB as well,
/// so in practice a value is a little smaller).
pub const MAX_VALUE: usize = 1024 * 1024;
/// Most items in one batch call.
pub const MAX_BATCH: usize = 1000;
/// Largest `limit` honoured; larger limits are lowered to it.
pub const MAX_LIMIT: u32 = 1000;
/// Most entries one key/value query walks before it stops and reports where to resume.
pub const MAX_SCAN_KEYS: usize = 10_000;
/// Most bytes (keys + values) one key/value query reads before it stops.
pub const MAX_SCAN_BYTES: usize = 64 * 1024 * 1024;

/// Entries read from storage per step of a query walk.
const PAGE: usize = 256;
const VALUE_PREFIX: &[u8] = b"v/";
/// The first key after every `v/...` key.
const VALUE_PREFIX_END: &[u8] = b"v0";
const OWNER_PREFIX: &[u8] = b"o/";
const NAME: &str = crate::DATA_CONTRACT;

fn default_limit() -> u32 {
    100
}

/// One key and value of a [`DataCall::BatchPut`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The key.
    #[serde(with = "json::bytes")]
    pub key: Vec<u8>,
    /// Its value.
    #[serde(with = "json::bytes")]
    pub value: Vec<u8>,
}

impl Encode for Entry {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.key.encode_to(out);
        self.value.encode_to(out);
    }
}

impl Decode for Entry {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        Ok(Entry { key: Vec::decode_from(r)?, value: Vec::decode_from(r)? })
    }
}

/// A call of the `data` contract: the payload (`data`) of an `Invoke`
/// transaction whose recipient is `data`.
///
/// Canonical encoding (the transaction payload): one tag byte (given per
/// variant below), then the fields in order, in `govchain-types`' canonical
/// encoding (byte strings `u32`-length-prefixed, `u32` big-endian, lists
/// `u32`-count-prefixed, options a `0`/`1` byte). JSON form (for REST
/// clients): an object with `"op"` (the variant in snake_case) and the
/// fields; byte strings as described in [`json`](crate::json); `limit`
/// defaults to 100 and `start` to empty when left out.
///
/// Limits are [`MAX_LIMIT`]-capped; `start` is inclusive and empty means the
/// first key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataCall {
    /// Tag 1: set `key` (owned by the caller's organization, or new) to `value`.
    Put {
        /// The key.
        #[serde(with = "json::bytes")]
        key: Vec<u8>,
        /// The value.
        #[serde(with = "json::bytes")]
        value: Vec<u8>,
    },
    /// Tag 2: the value and owner of `key`.
    Get {
        /// The key.
        #[serde(with = "json::bytes")]
        key: Vec<u8>,
    },
    /// Tag 3: delete `key` (owned by the caller's organization; must exist).
    Delete {
        /// The key.
        #[serde(with = "json::bytes")]
        key: Vec<u8>,
    },
    /// Tag 4: versions of `key`, newest first.
    History {
        /// The key.
        #[serde(with = "json::bytes")]
        key: Vec<u8>,
        /// Most versions returned.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 5: put every entry; all or nothing.
    BatchPut {
        /// The entries, applied in order.
        entries: Vec<Entry>,
    },
    /// Tag 6: get every key.
    BatchGet {
        /// The keys.
        #[serde(with = "json::bytes_list")]
        keys: Vec<Vec<u8>>,
    },
    /// Tag 7: delete every key; all or nothing.
    BatchDelete {
        /// The keys.
        #[serde(with = "json::bytes_list")]
        keys: Vec<Vec<u8>>,
    },
    /// Tag 8: history of every key.
    BatchHistory {
        /// The keys.
        #[serde(with = "json::bytes_list")]
        keys: Vec<Vec<u8>>,
        /// Most versions returned per key.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 9: the entry whose key is exactly `key`, if any.
    KeyExact {
        /// The key.
        #[serde(with = "json::bytes")]
        key: Vec<u8>,
    },
    /// Tag 10: entries whose key contains `needle`, in key order from `start`.
    KeyContains {
        /// Bytes the key must contain.
        #[serde(with = "json::bytes")]
        needle: Vec<u8>,
        /// First key to look at (inclusive); empty = the first key.
        #[serde(default, with = "json::bytes")]
        start: Vec<u8>,
        /// Most entries returned.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 11: the entries whose keys are exactly the given keys (missing keys are skipped).
    KeyBatchExact {
        /// The keys.
        #[serde(with = "json::bytes_list")]
        keys: Vec<Vec<u8>>,
    },
    /// Tag 12: entries whose value equals `value`, in key order from `start`.
    ValueExact {
        /// The value.
        #[serde(with = "json::bytes")]
        value: Vec<u8>,
        /// First key to look at (inclusive); empty = the first key.
        #[serde(default, with = "json::bytes")]
        start: Vec<u8>,
        /// Most entries returned.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 13: entries whose value contains `needle`, in key order from `start`.
    ValueContains {
        /// Bytes the value must contain.
        #[serde(with = "json::bytes")]
        needle: Vec<u8>,
        /// First key to look at (inclusive); empty = the first key.
        #[serde(default, with = "json::bytes")]
        start: Vec<u8>,
        /// Most entries returned.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 14: entries whose value equals any of `values`, in key order from `start`.
    ValueBatchExact {
        /// The values.
        #[serde(with = "json::bytes_list")]
        values: Vec<Vec<u8>>,
        /// First key to look at (inclusive); empty = the first key.
        #[serde(default, with = "json::bytes")]
        start: Vec<u8>,
        /// Most entries returned.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 15: entries with `start <= key < end`, ascending.
    Range {
        /// First key (inclusive); empty = the first key.
        #[serde(default, with = "json::bytes")]
        start: Vec<u8>,
        /// End key (exclusive); `None`/`null` = up to the last key.
        #[serde(default, with = "json::opt_bytes")]
        end: Option<Vec<u8>>,
        /// Most entries returned.
        #[serde(default = "default_limit")]
        limit: u32,
    },
    /// Tag 16: call another contract with this transaction's context; its
    /// writes and events join this transaction's.
    Call {
        /// Name of the contract.
        contract: String,
        /// Its payload.
        #[serde(with = "json::bytes")]
        data: Vec<u8>,
    },
}

impl DataCall {
    /// The operation name, also the name of the event a read emits.
    pub fn op(&self) -> &'static str {
        match self {
            DataCall::Put { .. } => "put",
            DataCall::Get { .. } => "get",
            DataCall::Delete { .. } => "delete",
            DataCall::History { .. } => "history",
            DataCall::BatchPut { .. } => "batch_put",
            DataCall::BatchGet { .. } => "batch_get",
            DataCall::BatchDelete { .. } => "batch_delete",
            DataCall::BatchHistory { .. } => "batch_history",
            DataCall::KeyExact { .. } => "key_exact",
            DataCall::KeyContains { .. } => "key_contains",
            DataCall::KeyBatchExact { .. } => "key_batch_exact",
            DataCall::ValueExact { .. } => "value_exact",
            DataCall::ValueContains { .. } => "value_contains",
            DataCall::ValueBatchExact { .. } => "value_batch_exact",
            DataCall::Range { .. } => "range",
            DataCall::Call { .. } => "call",
        }
    }

    fn tag(&self) -> u8 {
        match self {
            DataCall::Put { .. } => 1,
            DataCall::Get { .. } => 2,
            DataCall::Delete { .. } => 3,
            DataCall::History { .. } => 4,
            DataCall::BatchPut { .. } => 5,
            DataCall::BatchGet { .. } => 6,
            DataCall::BatchDelete { .. } => 7,
            DataCall::BatchHistory { .. } => 8,
            DataCall::KeyExact { .. } => 9,
            DataCall::KeyContains { .. } => 10,
            DataCall::KeyBatchExact { .. } => 11,
            DataCall::ValueExact { .. } => 12,
            DataCall::ValueContains { .. } => 13,
            DataCall::ValueBatchExact { .. } => 14,
            DataCall::Range { .. } => 15,
            DataCall::Call { .. } => 16,
        }
    }
}

impl Encode for DataCall {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            DataCall::Put { key, value } => {
                key.encode_to(out);
                value.encode_to(out);
            }
            DataCall::Get { key } | DataCall::Delete { key } | DataCall::KeyExact { key } => {
                key.encode_to(out)
            }
            DataCall::History { key, limit } => {
                key.encode_to(out);
                limit.encode_to(out);
            }
            DataCall::BatchPut { entries } => encode_list(entries, out),
            DataCall::BatchGet { keys }
            | DataCall::BatchDelete { keys }
            | DataCall::KeyBatchExact { keys } => encode_list(keys, out),
            DataCall::BatchHistory { keys, limit } => {
                encode_list(keys, out);
                limit.encode_to(out);
            }
            DataCall::KeyContains { needle: bytes, start, limit }
            | DataCall::ValueExact { value: bytes, start, limit }
            | DataCall::ValueContains { needle: bytes, start, limit } => {
                bytes.encode_to(out);
                start.encode_to(out);
                limit.encode_to(out);
            }
            DataCall::ValueBatchExact { values, start, limit } => {
                encode_list(values, out);
                start.encode_to(out);
                limit.encode_to(out);
            }
            DataCall::Range { start, end, limit } => {
                start.encode_to(out);
                end.encode_to(out);
                limit.encode_to(out);
            }
            DataCall::Call { contract, data } => {
                contract.encode_to(out);
                data.encode_to(out);
            }
        }
    }
}

impl Decode for DataCall {
    fn decode_from(r: &mut Reader<'_>) -> govchain_types::Result<Self> {
        let bytes = |r: &mut Reader<'_>| Vec::<u8>::decode_from(r);
        Ok(match u8::decode_from(r)? {
            1 => DataCall::Put { key: bytes(r)?, value: bytes(r)? },
            2 => DataCall::Get { key: bytes(r)? },
            3 => DataCall::Delete { key: bytes(r)? },
            4 => DataCall::History { key: bytes(r)?, limit: u32::decode_from(r)? },
            5 => DataCall::BatchPut { entries: decode_list(r)? },
            6 => DataCall::BatchGet { keys: decode_list(r)? },
            7 => DataCall::BatchDelete { keys: decode_list(r)? },
            8 => DataCall::BatchHistory { keys: decode_list(r)?, limit: u32::decode_from(r)? },
            9 => DataCall::KeyExact { key: bytes(r)? },
            10 => DataCall::KeyContains { needle: bytes(r)?, start: bytes(r)?, limit: u32::decode_from(r)? },
            11 => DataCall::KeyBatchExact { keys: decode_list(r)? },
            12 => DataCall::ValueExact { value: bytes(r)?, start: bytes(r)?, limit: u32::decode_from(r)? },
            13 => {
                DataCall::ValueContains { needle: bytes(r)?, start: bytes(r)?, limit: u32::decode_from(r)? }
            }
            14 => DataCall::ValueBatchExact {
                values: decode_list(r)?,
                start: bytes(r)?,
                limit: u32::decode_from(r)?,
            },
            15 => DataCall::Range {
                start: bytes(r)?,
                end: Option::decode_from(r)?,
                limit: u32::decode_from(r)?,
            },
            16 => DataCall::Call { contract: String::decode_from(r)?, data: bytes(r)? },
            tag => return Err(govchain_types::Error::InvalidTag { what: "data call", tag }),
        })
    }
}

// ---- JSON outputs -------------------------------------------------------

#[derive(Serialize)]
struct KeyJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
}

impl KeyJson {
    fn new(key: &[u8]) -> Self {
        let (key, key_hex) = json::bytes_out(key);
        KeyJson { key, key_hex }
    }
}

#[derive(Serialize)]
struct ValueJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
}

impl ValueJson {
    fn new(value: &[u8]) -> Self {
        let (value, value_hex) = json::bytes_out(value);
        ValueJson { value, value_hex }
    }
}

#[derive(Serialize)]
struct PutOut {
    #[serde(flatten)]
    key: KeyJson,
    owner: String,
    /// The key had no value before this put.
    created: bool,
    size: usize,
}

#[derive(Serialize)]
struct PutEvent<'a> {
    #[serde(flatten)]
    key: KeyJson,
    #[serde(flatten)]
    value: ValueJson,
    owner: &'a str,
    created: bool,
}

#[derive(Serialize)]
struct GetOut {
    #[serde(flatten)]
    key: KeyJson,
    found: bool,
    #[serde(flatten)]
    value: Option<ValueJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
}

#[derive(Serialize)]
struct DeleteOut {
    #[serde(flatten)]
    key: KeyJson,
    owner: String,
}

#[derive(Serialize)]
struct VersionJson {
    height: u64,
    tx_id: Hash,
    timestamp_ms: u64,
    deleted: bool,
    #[serde(flatten)]
    value: Option<ValueJson>,
}

#[derive(Serialize)]
struct HistoryOut {
    #[serde(flatten)]
    key: KeyJson,
    entries: Vec<VersionJson>,
}

#[derive(Serialize)]
struct ResultsOut<T> {
    count: usize,
    results: Vec<T>,
}

#[derive(Serialize)]
struct EntryJson {
    #[serde(flatten)]
    key: KeyJson,
    #[serde(flatten)]
    value: ValueJson,
}

#[derive(Serialize)]
struct NextJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_start_hex: Option<String>,
}

#[derive(Serialize)]
struct QueryOut {
    count: usize,
    entries: Vec<EntryJson>,
    /// Entries read to answer.
    scanned: usize,
    /// Every key in the range was looked at; `false` means more may follow
    /// from `next_start`.
    complete: bool,
    #[serde(flatten)]
    next: Option<NextJson>,
}

#[derive(Serialize)]
struct ReadEvent<'a> {
    org: &'a str,
    call: &'a DataCall,
    /// Entries found.
    count: usize,
}

#[derive(Serialize)]
struct CallEvent<'a> {
    org: &'a str,
    contract: &'a str,
    depth: usize,
}

#[derive(Serialize)]
struct CallOut<'a> {
    contract: &'a str,
    /// The callee's output when it is JSON, embedded byte for byte (not
    /// re-serialized, so the receipt cannot depend on serde_json's map order).
    output: Option<Box<serde_json::value::RawValue>>,
    /// The callee's output as hex, when it is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    output_hex: Option<String>,
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    // Serializing these plain structs cannot fail (no maps with non-string
    // keys, no failing Serialize impls); map the error anyway, never panic.
    serde_json::to_vec(value).map_err(|e| Error::InvalidArgument(format!("cannot render output: {e}")))
}

// ---- the contract -------------------------------------------------------

/// The `data` contract (see [`DataCall`] and the crate docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct DataContract;

impl DataContract {
    /// Where the contract stores the value of a user's `key` (what state
    /// and history queries on the node must look up).
    pub fn value_key(key: &[u8]) -> Vec<u8> {
        value_key(key)
    }

    /// Where the contract stores the owner organization of `key`.
    pub fn owner_key(key: &[u8]) -> Vec<u8> {
        owner_key(key)
    }
}

fn value_key(key: &[u8]) -> Vec<u8> {
    [VALUE_PREFIX, key].concat()
}

fn owner_key(key: &[u8]) -> Vec<u8> {
    [OWNER_PREFIX, key].concat()
}

fn shown(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(t) if t.len() <= 80 => format!("`{t}`"),
        Ok(t) => format!("`{}...`", t.chars().take(64).collect::<String>()),
        Err(_) if bytes.len() <= 40 => format!("0x{}", hex::encode(bytes)),
        Err(_) => format!("0x{}...", hex::encode(&bytes[..32])),
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(invalid(format!("a key must be 1 to {MAX_KEY} bytes, got {}", key.len())));
    }
    Ok(())
}

fn check_keys(keys: &[Vec<u8>]) -> Result<()> {
    check_batch(keys.len())?;
    keys.iter().try_for_each(|k| check_key(k))
}

fn check_value(what: &str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE {
        return Err(invalid(format!("{what} is {} bytes, the limit is {MAX_VALUE} (1 MiB)", value.len())));
    }
    Ok(())
}

fn check_start(start: &[u8]) -> Result<()> {
    // One byte more than a key: a resume point is the last key plus 0x00.
    if start.len() > MAX_KEY + 1 {
        return Err(invalid(format!("start must be at most {} bytes, got {}", MAX_KEY + 1, start.len())));
    }
    Ok(())
}

fn check_batch(n: usize) -> Result<()> {
    if n == 0 || n > MAX_BATCH {
        return Err(invalid(format!("a batch must hold 1 to {MAX_BATCH} items, got {n}")));
    }
    Ok(())
}

fn limit(limit: u32) -> Result<usize> {
    if limit == 0 {
        return Err(invalid("limit must be at least 1".to_owned()));
    }
    Ok(limit.min(MAX_LIMIT) as usize)
}

/// What a query walk tests each entry with.
enum Matcher<'a> {
    KeyContains(memchr::memmem::Finder<'a>),
    ValueExact(&'a [u8]),
    ValueContains(memchr::memmem::Finder<'a>),
    ValueIn(&'a std::collections::BTreeSet<&'a [u8]>),
}

impl Matcher<'_> {
    fn matches(&self, key: &[u8], value: &[u8]) -> bool {
        match self {
            Matcher::KeyContains(f) => f.find(key).is_some(),
            Matcher::ValueExact(v) => value == *v,
            Matcher::ValueContains(f) => f.find(value).is_some(),
            Matcher::ValueIn(set) => set.contains(value),
        }
    }
}

impl DataContract {
    fn owner(env: &CallEnv<'_>, key: &[u8]) -> Result<Option<String>> {
        Ok(env.get(&owner_key(key))?.map(|o| String::from_utf8_lossy(&o).into_owned()))
    }

    /// Checks that the caller's organization may change `key`; returns the
    /// current owner (`None` for a key never put).
    fn check_owner(env: &CallEnv<'_>, key: &[u8]) -> Result<Option<String>> {
        let owner = Self::owner(env, key)?;
        match &owner {
            Some(o) if *o != env.ctx().org => Err(Error::PermissionDenied(format!(
                "key {} belongs to organization `{o}`; a transaction may change its own organization's data only (caller is `{}`)",
                shown(key),
                env.ctx().org
            ))),
            _ => Ok(owner),
        }
    }

    fn put(env: &mut CallEnv<'_>, key: &[u8], value: &[u8]) -> Result<PutOut> {
        let owner = Self::check_owner(env, key)?;
        let org = env.ctx().org.clone();
        if owner.is_none() {
            env.put(&owner_key(key), org.as_bytes())?;
        }
        let created = env.get(&value_key(key))?.is_none();
        env.put(&value_key(key), value)?;
        let event = PutEvent { key: KeyJson::new(key), value: ValueJson::new(value), owner: &org, created };
        env.emit("put", to_json(&event)?);
        Ok(PutOut { key: KeyJson::new(key), owner: org, created, size: value.len() })
    }

    fn delete(env: &mut CallEnv<'_>, key: &[u8]) -> Result<DeleteOut> {
        let owner = Self::check_owner(env, key)?;
        let Some(owner) = owner else {
            return Err(Error::NotFound(format!("key {} has no value to delete", shown(key))));
        };
        if env.get(&value_key(key))?.is_none() {
            return Err(Error::NotFound(format!("key {} has no value to delete", shown(key))));
        }
        env.delete(&value_key(key))?;
        let out = DeleteOut { key: KeyJson::new(key), owner };
        env.emit("delete", to_json(&out)?);
        Ok(out)
    }

    fn get(env: &CallEnv<'_>, key: &[u8]) -> Result<GetOut> {
        let value = env.get(&value_key(key))?;
        let owner = match value {
            Some(_) => Self::owner(env, key)?,
            None => None,
        };
        Ok(GetOut {
            key: KeyJson::new(key),
            found: value.is_some(),
            value: value.as_deref().map(ValueJson::new),
            owner,
        })
    }

    fn history(env: &CallEnv<'_>, key: &[u8], limit: usize) -> Result<HistoryOut> {
        let entries = env
            .history(&value_key(key), limit)?
            .into_iter()
            .map(|e: HistoryEntry| VersionJson {
                height: e.height,
                tx_id: e.tx_id,
                timestamp_ms: e.timestamp_ms,
                deleted: e.value.is_none(),
                value: e.value.as_ref().map(|v| ValueJson::new(&v.0)),
            })
            .collect();
        Ok(HistoryOut { key: KeyJson::new(key), entries })
    }

    /// Walks entries in key order from `start` to the end of the key space,
    /// keeping those `matcher` accepts, within the limit and the scan budget.
    fn walk(env: &CallEnv<'_>, start: &[u8], limit: usize, matcher: &Matcher<'_>) -> Result<QueryOut> {
        let mut cursor = value_key(start);
        let mut inclusive = true;
        let mut entries = Vec::new();
        let (mut scanned, mut bytes) = (0usize, 0usize);
        let mut last: Option<Vec<u8>> = None;
        let complete = 'walk: loop {
            let lower = if inclusive { Bound::Included(&cursor[..]) } else { Bound::Excluded(&cursor[..]) };
            let want = PAGE.min(MAX_SCAN_KEYS - scanned);
            let page = env.scan(lower, Bound::Excluded(VALUE_PREFIX_END), want)?;
            let exhausted = page.len() < want;
            let n = page.len();
            for (i, (skey, value)) in page.into_iter().enumerate() {
                scanned += 1;
                bytes += skey.len() + value.len();
                let key = &skey[VALUE_PREFIX.len()..];
                if matcher.matches(key, &value) {
                    entries.push(EntryJson { key: KeyJson::new(key), value: ValueJson::new(&value) });
                }
                let done = entries.len() >= limit || scanned >= MAX_SCAN_KEYS || bytes >= MAX_SCAN_BYTES;
                last = Some(skey);
                if done {
                    break 'walk exhausted && i + 1 == n;
                }
            }
            if exhausted {
                break true;
            }
            match &last {
                Some(k) => {
                    cursor.clone_from(k);
                    inclusive = false;
                }
                None => break true,
            }
        };
        let next = match (&last, complete) {
            (Some(k), false) => {
                let mut next = k[VALUE_PREFIX.len()..].to_vec();
                next.push(0);
                let (next_start, next_start_hex) = json::bytes_out(&next);
                Some(NextJson { next_start, next_start_hex })
            }
            _ => None,
        };
        Ok(QueryOut { count: entries.len(), entries, scanned, complete, next })
    }

    fn range(env: &CallEnv<'_>, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<QueryOut> {
        let lower = value_key(start);
        let upper = end.map_or_else(|| VALUE_PREFIX_END.to_vec(), value_key);
        // One entry more than asked tells whether the range goes on.
        let mut page = env.scan(Bound::Included(&lower), Bound::Excluded(&upper), limit + 1)?;
        let complete = page.len() <= limit;
        page.truncate(limit);
        let next = match (complete, page.last()) {
            (false, Some((k, _))) => {
                let mut next = k[VALUE_PREFIX.len()..].to_vec();
                next.push(0);
                let (next_start, next_start_hex) = json::bytes_out(&next);
                Some(NextJson { next_start, next_start_hex })
            }
            _ => None,
        };
        let entries: Vec<EntryJson> = page
            .iter()
            .map(|(k, v)| EntryJson { key: KeyJson::new(&k[VALUE_PREFIX.len()..]), value: ValueJson::new(v) })
            .collect();
        Ok(QueryOut { count: entries.len(), scanned: entries.len(), entries, complete, next })
    }

    fn exact(env: &CallEnv<'_>, keys: &[Vec<u8>]) -> Result<QueryOut> {
        let mut entries = Vec::new();
        for key in keys {
            if let Some(value) = env.get(&value_key(key))? {
                entries.push(EntryJson { key: KeyJson::new(key), value: ValueJson::new(&value) });
            }
        }
        Ok(QueryOut { count: entries.len(), entries, scanned: keys.len(), complete: true, next: None })
    }

    fn read_event(env: &mut CallEnv<'_>, call: &DataCall, count: usize) -> Result<()> {
        let data = to_json(&ReadEvent { org: &env.ctx().org, call, count })?;
        env.emit(call.op(), data);
        Ok(())
    }

    fn dispatch(env: &mut CallEnv<'_>, call: &DataCall) -> Result<Vec<u8>> {
        match call {
            DataCall::Put { key, value } => {
                check_key(key)?;
                check_value("value", value)?;
                to_json(&Self::put(env, key, value)?)
            }
            DataCall::Get { key } => {
                check_key(key)?;
                let out = Self::get(env, key)?;
                Self::read_event(env, call, usize::from(out.found))?;
                to_json(&out)
            }
            DataCall::Delete { key } => {
                check_key(key)?;
                to_json(&Self::delete(env, key)?)
            }
            DataCall::History { key, limit: l } => {
                check_key(key)?;
                let out = Self::history(env, key, limit(*l)?)?;
                Self::read_event(env, call, out.entries.len())?;
                to_json(&out)
            }
            DataCall::BatchPut { entries } => {
                check_batch(entries.len())?;
                for e in entries {
                    check_key(&e.key)?;
                    check_value("value", &e.value)?;
                }
                let results =
                    entries.iter().map(|e| Self::put(env, &e.key, &e.value)).collect::<Result<Vec<_>>>()?;
                to_json(&ResultsOut { count: results.len(), results })
            }
            DataCall::BatchGet { keys } => {
                check_keys(keys)?;
                let results = keys.iter().map(|k| Self::get(env, k)).collect::<Result<Vec<_>>>()?;
                let found = results.iter().filter(|r| r.found).count();
                Self::read_event(env, call, found)?;
                to_json(&ResultsOut { count: results.len(), results })
            }
            DataCall::BatchDelete { keys } => {
                check_keys(keys)?;
                let results = keys.iter().map(|k| Self::delete(env, k)).collect::<Result<Vec<_>>>()?;
                to_json(&ResultsOut { count: results.len(), results })
            }
            DataCall::BatchHistory { keys, limit: l } => {
                check_keys(keys)?;
                let l = limit(*l)?;
                let results = keys.iter().map(|k| Self::history(env, k, l)).collect::<Result<Vec<_>>>()?;
                let versions = results.iter().map(|r| r.entries.len()).sum();
                Self::read_event(env, call, versions)?;
                to_json(&ResultsOut { count: results.len(), results })
            }
            DataCall::KeyExact { key } => {
                check_key(key)?;
                let out = Self::exact(env, std::slice::from_ref(key))?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::KeyBatchExact { keys } => {
                check_keys(keys)?;
                let out = Self::exact(env, keys)?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::KeyContains { needle, start, limit: l } => {
                if needle.len() > MAX_KEY {
                    return Err(invalid(format!(
                        "a key needle must be at most {MAX_KEY} bytes, got {}",
                        needle.len()
                    )));
                }
                check_start(start)?;
                let out = Self::walk(
                    env,
                    start,
                    limit(*l)?,
                    &Matcher::KeyContains(memchr::memmem::Finder::new(needle)),
                )?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::ValueExact { value, start, limit: l } => {
                check_value("value", value)?;
                check_start(start)?;
                let out = Self::walk(env, start, limit(*l)?, &Matcher::ValueExact(value))?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::ValueContains { needle, start, limit: l } => {
                check_value("needle", needle)?;
                check_start(start)?;
                let out = Self::walk(
                    env,
                    start,
                    limit(*l)?,
                    &Matcher::ValueContains(memchr::memmem::Finder::new(needle)),
                )?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::ValueBatchExact { values, start, limit: l } => {
                check_batch(values.len())?;
                for v in values {
                    check_value("value", v)?;
                }
                check_start(start)?;
                let set: std::collections::BTreeSet<&[u8]> = values.iter().map(Vec::as_slice).collect();
                let out = Self::walk(env, start, limit(*l)?, &Matcher::ValueIn(&set))?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::Range { start, end, limit: l } => {
                check_start(start)?;
                if let Some(end) = end {
                    check_start(end)?;
                }
                let out = Self::range(env, start, end.as_deref(), limit(*l)?)?;
                Self::read_event(env, call, out.count)?;
                to_json(&out)
            }
            DataCall::Call { contract, data } => {
                if contract.len() > MAX_RECIPIENT {
                    return Err(invalid(format!(
                        "a contract name must be at most {MAX_RECIPIENT} bytes, got {}",
                        contract.len()
                    )));
                }
                let event = to_json(&CallEvent { org: &env.ctx().org, contract, depth: env.depth() + 1 })?;
                env.emit("call", event);
                let output = env.call(contract, data)?;
                let parsed = String::from_utf8(output.clone())
                    .ok()
                    .and_then(|t| serde_json::value::RawValue::from_string(t).ok());
                let output_hex = if parsed.is_none() { Some(hex::encode(&output)) } else { None };
                to_json(&CallOut { contract, output: parsed, output_hex })
            }
        }
    }
}

impl NativeContract for DataContract {
    fn name(&self) -> &str {
        NAME
    }

    fn call(&self, env: &mut CallEnv<'_>, data: &[u8]) -> Result<Vec<u8>> {
        let call = DataCall::decode(data)
            .map_err(|e| Error::InvalidPayload { contract: NAME.to_owned(), reason: e.to_string() })?;
        Self::dispatch(env, &call)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn samples() -> Vec<DataCall> {
        let k = b"k".to_vec();
        vec![
            DataCall::Put { key: k.clone(), value: vec![0xff, 0] },
            DataCall::Get { key: k.clone() },
            DataCall::Delete { key: k.clone() },
            DataCall::History { key: k.clone(), limit: 3 },
            DataCall::BatchPut { entries: vec![Entry { key: k.clone(), value: b"v".to_vec() }] },
            DataCall::BatchGet { keys: vec![k.clone(), b"j".to_vec()] },
            DataCall::BatchDelete { keys: vec![k.clone()] },
            DataCall::BatchHistory { keys: vec![k.clone()], limit: 2 },
            DataCall::KeyExact { key: k.clone() },
            DataCall::KeyContains { needle: b"e".to_vec(), start: Vec::new(), limit: 9 },
            DataCall::KeyBatchExact { keys: vec![k.clone()] },
            DataCall::ValueExact { value: b"v".to_vec(), start: b"a".to_vec(), limit: 1 },
            DataCall::ValueContains { needle: b"v".to_vec(), start: Vec::new(), limit: 1 },
            DataCall::ValueBatchExact { values: vec![b"v".to_vec()], start: Vec::new(), limit: 1 },
            DataCall::Range { start: b"a".to_vec(), end: Some(b"z".to_vec()), limit: 5 },
            DataCall::Range { start: Vec::new(), end: None, limit: 5 },
            DataCall::Call { contract: "evidence".into(), data: vec![1, 2, 3] },
        ]
    }

    #[test]
    fn every_call_round_trips_through_both_encodings() {
        for call in samples() {
            let bytes = call.encode();
            assert_eq!(DataCall::decode(&bytes).unwrap(), call);
            let json = serde_json::to_string(&call).unwrap();
            assert_eq!(serde_json::from_str::<DataCall>(&json).unwrap(), call, "{json}");
            assert!(json.contains(&format!("\"op\":\"{}\"", call.op())), "{json}");
        }
    }

    #[test]
    fn canonical_encoding_is_the_documented_layout() {
        let bytes = DataCall::History { key: b"ab".to_vec(), limit: 7 }.encode();
        assert_eq!(bytes, vec![4, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 7]);
        assert!(DataCall::decode(&[0]).is_err());
        assert!(DataCall::decode(&[17]).is_err());
        assert!(DataCall::decode(&[2, 0, 0, 0, 1, b'k', 9]).is_err(), "trailing byte");
    }

    #[test]
    fn json_defaults_and_unknown_fields() {
        let c: DataCall = serde_json::from_str(r#"{"op":"range"}"#).unwrap();
        assert_eq!(c, DataCall::Range { start: Vec::new(), end: None, limit: 100 });
        let c: DataCall = serde_json::from_str(r#"{"op":"put","key":"a","value":{"hex":"00ff"}}"#).unwrap();
        assert_eq!(c, DataCall::Put { key: b"a".to_vec(), value: vec![0, 0xff] });
        assert!(serde_json::from_str::<DataCall>(r#"{"op":"get","key":"a","bogus":1}"#).is_err());
        assert!(serde_json::from_str::<DataCall>(r#"{"op":"explode"}"#).is_err());
    }

    #[test]
    fn shown_keys_are_bounded() {
        assert_eq!(shown(b"abc"), "`abc`");
        assert_eq!(shown(&[0xff]), "0xff");
        assert!(shown(&[0xff; 100]).len() < 80);
        assert!(shown("é".repeat(300).as_bytes()).len() < 200);
    }
}
