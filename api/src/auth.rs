//! Authentication (SPEC ORG-1, ORG-6): argon2 password hashes, password
//! policy, lockout, browser sessions with CSRF protection and an idle
//! timeout, and bearer API tokens for the CLI and automation. Every
//! endpoint authenticates through the [`Auth`] extractor; a fixed
//! permission is the [`Require`] extractor's.

use std::{collections::BTreeSet, sync::Arc};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version,
    password_hash::{Output, SaltString, rand_core::OsRng},
};
use axum::{extract::FromRequestParts, http::request::Parts};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, Set,
};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    domain::{OrgStatus, Tenant, UserStatus},
    entity::{api_token, org, role, session, user, user_role},
    error::{ApiError, Result},
    now_ms,
    rbac::{self, Perm},
};

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "govchain_session";
/// Header carrying the CSRF token on state-changing browser requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of API tokens, so leaked ones are easy to find.
pub const TOKEN_PREFIX: &str = "gct_";

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A browser session cookie.
    Session,
    /// A bearer API token.
    Token,
}

/// The authenticated caller of a request: who, in which organization, with
/// which permissions.
#[derive(Debug, Clone)]
pub struct Auth {
    /// User id.
    pub user_id: i64,
    /// Username.
    pub username: String,
    /// The user's organization.
    pub org_id: i64,
    /// Its domain.
    pub org_domain: String,
    /// Its organization's status (requests open once it is active).
    pub org_status: OrgStatus,
    /// Whether it is the platform operator's organization.
    pub platform: bool,
    /// Union of the user's roles' permissions.
    pub perms: BTreeSet<Perm>,
    /// Role names.
    pub roles: Vec<String>,
    /// How they authenticated.
    pub via: Via,
    /// The session's CSRF token (sessions only).
    pub csrf: Option<String>,
}

impl Auth {
    /// Refuses unless the caller holds `perm`.
    pub fn require(&self, perm: Perm) -> Result<()> {
        if self.perms.contains(&perm) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this needs the `{}` permission", perm.name())))
        }
    }

    /// Whether the caller sees every tenant (the platform operator).
    pub fn sees_all(&self) -> bool {
        self.platform && self.perms.contains(&Perm::PlatformAdmin)
    }

    /// Whether the caller may act on rows of organization `org_id`.
    pub fn owns(&self, org_id: i64) -> bool {
        self.org_id == org_id || self.sees_all()
    }
}

impl Auth {
    /// Whose rows the caller's queries may touch.
    pub fn tenant(&self) -> Tenant {
        Tenant { user_id: self.user_id, org_id: self.org_id, all: self.sees_all() }
    }
}

/// A permission a route needs, as a type: the parameter of [`Require`].
pub trait Needs: Send + Sync + 'static {
    /// The permission.
    const PERM: Perm;
}

/// The permissions as types, for [`Require`].
pub mod need {
    use super::{Needs, Perm};

    macro_rules! needs {
        ($($name:ident),+ $(,)?) => {$(
            #[doc = concat!("Needs [`Perm::", stringify!($name), "`].")]
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Needs for $name {
                const PERM: Perm = Perm::$name;
            }
        )+};
    }

    needs!(
        PlatformAdmin,
        RequestApprove,
        OrgManage,
        UserManage,
        RoleManage,
        RequestCreate,
        RequestView,
        ChainView,
        ChainOperate,
        ChainDelete,
        ChainInvite,
        InvitationRespond,
        NodeDownload,
        ContractDeploy,
        MonitorView,
        AlertManage,
        AuditView,
        AuditExport,
    );
}

/// An authenticated caller holding permission `P`: the extractor refuses
/// (403 `forbidden`) before the handler runs, so handlers never check a
/// fixed permission themselves.
#[derive(Debug, Clone)]
pub struct Require<P> {
    /// The caller.
    pub auth: Auth,
    need: std::marker::PhantomData<P>,
}

impl<P> std::ops::Deref for Require<P> {
    type Target = Auth;
    fn deref(&self) -> &Auth {
        &self.auth
    }
}

impl<P: Needs> FromRequestParts<AppState> for Require<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Require<P>> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require(P::PERM)?;
        Ok(Require { auth, need: std::marker::PhantomData })
    }
}

/// The actor of a request as the operation log records it: user id, name,
/// organization id.
pub type Actor = (Option<i64>, String, Option<i64>);

/// Who did what, for the operation log; the extractor fills it in for the
/// audit middleware.
#[derive(Debug, Clone, Default)]
pub struct ActorSlot(pub Arc<std::sync::Mutex<Option<Actor>>>);

