//! Live status of chains' nodes (SPEC OPS-1). Every page that shows a
//! chain's height or health asks here, not the nodes: a chain is polled
//! through the driver at most once a second however many pages and
//! replicas' clients ask, and callers that ask while a poll runs share
//! its answer. A poll that hangs ends after [`POLL_TIMEOUT`] and counts
//! as every node unreachable.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use govchain_driver::{HostDriver, NodeStatus};
use tokio::sync::OnceCell;

/// How long an answer serves before the next caller polls again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// The longest one poll of a chain may take.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(3);
/// Entries older than this are dropped when the next poll starts (chains
/// nobody looks at any more, or deleted ones).
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// What one poll found: each node's status, or why the driver had none.
pub type Polled = Arc<std::result::Result<Vec<NodeStatus>, String>>;

#[derive(Debug)]
struct Entry {
    started: Instant,
    answer: Arc<OnceCell<Polled>>,
}

/// The shared, short-lived answers of the driver's status polls.
#[derive(Debug, Default)]
pub struct StatusCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl StatusCache {
    /// The status of chain `key`'s nodes: the answer of a poll started
    /// less than [`FRESH_FOR`] ago, or of a new one.
    pub async fn get(&self, driver: &dyn HostDriver, key: &str) -> Polled {
        let cell = {
            // A poisoned lock only means a panic elsewhere mid-insert; the
            // map itself is still a valid map.
            let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match entries.get(key) {
                Some(e) if e.started.elapsed() < FRESH_FOR => e.answer.clone(),
                _ => {
                    entries.retain(|_, e| e.started.elapsed() < FORGET_AFTER);
                    let answer = Arc::new(OnceCell::new());
                    entries.insert(key.to_owned(), Entry { started: Instant::now(), answer: answer.clone() });
                    answer
                }
            }
        };
        cell.get_or_init(|| async {
            let polled = match tokio::time::timeout(POLL_TIMEOUT, driver.status(key)).await {
                Ok(Ok(statuses)) => Ok(statuses),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", POLL_TIMEOUT.as_secs())),
            };
            if let Err(e) = &polled {
                tracing::warn!(target: "govchain::api", "status of {key}: {e}");
            }
            Arc::new(polled)
        })
        .await
        .clone()
    }

    /// Forgets chain `key`'s answer (after a lifecycle action changed it).
    pub fn forget(&self, key: &str) {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

/// A running chain's health from its nodes' statuses: `healthy` when every
/// node meant to run answers and one leader is known, `degraded` when a
/// majority of the consensus nodes answers and knows a leader but some
/// node does not answer, `down` otherwise. `consensus` names the nodes
/// that vote; `meant` those whose desired state is running.
pub fn health(statuses: &[NodeStatus], consensus: &[&str], meant: &[&str]) -> &'static str {
    let answers = |name: &str| statuses.iter().any(|s| s.name == name && s.reachable);
    let leader = statuses.iter().any(|s| s.reachable && s.leader.is_some());
    let voting = consensus.iter().filter(|n| answers(n)).count();
    if !leader || voting * 2 <= consensus.len() {
        "down"
    } else if meant.iter().all(|n| answers(n)) {
        "healthy"
    } else {
        "degraded"
    }
}

#[cfg(test)]
mod tests {
    use govchain_driver::ProcessState;

    use super::*;

    fn node(name: &str, reachable: bool, leader: Option<&str>) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            org: "a.gov".into(),
            process: if reachable { ProcessState::Running } else { ProcessState::Crashed },
            reachable,
            height: reachable.then_some(7),
            leader: leader.map(str::to_owned),
            role: None,
            restarts: 0,
            api_url: String::new(),
        }
    }

    #[test]
    fn health_follows_the_majority_and_the_leader() {
        let four = ["n1", "n2", "n3", "n4"];
        let all = |up: [bool; 4]| {
            four.iter().zip(up).map(|(n, r)| node(n, r, r.then_some("n1"))).collect::<Vec<_>>()
        };
        assert_eq!(health(&all([true; 4]), &four, &four), "healthy");
        assert_eq!(health(&all([true, true, true, false]), &four, &four), "degraded");
        assert_eq!(health(&all([true, true, false, false]), &four, &four), "down", "2 of 4 is no majority");
        // A node stopped on purpose does not make the chain degraded.
        assert_eq!(health(&all([true, true, true, false]), &four, &four[..3]), "healthy");
        // Everyone answers but nobody knows a leader: an election is stuck.
        let leaderless: Vec<_> = four.iter().map(|n| node(n, true, None)).collect();
        assert_eq!(health(&leaderless, &four, &four), "down");
        // A solo chain.
        assert_eq!(health(&[node("n1", true, Some("n1"))], &["n1"], &["n1"]), "healthy");
        assert_eq!(health(&[node("n1", false, None)], &["n1"], &["n1"]), "down");
    }
}
