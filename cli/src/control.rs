//! The control-plane verbs (SPEC API-4): log in once, then manage
//! organizations, users, resource requests and their approval, chains,
//! nodes, invitations, messages and the operation log from scripts or a
//! terminal. A thin typed client of the REST API that `govchain up` (or a
//! deployed platform) serves; every decision stays with the API.
//!
//! Not here: talking to chain nodes themselves (`govchain tx`, `block`,
//! `status`), which needs a node URL, not the control plane.

mod alerts;
mod client;
mod logs;
mod show;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use govchain_api::{
    audit::{OplogEntry, VerifyReport},
    domain::{ChainRequest, ContractGovernanceView, NodesRequest, RequestSpec, ResourcesView},
    routes::{
        auth::{MeView, NewToken},
        chains::{ChainView, NodeView},
        invitations::InvitationView,
        messages::MessageView,
        orgs::{CreatedOrg, OrgView},
        requests::RequestView,
        roles::RoleView,
        users::{CreatedUser, UserView},
    },
};
use serde_json::{Value, json};

pub use client::ApiFailure;
use client::{Api, StoredLogin, connect, decode};
use show::{opt, or_dash, table, time};

/// Options every control-plane verb takes.
#[derive(Args, Debug, Clone)]
pub struct ApiOpts {
    /// Control-plane URL; default: the one `govchain login` stored. The
    /// stored token is only sent to that URL; elsewhere set GOVCHAIN_TOKEN.
    #[arg(long, env = "GOVCHAIN_API", global = true, help_heading = "Control plane")]
    pub api: Option<String>,
    /// Print the API's JSON instead of a table (on failure: its error body).
    #[arg(long, global = true, help_heading = "Control plane")]
    pub json: bool,
}

/// Which page of a list: the newest first, `--before` the last id seen
/// for the next page.
#[derive(Args, Debug, Clone, Default)]
pub struct PageOpts {
    /// At most this many (the API's default is 50, at most 500).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub limit: Option<u64>,
    /// Only entries older than this id (the next page).
    #[arg(long)]
    pub before: Option<i64>,
}

impl PageOpts {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        q.extend(self.limit.map(|l| ("limit", l.to_string())));
        q.extend(self.before.map(|b| ("before", b.to_string())));
        q
    }
}

/// Resources per node.
#[derive(Args, Debug, Clone)]
pub struct ResourceArgs {
    /// CPU per node, millicores (50 to 64000).
    #[arg(long, default_value_t = 500)]
    pub cpu_millis: u32,
    /// Memory per node, MiB (64 to 262144).
    #[arg(long, default_value_t = 256)]
    pub memory_mb: u32,
    /// Storage per node, MiB (64 to 16777216).
    #[arg(long, default_value_t = 1024)]
    pub storage_mb: u32,
}

impl ResourceArgs {
    fn view(&self) -> ResourcesView {
        ResourcesView { cpu_millis: self.cpu_millis, memory_mb: self.memory_mb, storage_mb: self.storage_mb }
    }
}

