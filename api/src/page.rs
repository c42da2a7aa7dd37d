//! Paging of the lists: newest first, `limit` entries at a time; the next
//! page starts below the last id seen (`before`), so a page stays the same
//! while new entries arrive. A full page answers with a
//! `Link: <…&before=ID>; rel="next"` header naming the next one.

use axum::{
    Json,
    http::{HeaderValue, Uri, header::LINK},
    response::{IntoResponse, Response},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::Serialize;

/// Entries a list page holds unless the caller says (`limit`).
pub const DEFAULT: u64 = 50;
/// Most entries one list page holds.
pub const MAX: u64 = 500;

/// One page of a list: at most `limit` (default `default`, at most `max`)
/// rows of `q` with an id below `before`, newest first, and the id the next
/// page starts below, if there is one.
pub async fn fetch<E: EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    q: Select<E>,
    id: impl ColumnTrait,
    before: Option<i64>,
    limit: Option<u64>,
    (default, max): (u64, u64),
    id_of: impl Fn(&E::Model) -> i64,
) -> Result<(Vec<E::Model>, Option<i64>), sea_orm::DbErr> {
    let limit = limit.unwrap_or(default).clamp(1, max);
    let q = match before {
        Some(b) => q.filter(id.lt(b)),
        None => q,
    };
    // One more row than the page tells whether a next page exists.
    let mut rows = q.order_by_desc(id).limit(limit + 1).all(db).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(&id_of)
    } else {
        None
    };
    Ok((rows, next))
}

/// The page as JSON, with the `Link` header of the next page (the same
/// query, `before` replaced) when there is one.
pub fn respond<T: Serialize>(uri: &Uri, items: Vec<T>, next: Option<i64>) -> Response {
    let mut resp = Json(items).into_response();
    if let Some(next) = next {
        let mut query: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("before="))
            .collect();
        let before = format!("before={next}");
        query.push(&before);
        let link = format!("<{}?{}>; rel=\"next\"", uri.path(), query.join("&"));
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(LINK, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_keeps_the_filters_and_replaces_before() {
        let uri: Uri = "/api/v1/requests?status=pending&before=90&limit=2".parse().unwrap();
        let r = respond(&uri, vec![1, 2], Some(40));
        assert_eq!(
            r.headers().get(LINK).unwrap(),
            "</api/v1/requests?status=pending&limit=2&before=40>; rel=\"next\""
        );
        let r = respond(&uri, vec![1], None);
        assert!(r.headers().get(LINK).is_none());
    }
}
