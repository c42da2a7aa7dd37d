//! EVM logs as receipt events.

use govchain_types::Event;
use revm::primitives::Log;

/// Most topics of one log (`LOG4`).
const MAX_TOPICS: usize = 4;

/// An EVM log, as a receipt carries it in an [`Event`]:
/// `contract` = the emitting address (`0x` + 40 lowercase hex digits),
/// `name` = `log0` .. `log4` (the number of topics, as the opcode that
/// emitted it), `data` = the topics (32 bytes each) followed by the log
/// data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmLog {
    /// The contract that emitted the log.
    pub address: [u8; 20],
    /// Its topics, at most 4; for Solidity events the first is the
    /// event signature's hash.
    pub topics: Vec<[u8; 32]>,
    /// Its data.
    pub data: Vec<u8>,
}

impl EvmLog {
    /// The receipt event carrying this log.
    pub fn to_event(&self) -> Event {
        let mut data = Vec::with_capacity(self.topics.len() * 32 + self.data.len());
        for topic in &self.topics {
            data.extend_from_slice(topic);
        }
        data.extend_from_slice(&self.data);
        Event {
            contract: format!("0x{}", hex::encode(self.address)),
            name: format!("log{}", self.topics.len()),
            data,
        }
    }

    /// The log an event carries, if it is an EVM log event.
    pub fn from_event(event: &Event) -> Option<Self> {
        let count: usize = event.name.strip_prefix("log")?.parse().ok()?;
        if count > MAX_TOPICS || event.name.len() != 4 {
            return None;
        }
        let digits = event.contract.strip_prefix("0x")?;
        let mut address = [0u8; 20];
        hex::decode_to_slice(digits, &mut address).ok()?;
        if event.data.len() < count * 32 {
            return None;
        }
        let (head, data) = event.data.split_at(count * 32);
        let topics = head.chunks_exact(32).filter_map(|c| <[u8; 32]>::try_from(c).ok()).collect();
        Some(EvmLog { address, topics, data: data.to_vec() })
    }
}

impl From<Log> for EvmLog {
    fn from(log: Log) -> Self {
        EvmLog {
            address: log.address.0.0,
            topics: log.data.topics().iter().map(|t| t.0).collect(),
            data: log.data.data.to_vec(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn logs_round_trip_through_events_and_other_events_are_not_logs() {
        let log = EvmLog { address: [7; 20], topics: vec![[1; 32], [2; 32]], data: vec![9, 9, 9] };
        let event = log.to_event();
        assert_eq!(event.name, "log2");
        assert_eq!(event.contract, format!("0x{}", "07".repeat(20)));
        assert_eq!(event.data.len(), 67);
        assert_eq!(EvmLog::from_event(&event), Some(log));
        let other = |contract: &str, name: &str, data: Vec<u8>| Event {
            contract: contract.into(),
            name: name.into(),
            data,
        };
        assert_eq!(EvmLog::from_event(&other("evm", "gas_used", vec![])), None);
        assert_eq!(EvmLog::from_event(&other("data", "put", vec![])), None);
        assert_eq!(EvmLog::from_event(&other(&event.contract, "log5", vec![0; 200])), None);
        assert_eq!(EvmLog::from_event(&other(&event.contract, "log2", vec![0; 63])), None);
        assert_eq!(EvmLog::from_event(&other("0x12", "log0", vec![])), None);
    }
}
