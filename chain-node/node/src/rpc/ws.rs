//! WebSocket subscriptions: a client sends `{"subscribe": "blocks"}`,
//! `{"subscribe": "receipts", "tx_id": ...}` or `{"subscribe": "events",
//! "contract": ..., "name": ...}` and receives matching messages as blocks
//! commit.

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket, close_code},
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use govchain_types::api::{Subscription, WsMessage};
use tokio::sync::broadcast::error::RecvError;

use crate::{Committed, Node};

/// Most subscriptions on one connection.
const MAX_SUBSCRIPTIONS: usize = 64;
/// Largest client message.
const MAX_CLIENT_MESSAGE: usize = 4096;

pub(super) async fn upgrade(State(node): State<Node>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE).on_upgrade(move |socket| session(node, socket))
}

fn matches(sub: &Subscription, committed: &Committed, out: &mut Vec<WsMessage>) {
    match sub {
        Subscription::Blocks => {
            out.push(WsMessage::Block { id: committed.id, header: committed.block.header.clone() });
        }
        Subscription::Receipts { tx_id } => {
            for r in &committed.receipts {
                if tx_id.is_none_or(|id| id == r.tx_id) {
                    out.push(WsMessage::Receipt { receipt: r.clone() });
                }
            }
        }
        Subscription::Events { contract, name } => {
            for r in &committed.receipts {
                for e in &r.events {
                    let want = contract.as_ref().is_none_or(|c| *c == e.contract)
                        && name.as_ref().is_none_or(|n| *n == e.name);
                    if want {
                        out.push(WsMessage::Event { tx_id: r.tx_id, height: r.height, event: e.clone() });
                    }
                }
            }
        }
    }
}

async fn send(socket: &mut futures_util::stream::SplitSink<WebSocket, Message>, msg: &WsMessage) -> bool {
    match serde_json::to_string(msg) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

/// The close frame for a connection whose client broke the protocol: 1009
/// for a message over [`MAX_CLIENT_MESSAGE`], 1007 for text that is not
/// UTF-8, 1002 for any other violation; the reason says what happened.
fn violation(error: &axum::Error) -> Message {
    let text = error.to_string();
    let code = if text.contains("too long") || text.contains("Space limit") {
        close_code::SIZE
    } else if text.contains("UTF-8") || text.contains("utf-8") {
        close_code::INVALID
    } else {
        close_code::PROTOCOL
    };
    // A close reason holds at most 123 bytes.
    let mut reason = String::new();
    for c in text.chars() {
        if reason.len() + c.len_utf8() > 123 {
            break;
        }
        reason.push(c);
    }
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

async fn session(node: Node, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let mut blocks = node.subscribe();
    let mut subs: Vec<Subscription> = Vec::new();
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let msg = match incoming {
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        // Tell the client why before going away; it may be
                        // gone already, then there is nobody to tell.
                        let _ = tx.send(violation(&e)).await;
                        break;
                    }
                    None => break,
                };
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Close(_) => break,
                    Message::Binary(_) => {
                        let msg = WsMessage::Error { message: "subscriptions are JSON text messages, not binary".into() };
                        if !send(&mut tx, &msg).await { break; }
                        continue;
                    }
                    _ => continue,
                };
                let reply = match serde_json::from_str::<Subscription>(&text) {
                    Ok(_) if subs.len() >= MAX_SUBSCRIPTIONS => WsMessage::Error {
                        message: format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                    },
                    Ok(sub) => {
                        subs.push(sub.clone());
                        WsMessage::Subscribed { subscription: sub }
                    }
                    Err(e) => WsMessage::Error { message: format!("bad subscription: {e}") },
                };
                if !send(&mut tx, &reply).await {
                    break;
                }
            }
            committed = blocks.recv() => {
                let committed = match committed {
                    Ok(c) => c,
                    Err(RecvError::Lagged(n)) => {
                        let msg = WsMessage::Error { message: format!("subscriber too slow: {n} blocks skipped") };
                        if !send(&mut tx, &msg).await { break; }
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let mut out = Vec::new();
                for sub in &subs {
                    matches(sub, &committed, &mut out);
                }
                for msg in &out {
                    if !send(&mut tx, msg).await {
                        return;
                    }
                }
            }
        }
    }
}