/// The control-plane verbs at the top level of `govchain`.
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Log in to a control plane and keep an API token for the other verbs.
    ///
    /// Creates an API token `cli@<host>` and keeps `{api, token}` in
    /// $GOVCHAIN_CONFIG or ~/.config/govchain/cli.json (mode 0600). The
    /// password comes from --password, GOVCHAIN_PASSWORD, a prompt at a
    /// terminal, or the first line of stdin. The other control-plane verbs
    /// use the stored login; --api (GOVCHAIN_API) and GOVCHAIN_TOKEN
    /// override it.
    Login(LoginArgs),
    /// Revoke the stored API token and remove the config file.
    Logout,
    /// Change your password.
    ///
    /// The old and new passwords come from GOVCHAIN_PASSWORD and
    /// GOVCHAIN_NEW_PASSWORD, else prompts at a terminal, else two lines of
    /// stdin.
    Passwd {
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Who the token acts as: user, organization, roles, permissions.
    Whoami {
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Organizations (departments): list, create, review registrations.
    Org(OrgArgs),
    /// Users of your organization (all of them for the platform operator).
    User(UserArgs),
    /// Roles and their permissions.
    Role(RoleArgs),
    /// Request resources (a new chain, or more nodes) and follow a request.
    Request(RequestArgs),
    /// List resource requests.
    ///
    /// The platform operator sees every organization's; the approval queue
    /// is `--status pending`.
    Requests {
        /// Only requests in this status (pending, provisioning, running,
        /// failed, rejected, cancelled).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageOpts,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Approve a pending request (platform operator).
    ///
    /// The platform then provisions it; follow it with `govchain request
    /// show ID --wait`.
    Approve {
        /// Request id.
        id: i64,
        /// Your opinion, kept with the request.
        #[arg(long, default_value = "")]
        opinion: String,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Reject a pending request (platform operator).
    Reject {
        /// Request id.
        id: i64,
        /// Why (the requester reads it).
        #[arg(long)]
        opinion: String,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// List the chains you can see.
    Chains {
        #[command(flatten)]
        api: ApiOpts,
    },
    /// One chain: show, stop, start, restart, delete, block policy.
    Chain(ChainArgs),
    /// Invite another organization onto a chain you created.
    Invite {
        /// Chain id or name.
        chain: String,
        /// The invited organization's domain, e.g. tax.gov.
        #[arg(long)]
        org: String,
        /// A note for them.
        #[arg(long, default_value = "")]
        message: String,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Invitations sent and received by your organization.
    Invitations {
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Answer an invitation.
    Invitation(InvitationArgs),
    /// Your organization's message centre.
    Messages {
        /// Only unread messages.
        #[arg(long)]
        unread: bool,
        /// Mark the listed messages read.
        #[arg(long)]
        mark_read: bool,
        #[command(flatten)]
        page: PageOpts,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// The operation log: list, export, verify.
    ///
    /// Without a subcommand: entries newest first. `export` writes CSV;
    /// `verify` checks the hash chain and exits non-zero if it is broken.
    Audit(AuditArgs),
    /// A node's log (or with --platform the platform's): search, follow,
    /// download a day.
    ///
    /// `govchain logs CHAIN NODE [--type run|system|error] [--grep PATTERN
    /// [--regex]] [--since 1h] [--follow]`; `--download YYYY-MM-DD` writes
    /// that day's file (one of the last 30 days).
    Logs(logs::LogsArgs),
    /// Show or change a node's log level at run time (or with --platform
    /// the platform's): `govchain log-level CHAIN NODE [LEVEL]`.
    LogLevel(logs::LogLevelArgs),
    /// Alerts of your organization's chains: list, acknowledge, notifications.
    ///
    /// Without a subcommand: alerts newest first (`--state firing` for the
    /// open ones).
    Alerts(alerts::AlertsArgs),
    /// Alert rules: list, show, create or update from a JSON or YAML file,
    /// enable, disable, delete.
    AlertRules(alerts::AlertRulesArgs),
}

/// `govchain login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Control-plane URL, as `govchain up` prints it (`url=`).
    #[arg(long, env = "GOVCHAIN_API")]
    pub api: String,
    /// User name.
    #[arg(long)]
    pub user: String,
    /// Password. On a shared machine prefer GOVCHAIN_PASSWORD, the prompt
    /// or stdin: command lines are visible to other users.
    #[arg(long, env = "GOVCHAIN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// `govchain org`.
#[derive(Args, Debug)]
pub struct OrgArgs {
    #[command(subcommand)]
    cmd: OrgCmd,
    #[command(flatten)]
    api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum OrgCmd {
    /// List organizations.
    List,
    /// Create an organization with its first admin (platform operator);
    /// prints the admin's initial password once.
    Create {
        /// Name, e.g. "Tax Bureau".
        #[arg(long)]
        name: String,
        /// Unique domain, e.g. tax.gov; it names the organization's nodes.
        #[arg(long)]
        domain: String,
        /// Description.
        #[arg(long, default_value = "")]
        description: String,
        /// The admin's user name.
        #[arg(long)]
        admin_username: String,
        /// The admin's real name.
        #[arg(long)]
        admin_real_name: String,
    },
    /// Approve or reject a self-registered organization (platform operator).
    Review {
        /// Organization id or domain.
        org: String,
        /// Approve it.
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        /// Reject it.
        #[arg(long)]
        reject: bool,
        /// Your opinion, shown to the organization.
        #[arg(long, default_value = "")]
        opinion: String,
    },
}

/// `govchain user`.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    cmd: UserCmd,
    #[command(flatten)]
    api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum UserCmd {
    /// List users.
    List,
    /// Create a user; prints the initial password once.
    Create {
        /// Login name (3 to 64 of a-z A-Z 0-9 . _ -).
        #[arg(long)]
        username: String,
        /// Real name.
        #[arg(long)]
        real_name: String,
        /// Role name (repeatable), e.g. chain_operator; see `govchain role list`.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Organization id (platform operator only; others create in their own).
        #[arg(long)]
        org: Option<i64>,
    },
    /// Freeze a user: no logins, tokens stop working.
    Freeze {
        /// User id or user name.
        user: String,
    },
    /// Unfreeze a user.
    Unfreeze {
        /// User id or user name.
        user: String,
    },
    /// Set a new random password; prints it once.
    ResetPassword {
        /// User id or user name.
        user: String,
    },
}

/// `govchain role`.
#[derive(Args, Debug)]
pub struct RoleArgs {
    #[command(subcommand)]
    cmd: RoleCmd,
    #[command(flatten)]
    api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum RoleCmd {
    /// Built-in roles and your organization's custom roles.
    List,
}

/// `govchain request`.
#[derive(Args, Debug)]
pub struct RequestArgs {
    #[command(subcommand)]
    cmd: RequestCmd,
    #[command(flatten)]
    api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum RequestCmd {
    /// Request a new chain with your organization's nodes; prints `request=<id>`.
    Chain {
        /// Chain name: 1-40 of a-z, 0-9, '-'.
        #[arg(long)]
        name: String,
        /// Your organization's nodes.
        #[arg(long, default_value_t = 4)]
        nodes: u32,
        /// `raft` (crash fault tolerant), `hotstuff` (Byzantine fault
        /// tolerant: n nodes tolerate floor((n-1)/3) lying ones), or `solo`
        /// for a single node.
        #[arg(long, default_value = "raft")]
        consensus: String,
        /// Crypto suite: gm, intl-k1 or intl-r1.
        #[arg(long, default_value = "gm")]
        suite: String,
        /// Node limit across all member organizations (default: 16, or --nodes if more).
        #[arg(long)]
        max_nodes: Option<u32>,
        #[command(flatten)]
        resources: ResourceArgs,
        /// Contract actions that need a proposal and votes: any of deploy,
        /// upgrade, freeze, unfreeze, acl (comma-separated).
        #[arg(long, value_delimiter = ',')]
        governed: Vec<String>,
        /// The organizations (domains) that propose and vote (default: the
        /// organization running the first nodes).
        #[arg(long, value_delimiter = ',')]
        governance_members: Vec<String>,
        /// Approvals a proposal needs (default: a majority of the members).
        #[arg(long, default_value_t = 0)]
        threshold: u32,
        /// What the chain is for (the approver reads it).
        #[arg(long)]
        purpose: String,
    },
    /// Request more of your organization's nodes on a chain it is a member
    /// of; prints `request=<id>`.
    Nodes {
        /// Chain id or name.
        #[arg(long)]
        chain: String,
        /// How many nodes.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Non-voting backup nodes (ledger copies) instead of consensus nodes.
        #[arg(long)]
        backup: bool,
        #[command(flatten)]
        resources: ResourceArgs,
        /// What the nodes are for.
        #[arg(long)]
        purpose: String,
    },
    /// One request with its provisioning progress.
    Show {
        /// Request id.
        id: i64,
        /// Wait until it is running (exit 0) or failed, rejected or
        /// cancelled (exit non-zero), printing progress to stderr.
        #[arg(long)]
        wait: bool,
        /// Longest wait, seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Withdraw your pending request.
    Cancel {
        /// Request id.
        id: i64,
    },
}

/// `govchain chain`.
#[derive(Args, Debug)]
pub struct ChainArgs {
    #[command(subcommand)]
    cmd: ChainCmd,
    #[command(flatten)]
    api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum ChainCmd {
    /// A chain with its members and nodes, live height and leader.
    Show {
        /// Chain id or name.
        chain: String,
    },
    /// Stop every node (data is kept).
    Stop {
        /// Chain id or name.
        chain: String,
    },
    /// Start every node; returns once the chain answers.
    Start {
        /// Chain id or name.
        chain: String,
    },
    /// Restart every node.
    Restart {
        /// Chain id or name.
        chain: String,
    },
    /// Delete the chain: its nodes stop and their data is removed.
    Delete {
        /// Chain id or name.
        chain: String,
    },
    /// Change the block policy online (unset values stay as they are).
    Policy {
        /// Chain id or name.
        chain: String,
        /// Most transactions per block (1 to 100000).
        #[arg(long)]
        max_txs: Option<usize>,
        /// Most payload bytes per block (1024 to 67108864).
        #[arg(long)]
        max_bytes: Option<usize>,
        /// Longest wait for more transactions once one is pending, ms (0 to 10000).
        #[arg(long)]
        max_wait_ms: Option<u64>,
    },
}

/// `govchain node` verbs of the control plane (next to the hidden `node run`).
#[derive(Subcommand, Debug)]
pub enum NodeVerb {
    /// Add one of your organization's nodes to a chain (within your quota);
    /// prints `node=<id>`.
    Add {
        /// Chain id or name.
        chain: String,
        /// A non-voting backup node (ledger copy).
        #[arg(long)]
        backup: bool,
        #[command(flatten)]
        resources: ResourceArgs,
        #[command(flatten)]
        api: ApiOpts,
    },
    /// Remove a node (it leaves consensus first); its data is removed.
    Remove(NodeRef),
    /// Stop a node.
    Stop(NodeRef),
    /// Start a node.
    Start(NodeRef),
    /// Restart a node.
    Restart(NodeRef),
    /// Download a node's configuration and certificates as a tar archive.
    Bundle {
        #[command(flatten)]
        node: NodeRef,
        /// Where to write the archive.
        #[arg(long)]
        out: PathBuf,
        /// Include the node's private key (the file is then mode 0600).
        #[arg(long)]
        include_key: bool,
    },
    /// The tail of a node's log.
    Log {
        #[command(flatten)]
        node: NodeRef,
        /// How many lines.
        #[arg(long, default_value_t = 200)]
        lines: usize,
    },
}

/// A node of a chain.
#[derive(Args, Debug)]
pub struct NodeRef {
    /// Chain id or name.
    chain: String,
    /// Node id or name (e.g. node0.market.gov).
    node: String,
    #[command(flatten)]
    api: ApiOpts,
}

/// `govchain invitation`.
#[derive(Args, Debug)]
pub struct InvitationArgs {
    #[command(subcommand)]
    cmd: InvitationCmd,
    #[command(flatten)]
    api: ApiOpts,
}

#[derive(Subcommand, Debug)]
enum InvitationCmd {
    /// Join the chain.
    Accept {
        /// Invitation id.
        id: i64,
    },
    /// Decline.
    Decline {
        /// Invitation id.
        id: i64,
    },
}

/// `govchain audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: Option<AuditCmd>,
    #[command(flatten)]
    filter: AuditFilter,
    #[command(flatten)]
    api: ApiOpts,
}

/// Which operation log entries.
#[derive(Args, Debug, Clone)]
struct AuditFilter {
    /// Only this actor (user name).
    #[arg(long, global = true)]
    actor: Option<String>,
    /// Only actions containing this text, e.g. `approve`.
    #[arg(long, global = true)]
    action: Option<String>,
    /// Only this result (`ok`, `forbidden`, ...).
    #[arg(long, global = true)]
    result: Option<String>,
    /// Only this organization id (platform operator; others see their own).
    #[arg(long, global = true)]
    org: Option<i64>,
    /// Most entries, newest first (list: default 100).
    #[arg(long, global = true)]
    limit: Option<u64>,
}

impl AuditFilter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let text = [("actor", &self.actor), ("action", &self.action), ("result", &self.result)];
        for (k, v) in text {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        if let Some(o) = self.org {
            q.push(("org_id", o.to_string()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        q
    }
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Write the entries as CSV (default: every entry).
    Export {
        /// The CSV file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the hash chain of the whole log; exits non-zero if broken.
    Verify,
}

/// Prints `raw` as JSON with `--json`, else the human form.
fn emit(json: bool, raw: &Value, human: impl FnOnce() -> anyhow::Result<String>) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(raw)?);
    } else {
        print!("{}", human()?);
    }
    Ok(())
}

/// With `--json`, a failed call's error body goes to stdout too, so a
/// script reads `{code, message}` where it reads answers.
fn report_failure(json: bool, result: anyhow::Result<()>) -> anyhow::Result<()> {
    if json
        && let Err(e) = &result
        && let Some(f) = e.downcast_ref::<ApiFailure>()
        && let Ok(s) = serde_json::to_string_pretty(&f.body)
    {
        println!("{s}");
    }
    result
}

/// Runs a top-level control-plane verb.
pub async fn run(verb: Verb) -> anyhow::Result<()> {
    let json = match &verb {
        Verb::Login(_) | Verb::Logout => false,
        Verb::Passwd { api }
        | Verb::Whoami { api }
        | Verb::Requests { api, .. }
        | Verb::Approve { api, .. }
        | Verb::Reject { api, .. }
        | Verb::Chains { api }
        | Verb::Invite { api, .. }
        | Verb::Invitations { api }
        | Verb::Messages { api, .. }
        | Verb::Org(OrgArgs { api, .. })
        | Verb::User(UserArgs { api, .. })
        | Verb::Role(RoleArgs { api, .. })
        | Verb::Request(RequestArgs { api, .. })
        | Verb::Chain(ChainArgs { api, .. })
        | Verb::Invitation(InvitationArgs { api, .. })
        | Verb::Audit(AuditArgs { api, .. }) => api.json,
        Verb::Logs(args) => args.json(),
        Verb::LogLevel(args) => args.json(),
        Verb::Alerts(a) => a.api.json,
        Verb::AlertRules(a) => a.api.json,
    };
    report_failure(json, dispatch(verb).await)
}

async fn dispatch(verb: Verb) -> anyhow::Result<()> {
    match verb {
        Verb::Login(args) => login(args).await,
        Verb::Logout => logout().await,
        Verb::Passwd { api } => passwd(&api).await,
        Verb::Whoami { api } => whoami(&api).await,
        Verb::Org(args) => org(args).await,
        Verb::User(args) => user(args).await,
        Verb::Role(RoleArgs { cmd: RoleCmd::List, api }) => roles(&api).await,
        Verb::Request(args) => request(args).await,
        Verb::Requests { status, page, api } => requests(&api, status, page).await,
        Verb::Approve { id, opinion, api } => decide(&api, id, "approve", opinion).await,
        Verb::Reject { id, opinion, api } => decide(&api, id, "reject", opinion).await,
        Verb::Chains { api } => chains(&api).await,
        Verb::Chain(args) => chain(args).await,
        Verb::Invite { chain, org, message, api } => invite(&api, &chain, org, message).await,
        Verb::Invitations { api } => invitations(&api).await,
        Verb::Invitation(InvitationArgs { cmd, api }) => {
            let (id, answer) = match cmd {
                InvitationCmd::Accept { id } => (id, "accept"),
                InvitationCmd::Decline { id } => (id, "decline"),
            };
            answer_invitation(&api, id, answer).await
        }
        Verb::Messages { unread, mark_read, page, api } => messages(&api, unread, mark_read, page).await,
        Verb::Audit(args) => audit(args).await,
        Verb::Logs(args) => logs::logs(args).await,
        Verb::LogLevel(args) => logs::log_level(args).await,
        Verb::Alerts(args) => alerts::alerts(args).await,
        Verb::AlertRules(args) => alerts::alert_rules(args).await,
    }
}

// ---- account ----

async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = match args.password {
        Some(p) => p,
        None => client::read_password(&args.user)?,
    };
    let session = Api::login(&args.api, &args.user, &password).await?;
    let name: String = format!("cli@{}", client::hostname()).chars().take(64).collect();
    let created: NewToken = decode(&session.post("/api/v1/tokens", &json!({ "name": name })).await?)?;
    // The token is what the CLI uses from now on; the session is not needed.
    if let Err(e) = session.call(reqwest::Method::POST, "/api/v1/auth/logout", &[], None).await {
        eprintln!("note: ending the login session failed ({e:#}); it expires on its own");
    }
    let api = Api::with_token(session.base(), &created.secret)?;
    let me: MeView = decode(&api.get("/api/v1/auth/me").await?)?;
    let path = client::config_path()?;
    // A token of an earlier login on this config would stay valid forever
    // unused; revoke it (best effort: it may be gone already).
    if let Ok(Some(old)) = client::load(&path)
        && let (Ok(old_api), Some(id)) = (client::normalize(&old.api), old.token_id)
        && old_api == api.base()
        && let Ok(old_client) = Api::with_token(&old_api, &old.token)
    {
        let _ = old_client.delete(&format!("/api/v1/tokens/{id}")).await;
    }
    client::store(
        &path,
        &StoredLogin {
            api: api.base().to_owned(),
            token: created.secret,
            token_id: Some(created.token.id),
            user: me.user.username.clone(),
        },
    )?;
    println!(
        "user={} org={} api={} token={} config={}",
        me.user.username,
        me.org.domain,
        api.base(),
        created.token.name,
        path.display()
    );
    if me.user.must_change_password {
        eprintln!("note: your password was set by an administrator; change it with `govchain passwd`");
    }
    Ok(())
}

async fn logout() -> anyhow::Result<()> {
    let path = client::config_path()?;
    let Some(stored) = client::load(&path)? else {
        println!("not logged in ({} does not exist)", path.display());
        return Ok(());
    };
    if let Some(id) = stored.token_id {
        let api = Api::with_token(&stored.api, &stored.token)?;
        match api.delete(&format!("/api/v1/tokens/{id}")).await {
            Ok(()) => {}
            // Revoked or its user removed already: nothing left to revoke.
            Err(e) if e.downcast_ref::<ApiFailure>().is_some_and(|f| matches!(f.status, 401 | 404)) => {}
            Err(e) => {
                return Err(e.context(format!(
                    "cannot revoke the token at {}; {} is kept so you can retry (delete it to forget the token unrevoked)",
                    stored.api,
                    path.display()
                )));
            }
        }
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    println!("logged out of {}: token revoked, {} removed", stored.api, path.display());
    Ok(())
}

fn password_from(env: &str, prompt: &str) -> anyhow::Result<String> {
    match std::env::var(env) {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => client::read_password(prompt),
    }
}

async fn passwd(opts: &ApiOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let old = password_from("GOVCHAIN_PASSWORD", "your current password")?;
    let new = password_from("GOVCHAIN_NEW_PASSWORD", "the new password")?;
    let raw = api.post("/api/v1/auth/password", &json!({"old_password": old, "new_password": new})).await?;
    emit(opts.json, &raw, || Ok("password changed\n".into()))
}

fn perm_names(perms: &[govchain_api::rbac::Perm]) -> String {
    let names: Vec<String> = perms
        .iter()
        .map(|p| serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
        .collect();
    if names.is_empty() { "-".into() } else { names.join(", ") }
}

async fn whoami(opts: &ApiOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let raw = api.get("/api/v1/auth/me").await?;
    emit(opts.json, &raw, || {
        let me: MeView = decode(&raw)?;
        let (u, o) = (&me.user, &me.org);
        Ok(format!(
            "user={} org={}\nname:          {} (user {})\norganization:  {} ({}, org {}, {}{})\nroles:         {}\npermissions:   {}\napi:           {}\n",
            u.username,
            o.domain,
            u.real_name,
            u.id,
            o.name,
            o.domain,
            o.id,
            o.status,
            if o.is_platform { ", platform operator" } else { "" },
            if u.roles.is_empty() { "-".into() } else { u.roles.join(", ") },
            perm_names(&me.permissions),
            api.base()
        ))
    })
}

// ---- organizations, users, roles ----

async fn resolve_org(api: &Api, s: &str) -> anyhow::Result<i64> {
    if let Ok(id) = s.parse() {
        return Ok(id);
    }
    let orgs: Vec<OrgView> = decode(&api.get("/api/v1/orgs").await?)?;
    orgs.iter()
        .find(|o| o.domain == s)
        .map(|o| o.id)
        .with_context(|| format!("no organization with domain `{s}` (see `govchain org list`)"))
}

async fn org(args: OrgArgs) -> anyhow::Result<()> {
    let OrgArgs { cmd, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    match cmd {
        OrgCmd::List => {
            let raw = api.get("/api/v1/orgs").await?;
            emit(opts.json, &raw, || {
                let orgs: Vec<OrgView> = decode(&raw)?;
                let rows: Vec<Vec<String>> = orgs
                    .iter()
                    .map(|o| {
                        vec![
                            o.id.to_string(),
                            o.domain.clone(),
                            o.name.clone(),
                            o.status.clone(),
                            if o.is_platform { "platform".into() } else { "-".into() },
                            time(o.created_at),
                        ]
                    })
                    .collect();
                Ok(table(&["ID", "DOMAIN", "NAME", "STATUS", "KIND", "CREATED"], &rows))
            })
        }
        OrgCmd::Create { name, domain, description, admin_username, admin_real_name } => {
            let body = json!({"name": name, "domain": domain, "description": description,
                "admin_username": admin_username, "admin_real_name": admin_real_name});
            let raw = api.post("/api/v1/orgs", &body).await?;
            emit(opts.json, &raw, || {
                let c: CreatedOrg = decode(&raw)?;
                eprintln!(
                    "note: the password is shown only now; the admin should change it after logging in"
                );
                Ok(format!(
                    "org={} domain={} admin={} password={}\n",
                    c.org.id, c.org.domain, c.admin.username, c.initial_password
                ))
            })
        }
        OrgCmd::Review { org, approve, reject: _, opinion } => {
            let id = resolve_org(&api, &org).await?;
            let raw = api
                .post(&format!("/api/v1/orgs/{id}/review"), &json!({"approve": approve, "opinion": opinion}))
                .await?;
            emit(opts.json, &raw, || {
                let o: OrgView = decode(&raw)?;
                Ok(format!("org={} domain={} status={}\n", o.id, o.domain, o.status))
            })
        }
    }
}

async fn resolve_user(api: &Api, s: &str) -> anyhow::Result<i64> {
    if let Ok(id) = s.parse() {
        return Ok(id);
    }
    let users: Vec<UserView> = decode(&api.get("/api/v1/users").await?)?;
    users
        .iter()
        .find(|u| u.username == s)
        .map(|u| u.id)
        .with_context(|| format!("no user `{s}` you may manage (see `govchain user list`)"))
}

fn user_line(u: &UserView) -> String {
    format!("user={} username={} status={}\n", u.id, u.username, u.status)
}

async fn user(args: UserArgs) -> anyhow::Result<()> {
    let UserArgs { cmd, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    match cmd {
        UserCmd::List => {
            let raw = api.get("/api/v1/users").await?;
            emit(opts.json, &raw, || {
                let users: Vec<UserView> = decode(&raw)?;
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.id.to_string(),
                            u.username.clone(),
                            u.real_name.clone(),
                            u.org_id.to_string(),
                            u.status.clone(),
                            u.roles.join(","),
                            time(u.last_login_at),
                        ]
                    })
                    .collect();
                Ok(table(&["ID", "USERNAME", "NAME", "ORG", "STATUS", "ROLES", "LAST LOGIN"], &rows))
            })
        }
        UserCmd::Create { username, real_name, roles, org } => {
            let body = json!({"username": username, "real_name": real_name, "roles": roles, "org_id": org});
            let raw = api.post("/api/v1/users", &body).await?;
            emit(opts.json, &raw, || created_user(&raw))
        }
        UserCmd::Freeze { user } => user_action(&api, &opts, &user, "freeze").await,
        UserCmd::Unfreeze { user } => user_action(&api, &opts, &user, "unfreeze").await,
        UserCmd::ResetPassword { user } => {
            let id = resolve_user(&api, &user).await?;
            let raw = api
                .call(reqwest::Method::POST, &format!("/api/v1/users/{id}/reset-password"), &[], None)
                .await?;
            emit(opts.json, &raw, || created_user(&raw))
        }
    }
}

fn created_user(raw: &Value) -> anyhow::Result<String> {
    let c: CreatedUser = decode(raw)?;
    eprintln!("note: the password is shown only now");
    Ok(format!("user={} username={} password={}\n", c.user.id, c.user.username, c.initial_password))
}

async fn user_action(api: &Api, opts: &ApiOpts, user: &str, action: &str) -> anyhow::Result<()> {
    let id = resolve_user(api, user).await?;
    let raw = api.call(reqwest::Method::POST, &format!("/api/v1/users/{id}/{action}"), &[], None).await?;
    emit(opts.json, &raw, || Ok(user_line(&decode(&raw)?)))
}

async fn roles(opts: &ApiOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let raw = api.get("/api/v1/roles").await?;
    emit(opts.json, &raw, || {
        let roles: Vec<RoleView> = decode(&raw)?;
        let rows: Vec<Vec<String>> = roles
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.name.clone(),
                    if r.builtin { "built-in".into() } else { format!("org {}", opt(r.org_id)) },
                    perm_names(&r.permissions),
                ]
            })
            .collect();
        Ok(table(&["ID", "NAME", "KIND", "PERMISSIONS"], &rows))
    })
}

// ---- requests ----

fn what(spec: &RequestSpec) -> String {
    match spec {
        RequestSpec::Chain(c) => {
            format!("chain {}: {} node(s), {}, {}", c.name, c.nodes, c.consensus, c.suite)
        }
        RequestSpec::Nodes(n) => format!("{} {} node(s) on chain {}", n.count, n.role, n.chain_id),
    }
}

fn request_detail(r: &RequestView) -> String {
    let res = match &r.spec {
        RequestSpec::Chain(c) => &c.resources,
        RequestSpec::Nodes(n) => &n.resources,
    };
    let mut s = format!("request={} status={} chain={}\n", r.id, r.status, opt(r.chain_id));
    let lines = [
        ("what", what(&r.spec)),
        (
            "per node",
            format!("{} mCPU, {} MiB memory, {} MiB storage", res.cpu_millis, res.memory_mb, res.storage_mb),
        ),
        ("purpose", r.purpose.clone()),
        ("org", format!("{} (requested by user {})", r.org_id, r.requester_id)),
        ("progress", or_dash(&r.progress)),
        ("opinion", or_dash(&r.opinion)),
        ("error", or_dash(&r.error)),
        ("submitted", time(r.created_at)),
        ("decided", r.decided_at.map_or_else(|| "-".into(), time)),
        ("updated", time(r.updated_at)),
    ];
    for (k, v) in lines {
        let label = format!("{k}:");
        s.push_str(&format!("  {label:<10} {v}\n"));
    }
    s
}

async fn request(args: RequestArgs) -> anyhow::Result<()> {
    let RequestArgs { cmd, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    let (purpose, spec) = match cmd {
        RequestCmd::Chain {
            name,
            nodes,
            consensus,
            suite,
            max_nodes,
            resources,
            governed,
            governance_members,
            threshold,
            purpose,
        } => {
            let governance = (!governed.is_empty() || !governance_members.is_empty() || threshold > 0)
                .then_some(ContractGovernanceView {
                    members: governance_members,
                    threshold,
                    actions: governed,
                    proposal_ttl_blocks: 0,
                });
            let spec = RequestSpec::Chain(ChainRequest {
                name,
                consensus,
                suite,
                nodes,
                max_nodes: max_nodes.unwrap_or(nodes.max(16)),
                block_policy: None,
                resources: resources.view(),
                contract_governance: governance,
            });
            (purpose, spec)
        }
        RequestCmd::Nodes { chain, count, backup, resources, purpose } => {
            let chain_id = resolve_chain(&api, &chain).await?;
            let role = if backup { "backup" } else { "consensus" }.to_owned();
            (purpose, RequestSpec::Nodes(NodesRequest { chain_id, count, role, resources: resources.view() }))
        }
        RequestCmd::Show { id, wait, timeout } => {
            let raw = if wait {
                wait_request(&api, id, Duration::from_secs(timeout), opts.json).await?
            } else {
                api.get(&format!("/api/v1/requests/{id}")).await?
            };
            emit(opts.json, &raw, || Ok(request_detail(&decode(&raw)?)))?;
            if wait {
                let r: RequestView = decode(&raw)?;
                match r.status.as_str() {
                    "running" => {}
                    "failed" => bail!("request {id} failed: {}", r.error),
                    other => bail!("request {id} was {other}: {}", or_dash(&r.opinion)),
                }
            }
            return Ok(());
        }
        RequestCmd::Cancel { id } => {
            let raw =
                api.call(reqwest::Method::POST, &format!("/api/v1/requests/{id}/cancel"), &[], None).await?;
            return emit(opts.json, &raw, || request_line(&raw));
        }
    };
    let body = json!({"purpose": purpose, "spec": spec});
    let raw = api.post("/api/v1/requests", &body).await?;
    emit(opts.json, &raw, || request_line(&raw))
}

fn request_line(raw: &Value) -> anyhow::Result<String> {
    let r: RequestView = decode(raw)?;
    Ok(format!("request={} status={}\n", r.id, r.status))
}

/// Polls a request until it is no longer pending or provisioning.
async fn wait_request(api: &Api, id: i64, limit: Duration, quiet: bool) -> anyhow::Result<Value> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    loop {
        let raw = api.get(&format!("/api/v1/requests/{id}")).await?;
        let r: RequestView = decode(&raw)?;
        // Progress texts often start with the status already.
        let now = if r.progress.starts_with(&r.status) {
            r.progress.clone()
        } else {
            format!("{}: {}", r.status, r.progress)
        };
        if !quiet && now != last {
            eprintln!("request {id} {now}");
            last = now;
        }
        if !matches!(r.status.as_str(), "pending" | "provisioning") {
            return Ok(raw);
        }
        if Instant::now() >= deadline {
            bail!("request {id} is still {} after {} s ({})", r.status, limit.as_secs(), r.progress);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn requests(opts: &ApiOpts, status: Option<String>, page: PageOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let mut query: Vec<(&str, String)> = status.into_iter().map(|s| ("status", s)).collect();
    query.extend(page.query());
    let raw = api.get_with("/api/v1/requests", &query).await?;
    emit(opts.json, &raw, || {
        let list: Vec<RequestView> = decode(&raw)?;
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.org_id.to_string(),
                    what(&r.spec),
                    r.status.clone(),
                    opt(r.chain_id),
                    r.purpose.clone(),
                    time(r.created_at),
                ]
            })
            .collect();
        Ok(table(&["ID", "ORG", "WHAT", "STATUS", "CHAIN", "PURPOSE", "SUBMITTED"], &rows))
    })
}

async fn decide(opts: &ApiOpts, id: i64, verb: &str, opinion: String) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let raw = api.post(&format!("/api/v1/requests/{id}/{verb}"), &json!({ "opinion": opinion })).await?;
    emit(opts.json, &raw, || request_line(&raw))
}

// ---- chains and nodes ----

/// A chain's id from its id, name or chain key.
async fn resolve_chain(api: &Api, s: &str) -> anyhow::Result<i64> {
    if let Ok(id) = s.parse() {
        return Ok(id);
    }
    let chains: Vec<ChainView> = decode(&api.get("/api/v1/chains").await?)?;
    let found: Vec<i64> = chains.iter().filter(|c| c.name == s || c.chain_key == s).map(|c| c.id).collect();
    match found.as_slice() {
        [id] => Ok(*id),
        [] => bail!("no chain named `{s}` that you can see (see `govchain chains`)"),
        ids => bail!("`{s}` names several chains ({ids:?}); give the id"),
    }
}

async fn get_chain(api: &Api, id: i64) -> anyhow::Result<(Value, ChainView)> {
    let raw = api.get(&format!("/api/v1/chains/{id}")).await?;
    let c = decode(&raw)?;
    Ok((raw, c))
}

async fn chains(opts: &ApiOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let raw = api.get("/api/v1/chains").await?;
    emit(opts.json, &raw, || {
        let list: Vec<ChainView> = decode(&raw)?;
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                vec![
                    c.id.to_string(),
                    c.name.clone(),
                    c.chain_key.clone(),
                    c.state.clone(),
                    format!("{} {}", c.consensus, c.suite),
                    format!("{}/{}", c.nodes.len(), c.max_nodes),
                    c.members.iter().map(|m| m.domain.as_str()).collect::<Vec<_>>().join(","),
                    time(c.created_at),
                ]
            })
            .collect();
        Ok(table(&["ID", "NAME", "CHAIN KEY", "STATE", "CONSENSUS", "NODES", "MEMBERS", "CREATED"], &rows))
    })
}

fn node_rows(nodes: &[NodeView]) -> Vec<Vec<String>> {
    nodes
        .iter()
        .map(|n| {
            let live = n.live.as_ref();
            vec![
                n.id.to_string(),
                n.name.clone(),
                n.role.clone(),
                n.state.clone(),
                live.map_or_else(|| "-".into(), |l| format!("{:?}", l.process).to_lowercase()),
                opt(live.and_then(|l| l.height)),
                opt(live.and_then(|l| l.role.clone())),
                n.api_url.clone(),
            ]
        })
        .collect()
}

fn chain_detail(c: &ChainView) -> String {
    let mut s = format!(
        "chain={} name={} key={} state={} height={} leader={}\n",
        c.id,
        c.name,
        c.chain_key,
        c.state,
        opt(c.height),
        opt(c.leader.as_deref())
    );
    let p = &c.block_policy;
    let members: Vec<String> = c.members.iter().map(|m| format!("{} ({})", m.domain, m.name)).collect();
    let lines = [
        ("consensus", format!("{}, {} suite, {} driver", c.consensus, c.suite, c.driver)),
        ("blocks", format!("at most {} txs, {} bytes, {} ms wait", p.max_txs, p.max_bytes, p.max_wait_ms)),
        ("members", members.join(", ")),
        ("nodes", format!("{} of at most {}", c.nodes.len(), c.max_nodes)),
        ("created", time(c.created_at)),
    ];
    for (k, v) in lines {
        let label = format!("{k}:");
        s.push_str(&format!("  {label:<10} {v}\n"));
    }
    s.push('\n');
    s.push_str(&table(
        &["ID", "NAME", "ROLE", "WANTED", "PROCESS", "HEIGHT", "RAFT", "API"],
        &node_rows(&c.nodes),
    ));
    s
}

async fn chain(args: ChainArgs) -> anyhow::Result<()> {
    let ChainArgs { cmd, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    match cmd {
        ChainCmd::Show { chain } => {
            let (raw, c) = get_chain(&api, resolve_chain(&api, &chain).await?).await?;
            emit(opts.json, &raw, || Ok(chain_detail(&c)))
        }
        ChainCmd::Stop { chain } => lifecycle(&api, &opts, &chain, "stop").await,
        ChainCmd::Start { chain } => lifecycle(&api, &opts, &chain, "start").await,
        ChainCmd::Restart { chain } => lifecycle(&api, &opts, &chain, "restart").await,
        ChainCmd::Delete { chain } => {
            let id = resolve_chain(&api, &chain).await?;
            api.delete(&format!("/api/v1/chains/{id}")).await?;
            emit(opts.json, &json!({"id": id, "deleted": true}), || Ok(format!("chain={id} deleted\n")))
        }
        ChainCmd::Policy { chain, max_txs, max_bytes, max_wait_ms } => {
            if max_txs.is_none() && max_bytes.is_none() && max_wait_ms.is_none() {
                bail!("give at least one of --max-txs, --max-bytes, --max-wait-ms");
            }
            let id = resolve_chain(&api, &chain).await?;
            let (_, c) = get_chain(&api, id).await?;
            let p = c.block_policy;
            let body = json!({
                "max_txs": max_txs.unwrap_or(p.max_txs),
                "max_bytes": max_bytes.unwrap_or(p.max_bytes),
                "max_wait_ms": max_wait_ms.unwrap_or(p.max_wait_ms),
            });
            let raw = api.put(&format!("/api/v1/chains/{id}/policy"), &body).await?;
            emit(opts.json, &raw, || {
                let c: ChainView = decode(&raw)?;
                let p = &c.block_policy;
                Ok(format!(
                    "chain={} max_txs={} max_bytes={} max_wait_ms={}\n",
                    c.id, p.max_txs, p.max_bytes, p.max_wait_ms
                ))
            })
        }
    }
}

async fn lifecycle(api: &Api, opts: &ApiOpts, chain: &str, verb: &str) -> anyhow::Result<()> {
    let id = resolve_chain(api, chain).await?;
    let raw = api.call(reqwest::Method::POST, &format!("/api/v1/chains/{id}/{verb}"), &[], None).await?;
    emit(opts.json, &raw, || {
        let c: ChainView = decode(&raw)?;
        Ok(format!("chain={} name={} state={}\n", c.id, c.name, c.state))
    })
}

/// A node's id (and its chain's) from ids or names.
async fn resolve_node(api: &Api, r: &NodeRef) -> anyhow::Result<(i64, i64)> {
    let chain = resolve_chain(api, &r.chain).await?;
    if let Ok(id) = r.node.parse() {
        return Ok((chain, id));
    }
    let (_, c) = get_chain(api, chain).await?;
    c.nodes.iter().find(|n| n.name == r.node).map(|n| (chain, n.id)).with_context(|| {
        format!("chain {chain} has no node `{}` (see `govchain chain show {chain}`)", r.node)
    })
}

/// Runs a `govchain node` control-plane verb.
pub async fn node(verb: NodeVerb) -> anyhow::Result<()> {
    let json = match &verb {
        NodeVerb::Add { api, .. } => api.json,
        NodeVerb::Remove(r) | NodeVerb::Stop(r) | NodeVerb::Start(r) | NodeVerb::Restart(r) => r.api.json,
        NodeVerb::Bundle { node, .. } | NodeVerb::Log { node, .. } => node.api.json,
    };
    report_failure(json, node_dispatch(verb).await)
}

async fn node_dispatch(verb: NodeVerb) -> anyhow::Result<()> {
    match verb {
        NodeVerb::Add { chain, backup, resources, api: opts } => {
            let api = connect(opts.api.as_deref())?;
            let id = resolve_chain(&api, &chain).await?;
            let role = if backup { "backup" } else { "consensus" };
            let body = json!({"role": role, "resources": resources.view()});
            let raw = api.post(&format!("/api/v1/chains/{id}/nodes"), &body).await?;
            emit(opts.json, &raw, || {
                let n: NodeView = decode(&raw)?;
                Ok(format!("node={} name={} role={} api_url={}\n", n.id, n.name, n.role, n.api_url))
            })
        }
        NodeVerb::Remove(r) => {
            let api = connect(r.api.api.as_deref())?;
            let (chain, node) = resolve_node(&api, &r).await?;
            api.delete(&format!("/api/v1/chains/{chain}/nodes/{node}")).await?;
            let raw = json!({"chain_id": chain, "id": node, "removed": true});
            emit(r.api.json, &raw, || Ok(format!("node={node} removed\n")))
        }
        NodeVerb::Stop(r) => node_action(r, "stop").await,
        NodeVerb::Start(r) => node_action(r, "start").await,
        NodeVerb::Restart(r) => node_action(r, "restart").await,
        NodeVerb::Bundle { node, out, include_key } => {
            let api = connect(node.api.api.as_deref())?;
            let (chain, id) = resolve_node(&api, &node).await?;
            let query = [("include_key", include_key.to_string())];
            let tar = api.download(&format!("/api/v1/chains/{chain}/nodes/{id}/bundle"), &query).await?;
            write_file(&out, &tar, include_key)?;
            let raw = json!({"path": out, "bytes": tar.len(), "include_key": include_key});
            emit(node.api.json, &raw, || Ok(format!("bundle={} bytes={}\n", out.display(), tar.len())))
        }
        NodeVerb::Log { node, lines } => {
            let api = connect(node.api.api.as_deref())?;
            let (chain, id) = resolve_node(&api, &node).await?;
            let query = [("lines", lines.to_string())];
            let text = api.download(&format!("/api/v1/chains/{chain}/nodes/{id}/log"), &query).await?;
            let text = String::from_utf8_lossy(&text);
            emit(node.api.json, &Value::String(text.clone().into_owned()), || Ok(text.into_owned()))
        }
    }
}

async fn node_action(r: NodeRef, action: &str) -> anyhow::Result<()> {
    let api = connect(r.api.api.as_deref())?;
    let (chain, node) = resolve_node(&api, &r).await?;
    let path = format!("/api/v1/chains/{chain}/nodes/{node}/{action}");
    let raw = api.call(reqwest::Method::POST, &path, &[], None).await?;
    emit(r.api.json, &raw, || {
        let n: NodeView = decode(&raw)?;
        Ok(format!("node={} name={} state={}\n", n.id, n.name, n.state))
    })
}

/// Writes a downloaded file; private ones (holding a key) get mode 0600
/// before any byte is written.
fn write_file(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    f.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
}

// ---- invitations and messages ----

async fn invite(opts: &ApiOpts, chain: &str, org: String, message: String) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let id = resolve_chain(&api, chain).await?;
    let raw = api
        .post(&format!("/api/v1/chains/{id}/invitations"), &json!({"org_domain": org, "message": message}))
        .await?;
    emit(opts.json, &raw, || invitation_line(&raw))
}

fn invitation_line(raw: &Value) -> anyhow::Result<String> {
    let i: InvitationView = decode(raw)?;
    Ok(format!("invitation={} chain={} org={} status={}\n", i.id, i.chain_id, i.to_domain, i.status))
}

async fn invitations(opts: &ApiOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let raw = api.get("/api/v1/invitations").await?;
    emit(opts.json, &raw, || {
        let list: Vec<InvitationView> = decode(&raw)?;
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|i| {
                vec![
                    i.id.to_string(),
                    format!("{} ({})", i.chain_id, i.chain_name),
                    i.from_domain.clone(),
                    i.to_domain.clone(),
                    i.status.clone(),
                    or_dash(&i.message),
                    time(i.created_at),
                ]
            })
            .collect();
        Ok(table(&["ID", "CHAIN", "FROM", "TO", "STATUS", "MESSAGE", "SENT"], &rows))
    })
}

async fn answer_invitation(opts: &ApiOpts, id: i64, answer: &str) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let raw =
        api.call(reqwest::Method::POST, &format!("/api/v1/invitations/{id}/{answer}"), &[], None).await?;
    emit(opts.json, &raw, || invitation_line(&raw))
}

async fn messages(opts: &ApiOpts, unread: bool, mark_read: bool, page: PageOpts) -> anyhow::Result<()> {
    let api = connect(opts.api.as_deref())?;
    let mut query: Vec<(&str, String)> = if unread { vec![("unread", "true".into())] } else { vec![] };
    query.extend(page.query());
    let raw = api.get_with("/api/v1/messages", &query).await?;
    let list: Vec<MessageView> = decode(&raw)?;
    emit(opts.json, &raw, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|m| {
                vec![
                    m.id.to_string(),
                    time(m.created_at),
                    m.kind.clone(),
                    if m.read { "read".into() } else { "new".into() },
                    m.title.clone(),
                    m.link.clone(),
                ]
            })
            .collect();
        Ok(table(&["ID", "WHEN", "KIND", "READ", "TITLE", "LINK"], &rows))
    })?;
    if mark_read {
        for m in list.iter().filter(|m| !m.read) {
            api.call(reqwest::Method::POST, &format!("/api/v1/messages/{}/read", m.id), &[], None).await?;
        }
    }
    Ok(())
}

// ---- operation log ----

/// Records in CSV text: line ends outside quoted fields (a detail may
/// hold a newline).
fn csv_records(csv: &[u8]) -> usize {
    let mut quoted = false;
    let mut records = 0;
    for b in csv {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => records += 1,
            _ => {}
        }
    }
    records
}

