//! The message centre (SPEC PRV-3): messages to an organization, stored
//! and pushed to its connected clients. An organization reads only its
//! own; the queries say so.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use tokio::sync::broadcast;

use crate::{
    Event,
    entity::{message, org},
    error::{ApiError, Result},
    now_ms, page,
};

/// Puts a message in organization `org_id`'s message centre and pushes it
/// to its connected clients.
pub async fn notify(
    db: &impl ConnectionTrait,
    events: &broadcast::Sender<Event>,
    org_id: i64,
    kind: &str,
    title: &str,
    link: &str,
) -> Result<()> {
    push(events, store(db, org_id, kind, title, link).await?);
    Ok(())
}

/// Stores a message for organization `org_id` (in the caller's
/// transaction, if `db` is one); [`push`] it once that is committed.
pub async fn store(
    db: &impl ConnectionTrait,
    org_id: i64,
    kind: &str,
    title: &str,
    link: &str,
) -> Result<message::Model> {
    Ok(message::ActiveModel {
        org_id: Set(org_id),
        kind: Set(kind.into()),
        title: Set(title.chars().take(1000).collect()),
        body: Set(String::new()),
        link: Set(link.into()),
        read_at: Set(None),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Pushes a stored message to its organization's connected clients.
pub fn push(events: &broadcast::Sender<Event>, m: message::Model) {
    // Nobody listening is fine: the message is stored.
    let _ = events.send(Event { org_id: m.org_id, message: m });
}

/// The platform organization's id.
pub async fn platform_id(db: &impl ConnectionTrait) -> Result<i64> {
    Ok(org::Entity::find()
        .filter(org::Column::IsPlatform.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal("finding the platform organization", "missing"))?
        .id)
}

/// Messages for the platform operator.
pub async fn notify_platform(
    db: &impl ConnectionTrait,
    events: &broadcast::Sender<Event>,
    kind: &str,
    title: &str,
    link: &str,
) -> Result<()> {
    notify(db, events, platform_id(db).await?, kind, title, link).await
}

/// A page of organization `org_id`'s messages, newest first, and where the
/// next page starts.
pub async fn list(
    db: &impl ConnectionTrait,
    org_id: i64,
    unread_only: bool,
    before: Option<i64>,
    limit: Option<u64>,
) -> Result<(Vec<message::Model>, Option<i64>)> {
    let mut q = message::Entity::find().filter(message::Column::OrgId.eq(org_id));
    if unread_only {
        q = q.filter(message::Column::ReadAt.is_null());
    }
    let page = (page::DEFAULT, page::MAX);
    Ok(page::fetch(db, q, message::Column::Id, before, limit, page, |m| m.id).await?)
}

/// Marks one of organization `org_id`'s messages read.
pub async fn mark_read(db: &impl ConnectionTrait, org_id: i64, id: i64) -> Result<message::Model> {
    let m = message::Entity::find_by_id(id)
        .filter(message::Column::OrgId.eq(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such message"))?;
    let mut a = m.into_active_model();
    a.read_at = Set(Some(now_ms()));
    Ok(a.update(db).await?)
}
