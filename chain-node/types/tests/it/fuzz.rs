//! Bounded fuzzing of the decoders: random bytes and mutations of valid
//! encodings must decode or fail cleanly, never panic or over-allocate.

use govchain_crypto::{PrivateKey, Suite};
use govchain_types::{Block, Decode, Encode, Receipt, Transaction};

use crate::roundtrip::{block_of, signed_tx};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        if out.is_empty() {
            out.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(out.len());
        match rng.below(5) {
            0 => out[at] = rng.next() as u8,
            1 => out[at] ^= 1 << rng.below(8),
            2 => out.truncate(at),
            3 => out.insert(at, rng.next() as u8),
            // Length prefixes are u32: plant a huge one.
            _ => {
                let end = (at + 4).min(out.len());
                out[at..end].fill(0xff);
            }
        }
    }
    out
}

fn check_all(bytes: &[u8]) {
    // Results are irrelevant; only the absence of panics is checked, and a
    // successful decode must re-encode to the same bytes (one encoding).
    if let Ok(tx) = Transaction::decode(bytes) {
        assert_eq!(tx.encode(), bytes);
    }
    if let Ok(block) = Block::decode(bytes) {
        assert_eq!(block.encode(), bytes);
    }
    if let Ok(r) = Receipt::decode(bytes) {
        assert_eq!(r.encode(), bytes);
    }
}

#[test]
fn decoders_survive_random_and_mutated_input() {
    let suite = Suite::Gm;
    let key = PrivateKey::generate(suite);
    let txs: Vec<Transaction> = (0..3).map(|n| signed_tx(suite, &key, n)).collect();
    let (block, receipts) = block_of(suite, txs.clone());
    let seeds = [txs[0].encode(), block.encode(), receipts[0].encode()];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..60_000 {
        let input = if round % 4 == 0 {
            (0..rng.below(300)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, &seeds[round % seeds.len()])
        };
        check_all(&input);
    }
}

#[test]
fn mutated_transactions_never_verify_unless_unchanged() {
    let suite = Suite::IntlR1;
    let key = PrivateKey::generate(suite);
    let tx = signed_tx(suite, &key, 9);
    let seed = tx.encode();
    let mut rng = Rng(42);
    for _ in 0..3_000 {
        let input = mutate(&mut rng, &seed);
        if let Ok(decoded) = Transaction::decode(&input)
            && decoded.verify(suite, "chain-a").is_ok()
        {
            // Only a change outside the signed body (the signature's own
            // bytes cannot change and still verify) may pass: the body
            // must be identical.
            assert_eq!(decoded.body, tx.body);
        }
    }
}
