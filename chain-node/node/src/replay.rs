//! The `(sender, nonce)` rule: a pair is accepted once while its
//! transaction's timestamp is within the window the node enforces
//! ([`MAX_TX_AGE_MS`](govchain_types::MAX_TX_AGE_MS)).
//!
//! Two places apply it. At block building ([`screen`]) it is part of the
//! chain's rules and must give the same answer on every node: it reads only
//! the block, its time and the ledger's pair index (which the ledger writes
//! with each block, see [`govchain_ledger::NonceUse`]). At admission
//! ([`PendingPairs`] and the ledger) it refuses early, with a 409, a pair
//! already committed or pending on this node; that check is a courtesy to
//! clients, the block rule is the guarantee.

use std::{collections::HashMap, sync::Mutex};

use govchain_crypto::Address;
use govchain_ledger::Ledger;
use govchain_types::{Hash, MAX_TX_AGE_MS, Transaction, TxBody, TxType};

use crate::{Error, Result, node::lock};

/// Pending pairs past which the stale ones are swept out.
const MAX_PENDING_PAIRS: usize = 100_000;

/// Marks, before execution, the transactions of a block that break the
/// rule: a timestamp outside the window of the block time, or a pair used
/// by a live transaction on chain or earlier in this block. `refusals[i]`
/// belongs to `txs[i]`; a refused transaction gets `Err(message)` there
/// (and a `Failed` receipt), one already refused keeps its message.
///
/// Mirrors the ledger's index rule exactly: the first transaction in its
/// window whose pair is free uses the pair, whatever else its receipt says.
pub(crate) fn screen(
    ledger: &Ledger,
    txs: &[(Hash, Transaction)],
    block_time_ms: u64,
    refusals: &mut [std::result::Result<String, String>],
) -> Result<()> {
    let mut in_block: HashMap<(Address, u64), Hash> = HashMap::new();
    for ((id, tx), refusal) in txs.iter().zip(refusals.iter_mut()) {
        let body = &tx.body;
        if body.tx_type == TxType::Ethereum {
            // Outside the rule: an Ethereum transaction's nonce is checked
            // against its EVM account nonce when it runs (evm::ethtx).
            continue;
        }
        let refuse = |refusal: &mut std::result::Result<String, String>, message: String| {
            if refusal.is_ok() {
                *refusal = Err(message);
            }
        };
        if !body.in_time_window(block_time_ms) {
            refuse(
                refusal,
                format!(
                    "transaction timestamp {} ms is outside the window of the block time {block_time_ms} ms",
                    body.timestamp_ms
                ),
            );
            continue;
        }
        let pair = (body.sender, body.nonce);
        let used_by = match in_block.get(&pair) {
            Some(earlier) => Some(*earlier),
            None => ledger
                .nonce_use(&body.sender, body.nonce)?
                .filter(|u| u.live_at(block_time_ms))
                .map(|u| u.tx_id),
        };
        match used_by {
            Some(other) => refuse(refusal, used_message(body, other)),
            None => {
                in_block.insert(pair, *id);
            }
        }
    }
    Ok(())
}

fn used_message(body: &TxBody, other: Hash) -> String {
    format!("nonce {} of sender {} is already used by transaction {other}", body.nonce, body.sender)
}

/// The pairs of transactions admitted on this node and not yet committed.
#[derive(Debug, Default)]
pub(crate) struct PendingPairs {
    /// pair -> (transaction id, its timestamp).
    pairs: Mutex<HashMap<(Address, u64), (Hash, u64)>>,
}

impl PendingPairs {
    /// Refuses `body` if another pending transaction holds its pair;
    /// otherwise holds the pair for `id` until [`PendingPairs::release`].
    /// (Committed pairs: [`PendingPairs::committed`].)
    pub(crate) fn admit(&self, body: &TxBody, id: Hash, now_ms: u64) -> Result<()> {
        let mut pairs = lock(&self.pairs);
        if pairs.len() >= MAX_PENDING_PAIRS {
            // Transactions lost without committing (a leader change) leave
            // their pairs behind; those past their window can go.
            pairs.retain(|_, (_, ts)| ts.saturating_add(MAX_TX_AGE_MS) >= now_ms);
        }
        let pair = (body.sender, body.nonce);
        if let Some(&(other, ts)) = pairs.get(&pair)
            && other != id
            // An entry whose window has passed belongs to a transaction
            // that will not commit any more; it no longer holds the pair.
            && ts.saturating_add(MAX_TX_AGE_MS) >= now_ms
        {
            return Err(Error::NonceUsed {
                sender: body.sender,
                nonce: body.nonce,
                tx_id: other,
                committed: false,
            });
        }
        pairs.insert(pair, (id, body.timestamp_ms));
        Ok(())
    }

    /// Refuses `body` if its pair is used by a live committed transaction.
    pub(crate) fn committed(ledger: &Ledger, body: &TxBody, now_ms: u64) -> Result<()> {
        match ledger.nonce_use(&body.sender, body.nonce)? {
            Some(u) if u.live_at(now_ms) => Err(Error::NonceUsed {
                sender: body.sender,
                nonce: body.nonce,
                tx_id: u.tx_id,
                committed: true,
            }),
            _ => Ok(()),
        }
    }