impl ActorSlot {
    /// Records the actor (user id, name, organization id).
    pub fn set(&self, user: Option<i64>, name: &str, org: Option<i64>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((user, name.to_owned(), org));
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Auth> {
        let auth = authenticate(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>() {
            slot.set(Some(auth.user_id), &auth.username, Some(auth.org_id));
        }
        Ok(auth)
    }
}

/// A credential's row with its user and the user's organization, in one query.
async fn with_account<E: EntityTrait>(
    db: &impl ConnectionTrait,
    credential: sea_orm::Select<E>,
    user_col: E::Column,
) -> Result<Option<(E::Model, Option<user::Model>, Option<org::Model>)>> {
    Ok(credential
        .join(JoinType::LeftJoin, E::belongs_to(user::Entity).from(user_col).to(user::Column::Id).into())
        .select_also(user::Entity)
        .join(
            JoinType::LeftJoin,
            user::Entity::belongs_to(org::Entity).from(user::Column::OrgId).to(org::Column::Id).into(),
        )
        .select_also(org::Entity)
        .one(db)
        .await?)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Auth> {
    let now = now_ms();
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let (user, org, via, csrf) = if let Some(token) = bearer {
        let q = api_token::Entity::find().filter(api_token::Column::TokenHash.eq(token_hash(token.trim())));
        let (found, user, org) = with_account(&state.read, q, api_token::Column::UserId)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API token"))?;
        if now.saturating_sub(found.last_used) > 60_000 {
            let mut active: api_token::ActiveModel = found.into();
            active.last_used = Set(now);
            active.update(&state.db).await?;
        }
        (user, org, Via::Token, None)
    } else {
        let cookie =
            cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| ApiError::unauthorized("log in first"))?;
        let q = session::Entity::find().filter(session::Column::TokenHash.eq(token_hash(&cookie)));
        let (found, user, org) = with_account(&state.read, q, session::Column::UserId)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the session has ended; log in again"))?;
        let idle = i64::try_from(state.config.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(found.last_seen) > idle {
            session::Entity::delete_by_id(found.id).exec(&state.db).await?;
            return Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "session_expired",
                "the session ended after inactivity; log in again",
            ));
        }
        if !parts.method.is_safe() {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), found.csrf.as_bytes()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    format!("a state-changing request with a session cookie needs the {CSRF_HEADER} header"),
                ));
            }
        }
        let csrf = found.csrf.clone();
        // Activity is written at most every tenth of the idle timeout (at
        // most every 10 s), not on every request: reads stay reads.
        if now.saturating_sub(found.last_seen) > (idle / 10).min(10_000) {
            let mut active: session::ActiveModel = found.into();
            active.last_seen = Set(now);
            active.update(&state.db).await?;
        }
        (user, org, Via::Session, Some(csrf))
    };
    let user = user.ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    if user.status != UserStatus::Active {
        return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "frozen", "the account is frozen"));
    }
    let org = org.ok_or_else(|| ApiError::unauthorized("the account's organization no longer exists"))?;
    let (perms, roles) = user_perms_on(&state.read, &user, &org).await?;
    Ok(Auth {
        user_id: user.id,
        username: user.username,
        org_id: org.id,
        org_domain: org.domain,
        org_status: org.status,
        platform: org.is_platform,
        perms,
        roles,
        via,
        csrf,
    })
}

/// The permissions a user holds through its roles. Platform-only
/// permissions count only in the platform organization, whatever a custom
/// role says.
pub async fn user_perms(
    state: &AppState,
    user: &user::Model,
    org: &org::Model,
) -> Result<(BTreeSet<Perm>, Vec<String>)> {
    user_perms_on(&state.db, user, org).await
}

async fn user_perms_on(
    db: &impl ConnectionTrait,
    user: &user::Model,
    org: &org::Model,
) -> Result<(BTreeSet<Perm>, Vec<String>)> {
    // One query: the user's role rows joined to the roles.
    let roles = role::Entity::find()
        .join_rev(
            JoinType::InnerJoin,
            user_role::Entity::belongs_to(role::Entity)
                .from(user_role::Column::RoleId)
                .to(role::Column::Id)
                .into(),
        )
        .filter(user_role::Column::UserId.eq(user.id))
        .all(db)
        .await?;
    let mut perms = BTreeSet::new();
    let mut names = Vec::new();
    for r in roles {
        perms.extend(
            rbac::parse_perms(&r.permissions).into_iter().filter(|p| org.is_platform || !p.platform_only()),
        );
        names.push(r.name);
    }
    Ok((perms, names))
}

/// Reads one cookie from the request.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|kv| {
            let (k, val) = kv.trim().split_once('=')?;
            (k == name).then(|| val.to_owned())
        })
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The stored form of a session or API token: its SHA-256, so a database
/// leak gives no usable credentials.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random secret (session, CSRF or API token), 32 bytes hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal("hashing a password", e))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    verify_password_in(password, stored, &mut Vec::new())
}

/// [`verify_password`] in `memory`, argon2's working memory (19 MiB with
/// the default parameters), grown as the hash's parameters need and kept
/// by the caller for the next verification: mapping and faulting in fresh
/// memory each time costs about a quarter of a verification. Salt, output
/// length, algorithm, version and cost all come from the stored PHC
/// string; the outputs are compared in constant time.
pub fn verify_password_in(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(h.algorithm) else { return false };
    let Ok(version) = h.version.map_or(Ok(Version::V0x13), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&h) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Working memory for verifications, one per permit at most (see
/// [`argon2_permits`]): a login storm reuses two buffers instead of
/// mapping 19 MiB two hundred times.
fn argon2_memory() -> &'static std::sync::Mutex<Vec<Vec<Block>>> {
    static MEMORY: std::sync::OnceLock<std::sync::Mutex<Vec<Vec<Block>>>> = std::sync::OnceLock::new();
    MEMORY.get_or_init(Default::default)
}

/// At most one argon2 computation per core at a time: each takes tens of
/// milliseconds of CPU and 19 MiB of memory, so a login storm queues here
/// instead of thrashing (200 at once would otherwise hold 3.8 GiB).
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        )
    })
}

