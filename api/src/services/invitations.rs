//! Invitations to a chain (SPEC PRV-6). An organization sees the
//! invitations it sent or received; the query says so, and a list reads
//! the chains' names and the invited domains in one query each.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};

use crate::{
    domain::{InvitationStatus, OrgStatus, Tenant},
    entity::{chain, chain_member, invitation, org},
    error::{ApiError, Result},
    now_ms,
    services::chains,
};

/// An invitation with its chain's name and the invited organization's
/// domain.
pub type Named = (invitation::Model, String, String, String);

/// Names each of `rows` (two queries whatever their number).
pub async fn named(db: &impl ConnectionTrait, rows: Vec<invitation::Model>) -> Result<Vec<Named>> {
    let chain_ids: Vec<i64> = rows.iter().map(|i| i.chain_id).collect();
    let org_ids: Vec<i64> = rows.iter().flat_map(|i| [i.to_org_id, i.from_org_id]).collect();
    let chain_names: BTreeMap<i64, String> = chain::Entity::find()
        .filter(chain::Column::Id.is_in(chain_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let domains: BTreeMap<i64, String> = org::Entity::find()
        .filter(org::Column::Id.is_in(org_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.domain))
        .collect();
    Ok(rows
        .into_iter()
        .map(|i| {
            let chain = chain_names.get(&i.chain_id).cloned().unwrap_or_default();
            let to = domains.get(&i.to_org_id).cloned().unwrap_or_default();
            let from = domains.get(&i.from_org_id).cloned().unwrap_or_default();
            (i, chain, to, from)
        })
        .collect())
}

/// The invitations the tenant's organization sent or received (all for the
/// platform operator), newest first.
pub async fn list(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<Named>> {
    let mut q = invitation::Entity::find();
    if let Some(org) = tenant.only() {
        q = q.filter(
            Condition::any()
                .add(invitation::Column::ToOrgId.eq(org))
                .add(invitation::Column::FromOrgId.eq(org)),
        );
    }
    let rows = q.order_by_desc(invitation::Column::Id).all(db).await?;
    named(db, rows).await
}

/// Invites the organization of domain `to_domain` to chain `c`. Checked:
/// it exists and is an active department, is not a member yet nor invited
/// already, and the chain is below its node limit.
pub async fn invite(
    db: &impl ConnectionTrait,
    c: &chain::Model,
    invited_by: i64,
    to_domain: &str,
    message: String,
) -> Result<(invitation::Model, org::Model)> {
    let to = org::Entity::find()
        .filter(org::Column::Domain.eq(to_domain))
        .filter(org::Column::Status.eq(OrgStatus::Active))
        .filter(org::Column::IsPlatform.eq(false))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no active organization with domain `{to_domain}`")))?;
    if chains::is_member(db, c.id, to.id).await? {
        return Err(ApiError::conflict(format!("`{}` is already a member of the chain", to.domain))
            .with_details(serde_json::json!({"reason": "already_member"})));
    }
    let pending = invitation::Entity::find()
        .filter(invitation::Column::ChainId.eq(c.id))
        .filter(invitation::Column::ToOrgId.eq(to.id))
        .filter(invitation::Column::Status.eq(InvitationStatus::Pending))
        .one(db)
        .await?;
    if pending.is_some() {
        return Err(ApiError::conflict(format!("`{}` has a pending invitation to this chain", to.domain))
            .with_details(serde_json::json!({"reason": "already_invited"})));
    }
    chains::check_room(db, c).await?;
    let i = invitation::ActiveModel {
        chain_id: Set(c.id),
        from_org_id: Set(c.org_id),
        to_org_id: Set(to.id),
        invited_by: Set(invited_by),
        message: Set(message),
        status: Set(InvitationStatus::Pending),
        created_at: Set(now_ms()),
        decided_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((i, to))
}

/// Answers an invitation organization `org_id` received; accepting makes
/// it a member of the chain.
pub async fn respond(
    db: &impl ConnectionTrait,
    org_id: i64,
    id: i64,
    accept: bool,
) -> Result<invitation::Model> {
    let i = invitation::Entity::find_by_id(id)
        .filter(invitation::Column::ToOrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such invitation"))?;
    if i.status != InvitationStatus::Pending {
        return Err(ApiError::conflict(format!("the invitation is {} already", i.status)));
    }
    let now = now_ms();
    if accept && !chains::is_member(db, i.chain_id, i.to_org_id).await? {
        chain_member::ActiveModel {
            chain_id: Set(i.chain_id),
            org_id: Set(i.to_org_id),
            joined_at: Set(now),
        }
        .insert(db)
        .await?;
    }
    let mut a = i.into_active_model();
    a.status = Set(if accept { InvitationStatus::Accepted } else { InvitationStatus::Declined });
    a.decided_at = Set(Some(now));
    Ok(a.update(db).await?)
}
