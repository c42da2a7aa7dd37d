//! Governance of contract changes: the chain's policy
//! ([`GovernancePolicy`], genesis `execution.evm.governance`), proposals and
//! votes of the member organizations.
//!
//! **Members.** The member organizations are the policy's `members`. When a
//! genesis leaves them out, the node fills them in from the organizations
//! of the genesis `members` (the consensus nodes of a replicated chain),
//! once, when it builds its executor ([`ExecutionSpec::with_governance_members`]);
//! every node reads the same genesis, so every node has the same list.
//! Members that join the chain later do not become voters: the list is the
//! genesis's. An organization is the `O` of the chain-CA certificate a
//! transaction's sender carries (or, without one, the sender's address).
//!
//! **Rules.** An action the policy names in `actions` cannot be sent
//! directly: it needs a proposal. Any action may also be decided by
//! proposal (governance owns every contract). A member organization
//! proposes; its proposal counts as its approval unless the policy sets
//! `proposer_abstains`. Each member organization votes once (approve or
//! reject). The action runs inside the vote that brings the approvals to
//! the threshold; if it can no longer run, that vote fails and the
//! proposal stays open. A proposal is rejected once so many members
//! rejected it that the threshold is out of reach, and expires
//! `proposal_ttl_blocks` blocks after the block that made it.

use govchain_crypto::Address as ChainAddress;
use govchain_types::Hash;
use serde::{Deserialize, Serialize};

use super::{
    lifecycle::Action,
    registry::{self, CONTRACTS},
};
use crate::{EngineKind, Error, ExecutionSpec, Result, TxEnv};

/// Proposals expire after this many blocks unless the policy says otherwise.
pub const DEFAULT_PROPOSAL_TTL: u64 = 10_000;
/// Most member organizations of a policy.
pub const MAX_MEMBERS: usize = 64;

/// An action a policy can put under governance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernedAction {
    /// Deploying a contract (`evm_create`): its init code needs an approved
    /// `deploy` proposal first.
    Deploy,
    /// Replacing a contract's code.
    Upgrade,
    /// Freezing a contract.
    Freeze,
    /// Unfreezing a contract.
    Unfreeze,
    /// Changing a contract's access lists.
    Acl,
}

impl GovernedAction {
    /// The name as JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            GovernedAction::Deploy => "deploy",
            GovernedAction::Upgrade => "upgrade",
            GovernedAction::Freeze => "freeze",
            GovernedAction::Unfreeze => "unfreeze",
            GovernedAction::Acl => "acl",
        }
    }
}

/// The chain's governance policy (genesis `execution.evm.governance`):
///
/// ```json
/// {"members": ["org-a", "org-b", "org-c"], "threshold": 2, "actions": ["upgrade", "freeze"]}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernancePolicy {
    /// The member organizations that propose and vote; from the genesis
    /// members' organizations when empty (see the [module docs](self)).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Approvals a proposal needs; 0 means a majority of the members.
    #[serde(skip_serializing_if = "is_zero")]
    pub threshold: usize,
    /// The actions that need a proposal; none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<GovernedAction>,
    /// Blocks after which an open proposal expires; 0 means
    /// [`DEFAULT_PROPOSAL_TTL`].
    #[serde(skip_serializing_if = "is_zero")]
    pub proposal_ttl_blocks: u64,
    /// Whether a proposal does not count as its proposer's approval.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub proposer_abstains: bool,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl GovernancePolicy {
    /// Whether this is the default policy (nothing governed, no members).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the policy: named, distinct members; a threshold they can
    /// reach; members whenever an action is governed.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidArgument(format!("evm.governance: {why}")));
        if self.members.len() > MAX_MEMBERS {
            return bad(format!("at most {MAX_MEMBERS} members, found {}", self.members.len()));
        }
        for (i, m) in self.members.iter().enumerate() {
            if m.trim().is_empty() || m.len() > registry::MAX_ORG_NAME {
                return bad(format!("member {i} must be a name of 1 to {} bytes", registry::MAX_ORG_NAME));
            }
            if self.members[..i].contains(m) {
                return bad(format!("member `{m}` is named twice"));
            }
        }
        if self.threshold > self.members.len() {
            return bad(format!(
                "threshold {} exceeds the {} member organizations",
                self.threshold,
                self.members.len()
            ));
        }
        if !self.actions.is_empty() && self.members.is_empty() {
            return bad("actions are governed but there are no member organizations".into());
        }
        Ok(())
    }

    /// Approvals a proposal needs.
    pub fn required(&self) -> usize {
        match self.threshold {
            0 => self.members.len() / 2 + 1,
            n => n,
        }
    }

    /// Blocks a proposal stays open.
    pub fn ttl(&self) -> u64 {
        match self.proposal_ttl_blocks {
            0 => DEFAULT_PROPOSAL_TTL,
            n => n,
        }
    }

    /// Whether `action` needs a proposal.
    pub fn governs(&self, action: GovernedAction) -> bool {
        self.actions.contains(&action)
    }

    fn is_member(&self, org: &str) -> bool {
        self.members.iter().any(|m| m == org)
    }

    fn check_member(&self, org: &str) -> Result<()> {
        if self.members.is_empty() {
            return Err(Error::PermissionDenied(
                "this chain's governance has no member organizations, so it takes no proposals or votes"
                    .into(),
            ));
        }
        if !self.is_member(org) {
            return Err(Error::PermissionDenied(format!(
                "organization `{org}` is not a member organization of this chain's governance (members: {})",
                self.members.join(", ")
            )));
        }
        Ok(())
    }

    /// A sentence saying what the policy asks for, for refusals.
    pub fn describe(&self) -> String {
        format!("{} of the {} member organizations must approve", self.required(), self.members.len())
    }
}

