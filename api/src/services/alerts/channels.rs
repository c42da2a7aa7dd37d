//! Sending alert notifications: the message centre, e-mail through the
//! platform's SMTP server (lettre over rustls: none, STARTTLS or TLS), and
//! webhooks (a JSON POST signed with HMAC-SHA256). Each notification is a
//! row of `alert_deliveries`; a sender claims a due row with a guarded
//! update (so replicas never send one twice at once), sends it, and
//! records the outcome, retrying with exponential backoff up to
//! [`MAX_ATTEMPTS`].

use std::time::Duration;

use hmac::{KeyInit, Mac};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr};

use crate::{
    AppState,
    domain::DeliveryStatus,
    entity::{alert, alert_delivery, alert_rule},
    error::Result,
    services::{alerts, messages},
};

/// Attempts before a notification is given up.
pub const MAX_ATTEMPTS: i32 = 6;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(1);
/// The longest delay between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a claimed row stays with its sender before another may retry
/// it (a sender that died mid-send).
const CLAIM: Duration = Duration::from_secs(120);
/// How long one send may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows one pass sends at most.
const BATCH: u64 = 50;
/// The webhook's signature header: `sha256=<hex HMAC-SHA256 of the raw
/// body>`.
pub const SIGNATURE_HEADER: &str = "x-govchain-signature";
/// The webhook's timestamp header: seconds since 1970 when it was sent.
pub const TIMESTAMP_HEADER: &str = "x-govchain-timestamp";
/// `firing` or `resolved`.
pub const EVENT_HEADER: &str = "x-govchain-event";
/// The delivery's id (the same on every retry).
pub const DELIVERY_HEADER: &str = "x-govchain-delivery";

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network only).
    None,
    /// Plain, upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::Starttls),
            "tls" => Ok(SmtpTls::Tls),
            other => Err(format!("`{other}`: use none, starttls or tls")),
        }
    }
}

/// The platform's SMTP server (`govchain up --smtp-*`).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name (checked against its certificate under TLS).
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// User name, when the server wants a login.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// The sender, e.g. `govchain <alerts@example.gov>`.
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// Refuses a sender that is not an address.
    pub fn check(&self) -> std::result::Result<(), String> {
        self.from.parse::<Mailbox>().map_err(|e| format!("--smtp-from `{}`: {e}", self.from))?;
        if self.host.is_empty() {
            return Err("--smtp-host is empty".into());
        }
        Ok(())
    }
}

/// The delay before attempt `attempts + 1`.
pub fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    BASE_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

/// `sha256=<hex>` of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length: this never returns early.
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends an e-mail through `smtp`.
pub async fn send_mail(
    smtp: &SmtpConfig,
    to: &str,
    subject: &str,
    body: &str,
) -> std::result::Result<(), String> {
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(|e| e.to_string())?
        }
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| e.to_string())?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SEND_TIMEOUT));
    if let Some(user) = &smtp.username {
        builder =
            builder.credentials(Credentials::new(user.clone(), smtp.password.clone().unwrap_or_default()));
    }
    let transport = builder.build();
    let from: Mailbox = smtp.from.parse().map_err(|e| format!("the sender `{}`: {e}", smtp.from))?;
    let to: Mailbox = to.parse().map_err(|e| format!("the recipient `{to}`: {e}"))?;
    let mail = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(SEND_TIMEOUT * 2, transport.send(mail))
        .await
        .map_err(|_| "the SMTP server did not answer in time".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// POSTs `body` to `url`, signed with `secret` when there is one.
pub async fn send_webhook(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    event: &str,
    delivery: i64,
    body: &str,
) -> std::result::Result<(), String> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, (crate::now_ms() / 1000).to_string())
        .header(EVENT_HEADER, event)
        .header(DELIVERY_HEADER, delivery.to_string())
        .timeout(SEND_TIMEOUT)
        .body(body.to_owned());
    if let Some(s) = secret {
        req = req.header(SIGNATURE_HEADER, sign(s.as_bytes(), body.as_bytes()));
    }
    let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    if status.is_success() { Ok(()) } else { Err(format!("{url} answered {status}")) }
}

/// The subject line (and message-centre title) of a notification.
pub fn title(payload: &serde_json::Value) -> String {
    let a = &payload["alert"];
    let target = match a["node"].as_str() {
        Some(n) => format!("{} / {n}", a["chain"].as_str().unwrap_or("?")),
        None => a["chain"].as_str().unwrap_or("?").to_owned(),
    };
    format!(
        "[{}] [{}] {}: {target}",
        payload["event"].as_str().unwrap_or("").to_uppercase(),
        a["severity"].as_str().unwrap_or(""),
        a["rule_name"].as_str().unwrap_or("")
    )
}

fn mail_body(payload: &serde_json::Value) -> String {
    let a = &payload["alert"];
    format!(
        "{}\n\nRule: {}\nChain: {}\nNode: {}\nState: {}\nValue: {}\nWhat held: {}\nStarted: {} ms\nFired: {}\nResolved: {}\n\nSee {} in the govchain console.\n",
        title(payload),
        a["rule_name"].as_str().unwrap_or(""),
        a["chain"].as_str().unwrap_or(""),
        a["node"].as_str().unwrap_or("-"),
        a["state"].as_str().unwrap_or(""),
        a["value"],
        a["summary"].as_str().unwrap_or(""),
        a["started_at"],
        a["fired_at"],
        a["resolved_at"],
        payload["link"].as_str().unwrap_or(""),
    )
}

