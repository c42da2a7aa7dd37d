//! The message centre (SPEC PRV-3): the caller organization's messages,
//! read marks, and a stream of new ones.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::Uri,
    response::{
        Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, auth::Auth, entity::message, error::Result, page, services::messages};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_messages))
        .routes(routes!(read_message))
        .routes(routes!(message_stream))
}

/// A message in the message centre.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// Id.
    pub id: i64,
    /// Recipient organization.
    pub org_id: i64,
    /// What happened, e.g. `request_submitted`, `invitation_received`.
    pub kind: String,
    /// Text.
    pub title: String,
    /// Where to look, e.g. `/requests/7`.
    pub link: String,
    /// Whether someone read it.
    pub read: bool,
    /// When, ms since 1970.
    pub created_at: i64,
}

impl From<message::Model> for MessageView {
    fn from(m: message::Model) -> MessageView {
        MessageView {
            id: m.id,
            org_id: m.org_id,
            kind: m.kind,
            title: m.title,
            link: m.link,
            read: m.read_at.is_some(),
            created_at: m.created_at,
        }
    }
}

/// Filters of the message list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// Only unread messages.
    pub unread: Option<bool>,
    /// At most this many (default 50, at most 500).
    #[param(minimum = 1)]
    pub limit: Option<u64>,
    /// Only messages older than this id (the next page).
    pub before: Option<i64>,
}

/// The caller organization's messages, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/messages", tag = "messages", params(MessageFilter),
    responses(
        (status = 200, body = [MessageView], headers(("Link" = String, description = "The next page (`<path?…&before=ID>; rel=\"next\"`), when this one is full")))))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    uri: Uri,
    Query(f): Query<MessageFilter>,
) -> Result<Response> {
    let (rows, next) =
        messages::list(&state.read, auth.org_id, f.unread == Some(true), f.before, f.limit).await?;
    Ok(page::respond(&uri, rows.into_iter().map(MessageView::from).collect(), next))
}

/// Marks a message read.
#[utoipa::path(post, path = "/api/v1/messages/{id}/read", tag = "messages", params(("id" = i64, Path, description = "Message id")),
    responses(
        (status = 200, body = MessageView)))]
async fn read_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<i64>,
) -> Result<Json<MessageView>> {
    Ok(Json(messages::mark_read(&state.db, auth.org_id, id).await?.into()))
}

/// New messages of the caller's organization as they arrive
/// (Server-Sent Events, one `message` event each).
#[utoipa::path(get, path = "/api/v1/messages/stream", tag = "messages",
    responses(
        (status = 200, content_type = "text/event-stream", body = MessageView)))]
async fn message_stream(
    State(state): State<AppState>,
    auth: Auth,
) -> Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>> {
    let org_id = auth.org_id;
    let stream =
        tokio_stream::wrappers::BroadcastStream::new(state.events.subscribe()).filter_map(move |e| {
            let e = e.ok()?;
            if e.org_id != org_id {
                return None;
            }
            let data = serde_json::to_string(&MessageView::from(e.message)).ok()?;
            Some(Ok(SseEvent::default().event("message").data(data)))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
