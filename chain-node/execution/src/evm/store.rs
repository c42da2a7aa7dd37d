//! Contract state in the ledger's state store: the key layout of the `evm`
//! key space, the EVM's view of it, and how an executed
//! transaction's state changes become writes.
//!
//! Keys of the `evm` key space:
//!
//! | key | value |
//! |-----|-------|
//! | `a` ‖ address (20) | account: nonce (`u64` BE) ‖ balance (32, BE) ‖ code hash (32) |
//! | `c` ‖ code hash (32) | the contract code, as deployed |
//! | `s` ‖ address (20) ‖ slot (32, BE) | the slot's value (32, BE); zero slots are deleted |
//!
//! Accounts that are empty in the EIP-161 sense (nonce 0, balance 0, no
//! code) are not stored. Code is stored once per hash and never deleted.

use std::ops::Bound;

use revm::{
    Database,
    bytecode::Bytecode,
    database_interface::DBErrorMarker,
    primitives::{Address, B256, KECCAK_EMPTY, StorageKey, StorageValue, U256},
    state::{Account, AccountInfo, EvmState},
};

use super::NAMESPACE;
use crate::{Error, Result, TxEnv, state::StateView};

const ACCOUNT: u8 = b'a';
const CODE: u8 = b'c';
const SLOT: u8 = b's';
const ACCOUNT_LEN: usize = 8 + 32 + 32;
/// Storage keys deleted per scan when an account's storage is wiped.
const WIPE_BATCH: usize = 256;

/// An account as stored in the `evm` key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvmAccount {
    /// Number of successful EVM transactions the account sent plus
    /// contracts it created (1 for a contract at creation, per EIP-161).
    pub nonce: u64,
    /// Balance, 32 bytes big-endian. Always zero on a chain without a
    /// native currency; kept so the record has the EVM's full shape.
    pub balance: [u8; 32],
    /// Keccak-256 of the account's code (the hash of no code for accounts
    /// without code).
    pub code_hash: [u8; 32],
}

impl EvmAccount {
    pub(crate) fn encode(&self) -> [u8; ACCOUNT_LEN] {
        let mut out = [0u8; ACCOUNT_LEN];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.balance);
        out[40..].copy_from_slice(&self.code_hash);
        out
    }

    fn decode(address: &Address, bytes: &[u8]) -> Result<Self> {
        let corrupt = || corrupt(format!("account record of {address} has {} bytes", bytes.len()));
        let bytes: &[u8; ACCOUNT_LEN] = bytes.try_into().map_err(|_| corrupt())?;
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&bytes[..8]);
        let mut balance = [0u8; 32];
        balance.copy_from_slice(&bytes[8..40]);
        let mut code_hash = [0u8; 32];
        code_hash.copy_from_slice(&bytes[40..]);
        Ok(EvmAccount { nonce: u64::from_be_bytes(nonce), balance, code_hash })
    }

    fn from_info(info: &AccountInfo) -> Self {
        EvmAccount { nonce: info.nonce, balance: info.balance.to_be_bytes(), code_hash: info.code_hash.0 }
    }

    /// Whether the account has code.
    pub fn has_code(&self) -> bool {
        self.code_hash != KECCAK_EMPTY.0
    }
}

/// Key of an account record.
pub fn account_key(address: &[u8; 20]) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = ACCOUNT;
    k[1..].copy_from_slice(address);
    k
}

/// Key of a code blob.
pub fn code_key(hash: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = CODE;
    k[1..].copy_from_slice(hash);
    k
}

/// Key of a storage slot.
pub fn slot_key(address: &[u8; 20], slot: &[u8; 32]) -> [u8; 53] {
    let mut k = [0u8; 53];
    k[0] = SLOT;
    k[1..21].copy_from_slice(address);
    k[21..].copy_from_slice(slot);
    k
}

fn slot_prefix(address: &[u8; 20]) -> [u8; 21] {
    let mut k = [0u8; 21];
    k[0] = SLOT;
    k[1..].copy_from_slice(address);
    k
}

/// The first key after every key starting with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn corrupt(what: String) -> Error {
    Error::storage(Corrupt(what))
}

/// A record of the `evm` key space that this engine could not have written.
#[derive(Debug, thiserror::Error)]
#[error("corrupt EVM state: {0}")]
struct Corrupt(String);

/// The account at `address`, if it is stored.
pub fn read_account(view: &dyn StateView, address: &[u8; 20]) -> Result<Option<EvmAccount>> {
    view.get(NAMESPACE, &account_key(address))?
        .map(|bytes| EvmAccount::decode(&Address::from(*address), &bytes))
        .transpose()
}

/// The code of the account at `address` (empty when it has none).
pub fn read_code(view: &dyn StateView, address: &[u8; 20]) -> Result<Vec<u8>> {
    match read_account(view, address)? {
        Some(account) if account.has_code() => code_by_hash(view, &account.code_hash),
        _ => Ok(Vec::new()),
    }
}

/// The value of storage `slot` of the account at `address` (zero when unset).
pub fn read_storage(view: &dyn StateView, address: &[u8; 20], slot: &[u8; 32]) -> Result<[u8; 32]> {
    let value = view.get(NAMESPACE, &slot_key(address, slot))?;
    value.map_or(Ok([0; 32]), |v| {
        <[u8; 32]>::try_from(v.as_slice()).map_err(|_| {
            corrupt(format!("storage slot of {} has {} bytes", Address::from(*address), v.len()))
        })
    })
}

fn code_by_hash(view: &dyn StateView, hash: &[u8; 32]) -> Result<Vec<u8>> {
    view.get(NAMESPACE, &code_key(hash))?
        .ok_or_else(|| corrupt(format!("code {} is missing", B256::from(*hash))))
}