/// The key a webhook delivery is signed with: its rule's own when the
/// rule names that URL, else its organization's.
async fn webhook_secret(state: &AppState, d: &alert_delivery::Model) -> Result<Option<String>> {
    let rule_id = alert::Entity::find_by_id(d.alert_id).one(&state.read).await?.map(|a| a.rule_id);
    if let Some(id) = rule_id
        && let Some(row) = alert_rule::Entity::find_by_id(id).one(&state.read).await?
        && let Ok(rule) = alerts::Rule::read(row)
        && rule.spec.channels.webhook_url.as_deref() == Some(d.target.as_str())
    {
        return Ok(rule.row.webhook_secret);
    }
    let org = alerts::org_channels(&state.read, d.org_id).await?;
    Ok(if org.webhook_url.as_deref() == Some(d.target.as_str()) { org.webhook_secret } else { None })
}

async fn send(
    state: &AppState,
    http: &reqwest::Client,
    d: &alert_delivery::Model,
) -> std::result::Result<(), String> {
    let payload: serde_json::Value = serde_json::from_str(&d.payload).map_err(|e| e.to_string())?;
    match d.channel.as_str() {
        "message" => {
            let link = payload["link"].as_str().unwrap_or("/alerts").to_owned();
            messages::notify(&state.db, &state.events, d.org_id, "alert", &title(&payload), &link)
                .await
                .map_err(|e| e.message)
        }
        "email" => {
            let smtp =
                state.config.smtp.as_ref().ok_or("no SMTP server is configured (govchain up --smtp-host)")?;
            send_mail(smtp, &d.target, &title(&payload), &mail_body(&payload)).await
        }
        "webhook" => {
            let secret = webhook_secret(state, d).await.map_err(|e| e.message)?;
            send_webhook(http, &d.target, secret.as_deref(), &d.event, d.id, &d.payload).await
        }
        other => Err(format!("unknown channel `{other}`")),
    }
}

/// Sends the notifications due at `now`; returns how many were tried.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client, now: i64) -> Result<usize> {
    let due = alert_delivery::Entity::find()
        .filter(alert_delivery::Column::Status.eq(DeliveryStatus::Pending))
        .filter(alert_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(alert_delivery::Column::NextAttemptAt)
        .limit(BATCH)
        .all(&state.db)
        .await?;
    let mut tried = 0;
    for d in due {
        // The claim: only the sender whose update finds the row as read
        // sends it.
        let claimed = alert_delivery::Entity::update_many()
            .col_expr(alert_delivery::Column::Attempts, Expr::value(d.attempts + 1))
            .col_expr(alert_delivery::Column::NextAttemptAt, Expr::value(now + ms(CLAIM)))
            .col_expr(alert_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(alert_delivery::Column::Id.eq(d.id))
            .filter(alert_delivery::Column::Status.eq(DeliveryStatus::Pending))
            .filter(alert_delivery::Column::Attempts.eq(d.attempts))
            .filter(alert_delivery::Column::NextAttemptAt.eq(d.next_attempt_at))
            .exec(&state.db)
            .await?
            .rows_affected
            == 1;
        if !claimed {
            continue;
        }
        tried += 1;
        let attempts = d.attempts + 1;
        let outcome = send(state, http, &d).await;
        let done = crate::now_ms();
        let (status, error, next) = match outcome {
            Ok(()) => (DeliveryStatus::Sent, None, done),
            Err(e) if attempts >= MAX_ATTEMPTS => (DeliveryStatus::Failed, Some(e), done),
            Err(e) => (DeliveryStatus::Pending, Some(e), done + ms(backoff(attempts))),
        };
        if let Some(e) = &error {
            tracing::warn!(target: "govchain::api", "alert notification {} ({} to {}), attempt {attempts}: {e}",
                d.id, d.channel, d.target);
        }
        alert_delivery::Entity::update_many()
            .col_expr(alert_delivery::Column::Status, Expr::value(status))
            .col_expr(
                alert_delivery::Column::LastError,
                Expr::value(error.map(|e| e.chars().take(2000).collect::<String>())),
            )
            .col_expr(alert_delivery::Column::NextAttemptAt, Expr::value(next))
            .col_expr(alert_delivery::Column::UpdatedAt, Expr::value(done))
            .filter(alert_delivery::Column::Id.eq(d.id))
            .filter(alert_delivery::Column::Attempts.eq(attempts))
            .exec(&state.db)
            .await?;
    }
    Ok(tried)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_signatures_are_hmac_sha256() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(40), MAX_BACKOFF);
        assert_eq!(backoff(-3), Duration::from_secs(1));
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!("starttls".parse::<SmtpTls>(), Ok(SmtpTls::Starttls));
        assert!("ssl".parse::<SmtpTls>().is_err());
    }
}
