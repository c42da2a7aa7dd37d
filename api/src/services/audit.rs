//! Reading the operation log: filters, and the tenant in the WHERE clause.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::LikeExpr,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{domain::Tenant, entity::oplog, error::Result, validate};

/// Filters of the operation log.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OplogFilter {
    /// Only this organization (the platform operator may pick any; others
    /// always see only their own).
    pub org_id: Option<i64>,
    /// Only this actor (user name).
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub actor: Option<String>,
    /// Only actions containing this text.
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub action: Option<String>,
    /// Only this result (`ok`, `forbidden`, ...).
    #[param(max_length = 256, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub result: Option<String>,
    /// From this time (ms since 1970).
    pub from: Option<i64>,
    /// Until this time (ms since 1970).
    pub to: Option<i64>,
    /// At most this many entries, newest first (default 100, at most 10000).
    pub limit: Option<u64>,
    /// Only entries older than this id (the next page).
    pub before: Option<i64>,
}

/// Entries of the operation log matching `f`, newest first (at most
/// `max`): the tenant's organization's, or any (`f.org_id`) for the
/// platform operator.
pub async fn query(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    f: &OplogFilter,
    max: u64,
) -> Result<Vec<oplog::Model>> {
    let mut q = oplog::Entity::find();
    let org = if tenant.all { f.org_id } else { Some(tenant.org_id) };
    if let Some(org) = org {
        q = q.filter(oplog::Column::OrgId.eq(org));
    }
    if let Some(a) = &f.actor {
        validate::filter("actor", a)?;
        q = q.filter(oplog::Column::Actor.eq(a.as_str()));
    }
    if let Some(a) = &f.action {
        validate::filter("action", a)?;
        // `%` and `_` in the text are the text, not LIKE wildcards.
        let escaped = a.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        q = q.filter(oplog::Column::Action.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
    }
    if let Some(r) = &f.result {
        validate::filter("result", r)?;
        q = q.filter(oplog::Column::Result.eq(r.as_str()));
    }
    if let Some(from) = f.from {
        q = q.filter(oplog::Column::At.gte(from));
    }
    if let Some(to) = f.to {
        q = q.filter(oplog::Column::At.lte(to));
    }
    if let Some(before) = f.before {
        q = q.filter(oplog::Column::Id.lt(before));
    }
    let limit = f.limit.unwrap_or(100).clamp(1, max);
    Ok(q.order_by_desc(oplog::Column::Id).limit(limit).all(db).await?)
}