/// [`hash_password`] on a blocking thread: argon2 must not stall the async
/// workers.
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    let _permit =
        argon2_permits().acquire().await.map_err(|e| ApiError::internal("hashing a password", e))?;
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::internal("hashing a password", e))?
}

/// [`verify_password`] on a blocking thread.
pub async fn verify(password: &str, stored: &str) -> bool {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    let Ok(_permit) = argon2_permits().acquire().await else { return false };
    let mut memory = argon2_memory().lock().map(|mut m| m.pop()).ok().flatten().unwrap_or_default();
    let Ok((ok, memory)) = tokio::task::spawn_blocking(move || {
        let ok = verify_password_in(&password, &stored, &mut memory);
        (ok, memory)
    })
    .await
    else {
        return false;
    };
    if let Ok(mut pool) = argon2_memory().lock() {
        pool.push(memory);
    }
    ok
}

/// A hash to verify against when the user does not exist, so a wrong
/// username takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password-Aa1!").unwrap_or_default())
}

/// Password complexity (GB/T 22239 level 3): at least 10 characters, at
/// most 128, three of the four classes (lower, upper, digit, symbol), and
/// not containing the username.
pub fn check_password_policy(password: &str, username: &str) -> Result<()> {
    let n = password.chars().count();
    if !(10..=128).contains(&n) {
        return Err(ApiError::invalid("the password must be 10 to 128 characters long"));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Err(ApiError::invalid(
            "the password needs three of: lower-case letters, upper-case letters, digits, symbols",
        ));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(ApiError::invalid("the password must not contain the username"));
    }
    if password.chars().any(char::is_control) {
        return Err(ApiError::invalid("the password must not contain control characters"));
    }
    Ok(())
}

/// A random password that meets the policy (shown once to whoever creates
/// the account).
pub fn random_password() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"-_.!%+=";
    let mut rng = rand::thread_rng();
    let mut pick = |set: &[u8]| set[rng.gen_range(0..set.len())] as char;
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, SYMBOL].concat();
    let mut out: Vec<char> = vec![pick(LOWER), pick(UPPER), pick(DIGIT), pick(SYMBOL)];
    out.extend((0..12).map(|_| pick(&all)));
    use rand::seq::SliceRandom;
    out.shuffle(&mut rand::thread_rng());
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert!(check_password_policy("Short1!", "zed").is_err());
        assert!(check_password_policy("alllowercaseletters", "zed").is_err());
        assert!(check_password_policy("lowerUPPER1234", "zed").is_ok());
        assert!(check_password_policy("alice-Secret-1", "alice").is_err());
        for _ in 0..200 {
            let p = random_password();
            assert!(check_password_policy(&p, "admin").is_ok(), "{p}");
        }
    }

    #[test]
    fn hashes_verify_and_salt() {
        let a = hash_password("Correct-Horse-9").unwrap();
        let b = hash_password("Correct-Horse-9").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-9", &a));
        assert!(!verify_password("Correct-Horse-8", &a));
        assert!(!verify_password("x", "not a phc string"));
    }

    /// One working memory serves hashes of any parameters, algorithm and
    /// version, and agrees with the crate's own verifier.
    #[test]
    fn reused_memory_verifies_any_parameters() {
        use argon2::PasswordVerifier;
        let mut memory = Vec::new();
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, version, m, t) in [
            (Algorithm::Argon2id, Version::V0x13, 19 * 1024, 2),
            (Algorithm::Argon2id, Version::V0x13, 8 * 1024, 1),
            (Algorithm::Argon2i, Version::V0x10, 4 * 1024, 3),
            (Algorithm::Argon2d, Version::V0x13, 12 * 1024, 1),
        ] {
            let params = Params::new(m, t, 1, Some(24)).unwrap();
            let argon = Argon2::new(algorithm, version, params);
            let stored = argon.hash_password(b"Correct-Horse-9", &salt).unwrap().to_string();
            let parsed = PasswordHash::new(&stored).unwrap();
            assert!(argon.verify_password(b"Correct-Horse-9", &parsed).is_ok());
            assert!(verify_password_in("Correct-Horse-9", &stored, &mut memory), "{stored}");
            assert!(!verify_password_in("Correct-Horse-8", &stored, &mut memory), "{stored}");
            // A changed output byte is refused.
            let tampered = format!("{}A", &stored[..stored.len() - 1]);
            if tampered != stored {
                assert!(!verify_password_in("Correct-Horse-9", &tampered, &mut memory));
            }
        }
        assert!(memory.len() >= 19 * 1024);
        assert!(!verify_password_in("Correct-Horse-9", "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$", &mut memory));
    }
}