impl ExecutionSpec {
    /// This spec with `policy` deciding changes to EVM contracts (no
    /// change where the spec runs no EVM).
    pub fn with_contract_governance(mut self, policy: GovernancePolicy) -> Self {
        if let Some(evm) = self.evm.as_mut() {
            evm.governance = policy;
        }
        self
    }

    /// This spec with the governance members filled in from `orgs` (the
    /// genesis members' organizations) when the genesis names none; the
    /// node calls this once before it builds its executor. Duplicates are
    /// dropped and the order is sorted, so every node gets the same list.
    pub fn with_governance_members<'o>(mut self, orgs: impl IntoIterator<Item = &'o str>) -> Self {
        if !self.engines.contains(&EngineKind::Evm) {
            return self;
        }
        let evm = self.evm.get_or_insert_with(Default::default);
        if evm.governance.members.is_empty() {
            let mut members: Vec<String> =
                orgs.into_iter().filter(|o| !o.is_empty()).map(str::to_owned).collect();
            members.sort();
            members.dedup();
            evm.governance.members = members;
        }
        self
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Taking votes.
    Open,
    /// Approved; its action ran.
    Executed,
    /// So many members rejected it that it cannot pass.
    Rejected,
    /// Its time ran out before it passed (computed when read).
    Expired,
}

/// One member organization's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// The organization voting.
    pub organization: String,
    /// The account that sent the vote.
    pub voter: ChainAddress,
    /// Approve (`true`) or reject.
    pub approve: bool,
    /// Height of the vote's block.
    pub height: u64,
    /// The vote's transaction.
    pub tx_id: Hash,
}

/// A proposal, as the registry stores and queries return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its number, from 1.
    pub id: u64,
    /// What runs when it passes.
    pub action: Action,
    /// Free text from the proposer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The account that proposed it.
    pub proposer: ChainAddress,
    /// The organization it proposed for.
    pub organization: String,
    /// Height of the block that made it.
    pub height: u64,
    /// The proposing transaction.
    pub tx_id: Hash,
    /// Last height at which it takes votes.
    pub expires_at: u64,
    /// Approvals it needs.
    pub threshold: usize,
    /// Where it stands.
    pub status: ProposalStatus,
    /// The votes, in order.
    pub votes: Vec<Vote>,
    /// The action's result, once executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

impl Proposal {
    /// The status at `height`: an open proposal past its time is expired.
    pub fn status_at(&self, height: u64) -> ProposalStatus {
        match self.status {
            ProposalStatus::Open if height > self.expires_at => ProposalStatus::Expired,
            s => s,
        }
    }

    fn count(&self, approve: bool) -> usize {
        self.votes.iter().filter(|v| v.approve == approve).count()
    }
}

