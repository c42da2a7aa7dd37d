//! The message centre (SPEC PRV-3): messages to an organization, stored
//! and pushed to its connected clients. An organization reads only its
//! own; the queries say so.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::broadcast;

use crate::{
    Event,
    entity::{message, org},
    error::{ApiError, Result},
    now_ms,
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
    let m = message::ActiveModel {
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
    .await?;
    // Nobody listening is fine: the message is stored.
    let _ = events.send(Event { org_id, message: m });
    Ok(())
}

/// Messages for the platform operator.
pub async fn notify_platform(
    db: &impl ConnectionTrait,
    events: &broadcast::Sender<Event>,
    kind: &str,
    title: &str,
    link: &str,
) -> Result<()> {
    let platform = org::Entity::find()
        .filter(org::Column::IsPlatform.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal("finding the platform organization", "missing"))?;
    notify(db, events, platform.id, kind, title, link).await
}

/// Organization `org_id`'s messages, newest first (at most 500).
pub async fn list(db: &impl ConnectionTrait, org_id: i64, unread_only: bool) -> Result<Vec<message::Model>> {
    let mut q = message::Entity::find().filter(message::Column::OrgId.eq(org_id));
    if unread_only {
        q = q.filter(message::Column::ReadAt.is_null());
    }
    Ok(q.order_by_desc(message::Column::Id).limit(500).all(db).await?)
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