    /// Lets go of the pairs of `txs`, which committed.
    pub(crate) fn release<'a>(&self, txs: impl IntoIterator<Item = &'a Transaction>) {
        let mut pairs = lock(&self.pairs);
        if pairs.is_empty() {
            return;
        }
        for tx in txs.into_iter().filter(|tx| tx.body.tx_type != TxType::Ethereum) {
            pairs.remove(&(tx.body.sender, tx.body.nonce));
        }
    }

    /// Lets go of one pair held for `id` (its submission failed).
    pub(crate) fn release_pair(&self, sender: Address, nonce: u64, id: Hash) {
        let mut pairs = lock(&self.pairs);
        if pairs.get(&(sender, nonce)).is_some_and(|(held, _)| *held == id) {
            pairs.remove(&(sender, nonce));
        }
    }
}

#[cfg(test)]
mod tests {
    use govchain_crypto::{PrivateKey, Suite};
    use govchain_ledger::test_utils::{ChainBuilder, GENESIS_TIME_MS};
    use govchain_types::{MAX_TX_FUTURE_MS, TxType};

    use super::*;

    const CHAIN: &str = "c";
    const SUITE: Suite = Suite::IntlR1;

    fn tx(k: &PrivateKey, nonce: u64, timestamp_ms: u64, data: &[u8]) -> (Hash, Transaction) {
        let tx = TxBody {
            chain_id: CHAIN.into(),
            tx_type: TxType::Invoke,
            timestamp_ms,
            nonce,
            sender: k.address(),
            recipient: "data".into(),
            data: data.to_vec(),
            memo: String::new(),
            signers: Vec::new(),
        }
        .sign(&[k])
        .expect("sign");
        (tx.id(SUITE), tx)
    }

    fn screened(
        ledger: &Ledger,
        txs: &[(Hash, Transaction)],
        at: u64,
    ) -> Vec<std::result::Result<String, String>> {
        let mut out: Vec<_> = txs.iter().map(|_| Ok("org".to_owned())).collect();
        screen(ledger, txs, at, &mut out).expect("screen");
        out
    }

    /// The block rule refuses a pair used on chain or earlier in the block,
    /// and timestamps outside the block's window; the ledger's index, built
    /// from the same block, agrees with it afterwards.
    #[test]
    fn a_pair_is_accepted_once_per_window_at_block_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path(), SUITE, CHAIN).expect("open");
        let mut chain = ChainBuilder::new(SUITE, CHAIN);
        let k = PrivateKey::generate(SUITE);
        let t = GENESIS_TIME_MS;
        let a = tx(&k, 5, t, b"a");
        chain.block_at(t, vec![a.1.clone()], vec![]).commit(&ledger).expect("commit");

        let at = t + 1000;
        let block = vec![
            tx(&k, 5, at, b"b"),
            tx(&k, 6, at, b"c"),
            tx(&k, 6, at, b"d"),
            tx(&k, 7, at - MAX_TX_AGE_MS - 1, b"stale"),
            tx(&k, 8, at + MAX_TX_FUTURE_MS + 1, b"future"),
            tx(&k, 9, at, b"fine"),
        ];
        let out = screened(&ledger, &block, at);
        assert_eq!(out, screened(&ledger, &block, at), "the same answer every time");
        let msg = |i: usize| out[i].clone().expect_err("refused");
        assert_eq!(
            msg(0),
            format!("nonce 5 of sender {} is already used by transaction {}", k.address(), a.0)
        );
        assert!(out[1].is_ok() && out[5].is_ok(), "{out:?}");
        assert!(msg(2).ends_with(&format!("used by transaction {}", block[1].0)), "{}", msg(2));
        assert!(msg(3).contains("outside the window"), "{}", msg(3));
        assert!(msg(4).contains("outside the window"), "{}", msg(4));
        // An earlier refusal (a bad certificate) keeps its message but still
        // uses the pair, as the ledger's index has it.
        let mut refusals = vec![Err("bad certificate".to_owned()), Ok("org".to_owned())];
        let pair = vec![tx(&k, 11, at, b"x"), tx(&k, 11, at, b"y")];
        screen(&ledger, &pair, at, &mut refusals).expect("screen");
        assert_eq!(refusals[0], Err("bad certificate".to_owned()));
        assert!(refusals[1].is_err());

        chain
            .block_at(at, block.iter().map(|(_, t)| t.clone()).collect(), vec![])
            .commit(&ledger)
            .expect("commit");
        let used = |n: u64| ledger.nonce_use(&k.address(), n).expect("index").map(|u| u.tx_id);
        assert_eq!(used(5), Some(a.0));
        assert_eq!(used(6), Some(block[1].0));
        assert_eq!((used(7), used(8)), (None, None));
        assert_eq!(used(9), Some(block[5].0));

        // Once the first use is out of the window, the pair is free again.
        let later = t + MAX_TX_AGE_MS + 1;
        assert!(screened(&ledger, &[tx(&k, 5, later, b"again")], later)[0].is_ok());
        assert!(screened(&ledger, &[tx(&k, 6, later, b"again")], later)[0].is_err());
    }

    #[test]
    fn pending_pairs_are_held_until_released() {
        let k = PrivateKey::generate(SUITE);
        let now = govchain_types::now_ms();
        let pending = PendingPairs::default();
        let (a_id, a) = tx(&k, 1, now, b"a");
        let (b_id, b) = tx(&k, 1, now, b"b");
        pending.admit(&a.body, a_id, now).expect("first");
        pending.admit(&a.body, a_id, now).expect("the same transaction again is not a reuse");
        let err = pending.admit(&b.body, b_id, now).expect_err("second");
        assert!(matches!(err, Error::NonceUsed { committed: false, tx_id, .. } if tx_id == a_id), "{err}");
        pending.release_pair(k.address(), 1, b_id);
        assert!(pending.admit(&b.body, b_id, now).is_err(), "released only by its holder");
        pending.release([&a]);
        pending.admit(&b.body, b_id, now).expect("free after release");
    }
}
