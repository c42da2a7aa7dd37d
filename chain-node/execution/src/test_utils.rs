//! A second execution engine for tests here and in other crates (feature
//! `test-utils`): it shows that an engine plugs in by one registration and
//! that its writes go through the same state as the native contracts'.

use govchain_types::{Transaction, TxType};

use crate::{Error, ExecutionEngine, Result, TxEnv};

/// A counting engine: each transaction adds one to the counter named by its
/// `recipient` (key space [`TallyEngine::NAMESPACE`]), emits a `counted`
/// event and outputs `{"count": n}`. A payload of `fail` fails the
/// transaction after it wrote, to show a failure leaves nothing behind.
#[derive(Debug, Clone)]
pub struct TallyEngine {
    types: Vec<TxType>,
}

impl TallyEngine {
    /// The engine's name and key space.
    pub const NAMESPACE: &'static str = "tally";

    /// An engine that runs transactions of `types`.
    pub fn new(types: &[TxType]) -> Self {
        TallyEngine { types: types.to_vec() }
    }

    fn count(env: &TxEnv<'_>, counter: &str) -> Result<u64> {
        let stored = env.get(Self::NAMESPACE, counter.as_bytes())?;
        Ok(stored.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map_or(0, u64::from_be_bytes))
    }
}

impl ExecutionEngine for TallyEngine {
    fn name(&self) -> &str {
        Self::NAMESPACE
    }

    fn tx_types(&self) -> &[TxType] {
        &self.types
    }

    fn execute(&self, env: &mut TxEnv<'_>, tx: &Transaction) -> Result<Vec<u8>> {
        let counter = &tx.body.recipient;
        let n = Self::count(env, counter)? + 1;
        env.put(Self::NAMESPACE, counter.as_bytes(), &n.to_be_bytes())?;
        env.emit(Self::NAMESPACE, "counted", counter.as_bytes().to_vec());
        if tx.body.data == b"fail" {
            return Err(Error::InvalidArgument("asked to fail".into()));
        }
        Ok(format!("{{\"count\":{n}}}").into_bytes())
    }

    fn query(&self, env: &mut TxEnv<'_>, target: &str, _data: &[u8]) -> Result<Vec<u8>> {
        Ok(format!("{{\"count\":{}}}", Self::count(env, target)?).into_bytes())
    }
}