/// Checks an `evm_create` against the policy: when deployments are
/// governed, its init code needs an approval for the sender's
/// organization. Returns the init code hash whose approval it uses.
pub(crate) fn check_deploy(
    env: &TxEnv<'_>,
    policy: &GovernancePolicy,
    init_code: &[u8],
) -> Result<Option<[u8; 32]>> {
    if !policy.governs(GovernedAction::Deploy) {
        return Ok(None);
    }
    let hash = deploy_code_hash(init_code);
    let org = &env.ctx().org;
    match registry::read_approval(env, &hash)? {
        Some(a) if a.organization == *org => Ok(Some(hash)),
        Some(a) => Err(Error::PermissionDenied(format!(
            "the deployment of init code 0x{} was approved for organization `{}` (proposal {}), not `{org}`",
            hex::encode(hash),
            a.organization,
            a.proposal
        ))),
        None => Err(Error::PermissionDenied(format!(
            "deployments are governed on this chain and init code 0x{} has no approval: propose {{\"op\":\"deploy\",\"code_hash\":\"0x{}\"}} to the `contracts` contract; it is approved once {}",
            hex::encode(hash),
            hex::encode(hash),
            policy.describe()
        ))),
    }
}

/// The `code_hash` a `deploy` proposal names for `init_code` (the creation
/// code with its constructor arguments): its Keccak-256.
pub fn deploy_code_hash(init_code: &[u8]) -> [u8; 32] {
    revm::primitives::keccak256(init_code).0
}

const PROPOSAL: u8 = b'p';
const LAST_ID: &[u8] = b"N";
/// Most proposals one `proposals` query returns.
pub const MAX_LIST: usize = 100;

fn proposal_key(id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = PROPOSAL;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn parse_proposal(bytes: &[u8]) -> Result<Proposal> {
    serde_json::from_slice(bytes).map_err(|e| Error::storage(CorruptProposal(e.to_string())))
}

#[derive(Debug, thiserror::Error)]
#[error("corrupt proposal record: {0}")]
struct CorruptProposal(String);

/// Proposal `id`, with its status as of the environment's height.
pub(crate) fn read_proposal(env: &TxEnv<'_>, id: u64) -> Result<Proposal> {
    let bytes = env
        .get(CONTRACTS, &proposal_key(id))?
        .ok_or_else(|| Error::NotFound(format!("proposal {id} does not exist")))?;
    let mut p = parse_proposal(&bytes)?;
    p.status = p.status_at(env.ctx().height);
    Ok(p)
}

/// Up to `limit` proposals from id `from` on, ascending.
pub(crate) fn list_proposals(env: &TxEnv<'_>, from: u64, limit: usize) -> Result<Vec<Proposal>> {
    use std::ops::Bound;
    let start = proposal_key(from.max(1));
    let end = [PROPOSAL + 1];
    let height = env.ctx().height;
    env.scan(CONTRACTS, Bound::Included(&start), Bound::Excluded(&end), limit.clamp(1, MAX_LIST))?
        .into_iter()
        .map(|(_, bytes)| {
            let mut p = parse_proposal(&bytes)?;
            p.status = p.status_at(height);
            Ok(p)
        })
        .collect()
}

/// Makes proposal `action` for the sender's organization; it runs at once
/// when the proposer's own approval meets the threshold.
pub(crate) fn propose(
    env: &mut TxEnv<'_>,
    policy: &GovernancePolicy,
    action: Action,
    note: String,
    run: impl FnOnce(&mut TxEnv<'_>, &Proposal) -> Result<serde_json::Value>,
) -> Result<Proposal> {
    let ctx = env.ctx().clone();
    policy.check_member(&ctx.org)?;
    let last = match env.get(CONTRACTS, LAST_ID)? {
        Some(b) => u64::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| Error::storage(CorruptProposal("last proposal id".into())))?,
        ),
        None => 0,
    };
    let id = last.saturating_add(1);
    env.put(CONTRACTS, LAST_ID, &id.to_be_bytes())?;
    let mut p = Proposal {
        id,
        action,
        note,
        proposer: ctx.sender,
        organization: ctx.org.clone(),
        height: ctx.height,
        tx_id: ctx.tx_id,
        expires_at: ctx.height.saturating_add(policy.ttl()),
        threshold: policy.required(),
        status: ProposalStatus::Open,
        votes: Vec::new(),
        result: None,
    };
    let event = serde_json::json!({ "id": id, "organization": ctx.org, "action": p.action });
    env.emit(CONTRACTS, "proposed", event.to_string().into_bytes());
    if !policy.proposer_abstains {
        add_vote(env, &mut p, true);
    }
    settle(env, policy, &mut p, run)?;
    registry::write_json(env, &proposal_key(id), &p)?;
    Ok(p)
}

