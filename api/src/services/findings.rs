//! Dismissals of static-analysis findings (SPEC SC-8): an organization
//! records that a finding does not apply, with the reason and who gave it.
//! A finding's id is stable while the code it points at is unchanged
//! (rule, file, contract, function and the flagged text), so a dismissal
//! holds across recompilations and edits elsewhere. Each organization sees
//! and changes only its own; the platform operator reads all.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::OnConflict};

use crate::{
    domain::Tenant,
    entity::finding_dismissal,
    error::{ApiError, Result},
    now_ms, page,
};

/// A dismissal to record: the finding as the analysis reported it, and why.
#[derive(Debug, Clone)]
pub struct Dismiss {
    pub finding_id: String,
    pub rule: String,
    pub severity: String,
    pub file: String,
    pub contract: String,
    pub function: String,
    pub snippet: String,
    pub reason: String,
}

/// Records organization `org_id`'s dismissal of a finding; a finding it
/// has dismissed already is refused (409 `already_dismissed`, naming the
/// first).
pub async fn dismiss(
    db: &impl ConnectionTrait,
    org_id: i64,
    user_id: i64,
    d: Dismiss,
) -> Result<finding_dismissal::Model> {
    let row = finding_dismissal::ActiveModel {
        org_id: Set(org_id),
        finding_id: Set(d.finding_id.clone()),
        rule: Set(d.rule),
        severity: Set(d.severity),
        file: Set(d.file),
        contract: Set(d.contract),
        function: Set(d.function),
        snippet: Set(d.snippet),
        reason: Set(d.reason),
        user_id: Set(user_id),
        created_at: Set(now_ms()),
        ..Default::default()
    };
    // The unique (organization, finding) index decides between two
    // dismissals of one finding at once.
    let inserted = finding_dismissal::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([finding_dismissal::Column::OrgId, finding_dismissal::Column::FindingId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let stored = of_org(db, org_id, std::slice::from_ref(&d.finding_id))
        .await?
        .remove(&d.finding_id)
        .ok_or_else(|| ApiError::internal("reading a dismissal back", d.finding_id.clone()))?;
    if inserted == 0 {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "already_dismissed",
            format!("finding {} was dismissed already (dismissal {})", d.finding_id, stored.id),
        ));
    }
    Ok(stored)
}

/// Organization `org_id`'s dismissals of the findings `ids`, by finding id.
pub async fn of_org(
    db: &impl ConnectionTrait,
    org_id: i64,
    ids: &[String],
) -> Result<HashMap<String, finding_dismissal::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = finding_dismissal::Entity::find()
        .filter(finding_dismissal::Column::OrgId.eq(org_id))
        .filter(finding_dismissal::Column::FindingId.is_in(ids.iter().cloned()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.finding_id.clone(), r)).collect())
}

/// A page of the tenant's dismissals (the platform operator's: every
/// organization's, or `org`'s), newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    org: Option<i64>,
    before: Option<i64>,
    limit: Option<u64>,
) -> Result<(Vec<finding_dismissal::Model>, Option<i64>)> {
    let mut q = finding_dismissal::Entity::find();
    if let Some(o) = tenant.only().or(org) {
        q = q.filter(finding_dismissal::Column::OrgId.eq(o));
    }
    let page = (page::DEFAULT, page::MAX);
    Ok(page::fetch(db, q, finding_dismissal::Column::Id, before, limit, page, |m| m.id).await?)
}

/// Withdraws a dismissal of the tenant's: the finding shows again.
pub async fn withdraw(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
) -> Result<finding_dismissal::Model> {
    let d = finding_dismissal::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|d| tenant.owns(d.org_id))
        .ok_or_else(|| ApiError::not_found(format!("dismissal {id}")))?;
    finding_dismissal::Entity::delete_by_id(id).exec(db).await?;
    Ok(d)
}
