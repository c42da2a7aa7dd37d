//! One's own account: logging in (with lockout), sessions, password
//! changes and API tokens. Everything here acts on the caller's own rows.

use axum::http::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};

use crate::{
    ApiConfig,
    auth::{self, ActorSlot},
    domain::UserStatus,
    entity::{api_token, session, user},
    error::{ApiError, Result},
    now_ms,
};

/// A started session.
#[derive(Debug)]
pub struct Session {
    /// Who.
    pub user: user::Model,
    /// The cookie's secret.
    pub token: String,
    /// The CSRF token.
    pub csrf: String,
}

/// Checks a user name and password and starts a session. Failures count
/// towards the lockout; the operation log learns who tried through `slot`.
pub async fn login(
    db: &DatabaseConnection,
    read: &DatabaseConnection,
    config: &ApiConfig,
    slot: Option<&ActorSlot>,
    username: &str,
    password: &str,
) -> Result<Session> {
    let now = now_ms();
    // The name tried, as the operation log records it: control characters
    // (NUL cannot even be stored in PostgreSQL) shown as U+FFFD.
    let name: String =
        username.chars().take(64).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if let Some(slot) = slot {
        slot.set(None, &name, None);
    }
    let wrong = || ApiError::unauthorized("wrong user name or password");
    // No user name has control characters; such a name is not looked up.
    let found = if username.chars().any(char::is_control) {
        None
    } else {
        user::Entity::find().filter(user::Column::Username.eq(username)).one(read).await?
    };
    let Some(u) = found else {
        auth::verify(password, auth::dummy_hash()).await;
        return Err(wrong());
    };
    if let Some(slot) = slot {
        slot.set(Some(u.id), &u.username, Some(u.org_id));
    }
    if u.locked_until > now {
        let minutes = (u.locked_until - now + 59_999) / 60_000;
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "locked",
            format!("too many failed logins; the account is locked for {minutes} more minute(s)"),
        ));
    }
    if !auth::verify(password, &u.password_hash).await {
        let failed = u.failed_logins + 1;
        let threshold = i32::try_from(config.lockout_threshold).unwrap_or(i32::MAX);
        let mut active = u.into_active_model();
        if failed >= threshold {
            let lock = i64::try_from(config.lockout_duration.as_millis()).unwrap_or(i64::MAX);
            active.failed_logins = Set(0);
            active.locked_until = Set(now.saturating_add(lock));
            active.update(db).await?;
            return Err(ApiError::new(
                StatusCode::LOCKED,
                "locked",
                format!("{threshold} failed logins; the account is locked for a while"),
            ));
        }
        active.failed_logins = Set(failed);
        active.update(db).await?;
        return Err(wrong());
    }
    if u.status != UserStatus::Active {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "frozen", "the account is frozen"));
    }
    // The account's marks and the new session in one transaction: one
    // turn at the writer.
    let txn = db.begin().await?;
    let mut active = u.into_active_model();
    active.failed_logins = Set(0);
    active.locked_until = Set(0);
    active.last_login_at = Set(now);
    let user = active.update(&txn).await?;
    let token = auth::random_token();
    let csrf = auth::random_token();
    session::ActiveModel {
        token_hash: Set(auth::token_hash(&token)),
        user_id: Set(user.id),
        csrf: Set(csrf.clone()),
        created_at: Set(now),
        last_seen: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(Session { user, token, csrf })
}

/// Ends the session whose cookie secret is `token`.
pub async fn logout(db: &impl ConnectionTrait, token: &str) -> Result<()> {
    session::Entity::delete_many()
        .filter(session::Column::TokenHash.eq(auth::token_hash(token)))
        .exec(db)
        .await?;
    Ok(())
}

/// The caller's own account.
pub async fn me(db: &impl ConnectionTrait, user_id: i64) -> Result<user::Model> {
    user::Entity::find_by_id(user_id).one(db).await?.ok_or_else(|| ApiError::unauthorized("gone"))
}

/// Changes the caller's password, given the current one.
pub async fn change_password(db: &impl ConnectionTrait, user_id: i64, old: &str, new: &str) -> Result<()> {
    let u = me(db, user_id).await?;
    if !auth::verify(old, &u.password_hash).await {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    auth::check_password_policy(new, &u.username)?;
    let mut active = u.into_active_model();
    active.password_hash = Set(auth::hash(new).await?);
    active.must_change_password = Set(false);
    active.update(db).await?;
    Ok(())
}

/// The caller's API tokens.
pub async fn tokens(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<api_token::Model>> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user_id))
        .order_by_asc(api_token::Column::Id)
        .all(db)
        .await?)
}

/// A new API token of the caller; returns it with its secret.
pub async fn create_token(
    db: &impl ConnectionTrait,
    user_id: i64,
    name: String,
) -> Result<(api_token::Model, String)> {
    let secret = format!("{}{}", auth::TOKEN_PREFIX, auth::random_token());
    let t = api_token::ActiveModel {
        user_id: Set(user_id),
        name: Set(name),
        token_hash: Set(auth::token_hash(&secret)),
        created_at: Set(now_ms()),
        last_used: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((t, secret))
}

/// Revokes one of the caller's API tokens.
pub async fn delete_token(db: &impl ConnectionTrait, user_id: i64, id: i64) -> Result<()> {
    let res = api_token::Entity::delete_many()
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Err(ApiError::not_found("no such token"));
    }
    Ok(())
}