/// Records the sender's organization's vote on proposal `id`, and runs its
/// action when the approvals reach the threshold.
pub(crate) fn vote(
    env: &mut TxEnv<'_>,
    policy: &GovernancePolicy,
    id: u64,
    approve: bool,
    run: impl FnOnce(&mut TxEnv<'_>, &Proposal) -> Result<serde_json::Value>,
) -> Result<Proposal> {
    let org = env.ctx().org.clone();
    policy.check_member(&org)?;
    let mut p = read_proposal(env, id)?;
    match p.status {
        ProposalStatus::Open => {}
        ProposalStatus::Expired => {
            return Err(Error::Conflict(format!(
                "proposal {id} expired at height {}; it takes no more votes",
                p.expires_at
            )));
        }
        s => {
            return Err(Error::Conflict(format!(
                "proposal {id} is {}; it takes no more votes",
                serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            )));
        }
    }
    if p.votes.iter().any(|v| v.organization == org) {
        return Err(Error::Conflict(format!("organization `{org}` has voted on proposal {id} already")));
    }
    add_vote(env, &mut p, approve);
    settle(env, policy, &mut p, run)?;
    registry::write_json(env, &proposal_key(id), &p)?;
    Ok(p)
}

fn add_vote(env: &mut TxEnv<'_>, p: &mut Proposal, approve: bool) {
    let ctx = env.ctx().clone();
    p.votes.push(Vote {
        organization: ctx.org.clone(),
        voter: ctx.sender,
        approve,
        height: ctx.height,
        tx_id: ctx.tx_id,
    });
    let event = serde_json::json!({
        "id": p.id,
        "organization": ctx.org,
        "approve": approve,
        "approvals": p.count(true),
        "rejections": p.count(false),
        "threshold": p.threshold,
    });
    env.emit(CONTRACTS, "voted", event.to_string().into_bytes());
}

/// Runs the action when approved, or rejects the proposal when it can no
/// longer pass.
fn settle(
    env: &mut TxEnv<'_>,
    policy: &GovernancePolicy,
    p: &mut Proposal,
    run: impl FnOnce(&mut TxEnv<'_>, &Proposal) -> Result<serde_json::Value>,
) -> Result<()> {
    if p.count(true) >= p.threshold {
        let result = run(env, p).map_err(|e| match e {
            Error::Storage(_) => e,
            other => Error::Conflict(format!("proposal {} is approved but its action fails: {other}", p.id)),
        })?;
        p.status = ProposalStatus::Executed;
        p.result = Some(result.clone());
        let event = serde_json::json!({ "id": p.id, "result": result });
        env.emit(CONTRACTS, "executed", event.to_string().into_bytes());
    } else if policy.members.len().saturating_sub(p.count(false)) < p.threshold {
        p.status = ProposalStatus::Rejected;
        let event = serde_json::json!({ "id": p.id, "rejections": p.count(false) });
        env.emit(CONTRACTS, "rejected", event.to_string().into_bytes());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn policy(members: &[&str], threshold: usize) -> GovernancePolicy {
        GovernancePolicy {
            members: members.iter().map(|m| m.to_string()).collect(),
            threshold,
            actions: vec![GovernedAction::Upgrade],
            ..GovernancePolicy::default()
        }
    }

    #[test]
    fn policies_are_checked() {
        assert!(GovernancePolicy::default().validate().is_ok());
        assert!(policy(&["a", "b", "c"], 2).validate().is_ok());
        assert!(policy(&["a", "b"], 3).validate().is_err());
        assert!(policy(&["a", "a"], 1).validate().is_err());
        assert!(policy(&[], 0).validate().is_err());
        assert!(policy(&[""], 0).validate().is_err());
        assert_eq!(policy(&["a", "b", "c"], 0).required(), 2);
        assert_eq!(policy(&["a", "b", "c", "d"], 0).required(), 3);
    }

    #[test]
    fn genesis_members_fill_an_empty_member_list_only() {
        let spec = ExecutionSpec { engines: vec![EngineKind::Native, EngineKind::Evm], evm: None };
        let filled = spec.clone().with_governance_members(["org-b", "org-a", "org-b", ""]);
        assert_eq!(filled.evm.unwrap().governance.members, ["org-a", "org-b"]);
        let mut named = spec.clone();
        named.evm = Some(crate::EvmConfig { governance: policy(&["x"], 1), ..Default::default() });
        let kept = named.with_governance_members(["org-a"]);
        assert_eq!(kept.evm.unwrap().governance.members, ["x"]);
        let native = ExecutionSpec::default().with_governance_members(["org-a"]);
        assert_eq!(native, ExecutionSpec::default());
    }
}