async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let AuditArgs { cmd, filter, api: opts } = args;
    let api = connect(opts.api.as_deref())?;
    match cmd {
        None => {
            let raw = api.get_with("/api/v1/audit", &filter.query()).await?;
            emit(opts.json, &raw, || {
                let list: Vec<OplogEntry> = decode(&raw)?;
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            time(e.at),
                            or_dash(&e.actor),
                            e.action.clone(),
                            e.target.clone(),
                            e.result.clone(),
                            or_dash(&e.detail),
                        ]
                    })
                    .collect();
                Ok(table(&["ID", "WHEN", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAIL"], &rows))
            })
        }
        Some(AuditCmd::Export { out }) => {
            let mut query = filter.query();
            if filter.limit.is_none() {
                // An export is the whole log unless limited.
                query.push(("limit", "1000000".into()));
            }
            let csv = api.download("/api/v1/audit/export", &query).await?;
            write_file(&out, &csv, false)?;
            let entries = csv_records(&csv).saturating_sub(1);
            let raw = json!({"path": out, "entries": entries});
            emit(opts.json, &raw, || Ok(format!("export={} entries={entries}\n", out.display())))
        }
        Some(AuditCmd::Verify) => {
            let raw = api.get("/api/v1/audit/verify").await?;
            let report: VerifyReport = decode(&raw)?;
            emit(opts.json, &raw, || {
                Ok(if report.ok {
                    format!("ok checked={}\n", report.checked)
                } else {
                    format!("broken checked={} first_bad_id={}\n", report.checked, opt(report.first_bad_id))
                })
            })?;
            if !report.ok {
                bail!(
                    "the operation log's hash chain is broken at entry {} (someone changed or removed entries)",
                    opt(report.first_bad_id)
                );
            }
            Ok(())
        }
    }
}