/// A state failure seen through the EVM, handed back unchanged.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct DbError(pub(crate) Error);

impl DBErrorMarker for DbError {}

/// The EVM's view of the state: every read goes through the transaction's
/// [`TxEnv`] (committed state + the block's earlier writes + this
/// transaction's own), so the EVM sees exactly what native contracts see.
pub(crate) struct StateDb<'e, 'a> {
    pub(crate) env: &'e TxEnv<'a>,
}

impl StateDb<'_, '_> {
    fn view(&self) -> crate::state::Layered<'_> {
        self.env.view()
    }
}

impl Database for StateDb<'_, '_> {
    type Error = DbError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, DbError> {
        let view = self.view();
        let Some(account) = read_account(&view, &address.0.0).map_err(DbError)? else {
            return Ok(None);
        };
        // Code is loaded with the account: a contract's code is needed by
        // every call of it, and the EVM then never asks by hash.
        let code = if account.has_code() {
            let bytes = code_by_hash(&view, &account.code_hash).map_err(DbError)?;
            bytecode(&bytes).map_err(DbError)?
        } else {
            Bytecode::default()
        };
        Ok(Some(AccountInfo::new(
            U256::from_be_bytes(account.balance),
            account.nonce,
            B256::from(account.code_hash),
            code,
        )))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, DbError> {
        if code_hash == KECCAK_EMPTY || code_hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        let bytes = code_by_hash(&self.view(), &code_hash.0).map_err(DbError)?;
        bytecode(&bytes).map_err(DbError)
    }

    fn storage(&mut self, address: Address, index: StorageKey) -> Result<StorageValue, DbError> {
        let value = read_storage(&self.view(), &address.0.0, &index.to_be_bytes()).map_err(DbError)?;
        Ok(U256::from_be_bytes(value))
    }

    fn block_hash(&mut self, _number: u64) -> Result<B256, DbError> {
        // Block ids are not part of the state a transaction reads, and a
        // value the nodes could disagree on would split the chain:
        // `BLOCKHASH` is always zero.
        Ok(B256::ZERO)
    }
}

fn bytecode(bytes: &[u8]) -> Result<Bytecode> {
    Bytecode::new_raw_checked(bytes.to_vec().into())
        .map_err(|e| corrupt(format!("stored code does not decode: {e}")))
}

/// Writes the state changes of one successful transaction through `env`,
/// in a fixed order (accounts by address, slots by index) so every node
/// records the same writes.
pub(crate) fn commit(env: &mut TxEnv<'_>, state: EvmState) -> Result<()> {
    let mut accounts: Vec<(Address, Account)> = state.into_iter().filter(|(_, a)| a.is_touched()).collect();
    accounts.sort_unstable_by_key(|(address, _)| *address);
    for (address, account) in accounts {
        let addr = address.0.0;
        let key = account_key(&addr);
        let stored = env.get(NAMESPACE, &key)?;
        if account.is_selfdestructed() || account.is_created() {
            wipe_storage(env, &addr)?;
        }
        if account.is_selfdestructed() || account.is_empty() {
            // Destroyed, or touched but empty (EIP-161): not stored.
            if stored.is_some() {
                env.delete(NAMESPACE, &key)?;
            }
            continue;
        }
        let record = EvmAccount::from_info(&account.info);
        if record.has_code() {
            let ckey = code_key(&record.code_hash);
            if env.get(NAMESPACE, &ckey)?.is_none() {
                let code = account.info.code.as_ref().map(Bytecode::original_bytes).unwrap_or_default();
                env.put(NAMESPACE, &ckey, &code)?;
            }
        }
        let encoded = record.encode();
        if stored.as_deref() != Some(&encoded[..]) {
            env.put(NAMESPACE, &key, &encoded)?;
        }
        let mut slots: Vec<(StorageKey, StorageValue)> = account
            .storage
            .iter()
            .filter(|(_, slot)| slot.is_changed())
            .map(|(index, slot)| (*index, slot.present_value))
            .collect();
        slots.sort_unstable_by_key(|(index, _)| *index);
        for (index, value) in slots {
            let skey = slot_key(&addr, &index.to_be_bytes());
            if value.is_zero() {
                env.delete(NAMESPACE, &skey)?;
            } else {
                env.put(NAMESPACE, &skey, &value.to_be_bytes::<32>())?;
            }
        }
    }
    Ok(())
}

/// Deletes every stored slot of `address` (a destroyed account, or a
/// created one that must start with empty storage).
fn wipe_storage(env: &mut TxEnv<'_>, address: &[u8; 20]) -> Result<()> {
    let prefix = slot_prefix(address);
    let end = prefix_end(&prefix);
    let end_bound = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    loop {
        // Deleted keys vanish from the view, so each scan makes progress.
        let batch = env.scan(NAMESPACE, Bound::Included(&prefix), end_bound, WIPE_BATCH)?;
        if batch.is_empty() {
            return Ok(());
        }
        for (key, _) in batch {
            env.delete(NAMESPACE, &key)?;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_after_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn account_records_round_trip_and_refuse_other_lengths() {
        let a = EvmAccount { nonce: 7, balance: [0; 32], code_hash: [9; 32] };
        let address = Address::ZERO;
        assert_eq!(EvmAccount::decode(&address, &a.encode()).unwrap(), a);
        let err = EvmAccount::decode(&address, &a.encode()[..71]).unwrap_err();
        assert!(err.is_storage(), "{err}");
        assert!(a.has_code());
        assert!(!EvmAccount { code_hash: KECCAK_EMPTY.0, ..a }.has_code());
    }
}
