//! Coordination of api replicas through the database: provisioning jobs
//! with a lease and a heartbeat, and quota reservations.
//!
//! An approval inserts a job row in the transaction that decides the
//! request. Every replica runs a worker that claims jobs with one
//! compare-and-set update (queued, or running with an expired lease) and
//! renews the lease while it works; a replica that stops (or is killed)
//! stops renewing, and another claims the job once the lease has expired.
//! Every step that records progress checks in the same transaction that
//! the lease is still this replica's, so a replica that lost its job
//! changes nothing more. A job on a chain whose nodes only one host can
//! reach (the local driver) waits for a replica of that host.
//!
//! Quota is a reservation: one conditional update adds to the usage on
//! the organization's quota row only if the result stays within the grant;
//! nodes keep it, a failed provisioning gives it back. No lock is held
//! while a driver works.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, SimpleExpr},
};

use crate::{
    ApiConfig, AppState,
    domain::ResourcesView,
    entity::{job, quota},
    error::{ApiError, Result},
    now_ms,
};

/// Job states.
pub mod state {
    /// Waiting for a replica.
    pub const QUEUED: &str = "queued";
    /// A replica holds the lease.
    pub const RUNNING: &str = "running";
    /// Provisioned.
    pub const DONE: &str = "done";
    /// Given up.
    pub const FAILED: &str = "failed";
}

/// This replica in the job table.
#[derive(Debug)]
pub struct Worker {
    /// The name leases carry.
    pub replica: String,
    /// The host this replica's driver runs nodes on (see [`ApiConfig::host`]).
    pub host: Option<String>,
    /// Lease length.
    pub lease: Duration,
    wake: tokio::sync::Notify,
    stopped: AtomicBool,
    running: Mutex<BTreeMap<i64, tokio::task::AbortHandle>>,
}

impl Worker {
    /// The worker of a replica configured by `config`.
    pub fn new(config: &ApiConfig) -> Worker {
        Worker {
            replica: config
                .replica
                .clone()
                .unwrap_or_else(|| format!("replica-{}", &crate::auth::random_token()[..12])),
            host: config.host.clone(),
            lease: config.job_lease.max(Duration::from_millis(500)),
            wake: tokio::sync::Notify::new(),
            stopped: AtomicBool::new(false),
            running: Mutex::default(),
        }
    }

    /// Looks for work now (after this replica queued a job).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops taking jobs and abandons those in flight (their leases expire
    /// and another replica, or the next start, takes them over).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Ok(mut running) = self.running.lock() {
            for (_, task) in std::mem::take(&mut *running) {
                task.abort();
            }
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    fn host_filter(&self) -> Condition {
        match &self.host {
            Some(h) => {
                Condition::any().add(job::Column::Host.is_null()).add(job::Column::Host.eq(h.as_str()))
            }
            None => Condition::all().add(job::Column::Host.is_null()),
        }
    }
}

/// A job this replica holds: what every progress step checks.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The job.
    pub job_id: i64,
    /// Its request.
    pub request_id: i64,
    /// The claim this lease is (a takeover counts up).
    pub attempt: i32,
    /// The replica.
    pub replica: String,
    /// Whether the request's quota was reserved by an earlier attempt.
    pub reserved: bool,
    /// Units an earlier attempt finished (nodes added).
    pub done: i32,
}

impl Lease {
    fn held(&self) -> Condition {
        Condition::all()
            .add(job::Column::Id.eq(self.job_id))
            .add(job::Column::Owner.eq(self.replica.as_str()))
            .add(job::Column::Attempt.eq(self.attempt))
            .add(job::Column::State.eq(state::RUNNING))
    }

    /// Sets `set` on the job's row only while this replica holds the
    /// lease; whether it still did. In a transaction the row stays locked
    /// until the transaction ends, so nothing takes the job over meanwhile.
    async fn update<const N: usize>(
        &self,
        db: &impl ConnectionTrait,
        set: [(job::Column, SimpleExpr); N],
    ) -> Result<bool> {
        let mut q = job::Entity::update_many().filter(self.held());
        for (col, value) in set {
            q = q.col_expr(col, value);
        }
        Ok(q.exec(db).await?.rows_affected == 1)
    }

    /// [`Lease::update`], failing with [`lost`] when the job is no longer
    /// this replica's.
    async fn update_held<const N: usize>(
        &self,
        db: &impl ConnectionTrait,
        set: [(job::Column, SimpleExpr); N],
    ) -> Result<()> {
        if self.update(db, set).await? { Ok(()) } else { Err(lost()) }
    }

    /// In a transaction: fails unless this replica still holds the job (and
    /// then locks the job row until the transaction ends).
    pub async fn check(&self, db: &impl ConnectionTrait) -> Result<()> {
        self.update_held(db, [(job::Column::UpdatedAt, Expr::value(now_ms()))]).await
    }

    /// Records a finished unit of work (a node added).
    pub async fn add_done(&self, db: &impl ConnectionTrait) -> Result<()> {
        self.update_held(
            db,
            [
                (job::Column::Done, Expr::col(job::Column::Done).add(1)),
                (job::Column::UpdatedAt, Expr::value(now_ms())),
            ],
        )
        .await
    }

    /// Marks the job reserved (in the reservation's transaction).
    pub async fn set_reserved(&self, db: &impl ConnectionTrait) -> Result<()> {
        self.update_held(db, [(job::Column::Reserved, Expr::value(true))]).await
    }

    /// Ends the job (`done` or `failed`) if this replica still holds it.
    pub async fn finish(&self, db: &impl ConnectionTrait, to: &str) -> Result<()> {
        self.update_held(
            db,
            [
                (job::Column::State, Expr::value(to)),
                (job::Column::Owner, Expr::value(Option::<String>::None)),
                (job::Column::UpdatedAt, Expr::value(now_ms())),
            ],
        )
        .await
    }

    /// Renews the lease; false once it is no longer this replica's.
    async fn renew(&self, db: &impl ConnectionTrait, lease_ms: i64) -> Result<bool> {
        self.update(db, [(job::Column::LeaseUntil, Expr::value(now_ms().saturating_add(lease_ms)))]).await
    }
}

/// The error of a step whose job another replica took over.
pub fn lost() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "lease_lost",
        "another replica took this provisioning job over",
    )
}

/// Whether `e` says the job was taken over.
pub fn is_lost(e: &ApiError) -> bool {
    e.code == "lease_lost"
}

/// Queues the provisioning of request `request_id` (in the approval's
/// transaction). `host`: only a replica of this host may run it.
pub async fn enqueue(db: &impl ConnectionTrait, request_id: i64, host: Option<String>) -> Result<()> {
    let now = now_ms();
    job::Entity::insert(job::ActiveModel {
        request_id: sea_orm::Set(request_id),
        state: sea_orm::Set(state::QUEUED.into()),
        host: sea_orm::Set(host),
        owner: sea_orm::Set(None),
        lease_until: sea_orm::Set(0),
        attempt: sea_orm::Set(0),
        reserved: sea_orm::Set(false),
        done: sea_orm::Set(0),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Claims one job this replica may run: queued, or running with an
/// expired lease. One compare-and-set update per candidate, so two replicas
/// never both win one.
async fn claim(state: &AppState) -> Result<Option<Lease>> {
    let w = &state.jobs;
    let now = now_ms();
    let claimable = Condition::any().add(job::Column::State.eq(state::QUEUED)).add(
        Condition::all().add(job::Column::State.eq(state::RUNNING)).add(job::Column::LeaseUntil.lt(now)),
    );
    let candidates = job::Entity::find()
        .filter(claimable.clone())
        .filter(w.host_filter())
        .order_by_asc(job::Column::Id)
        .limit(8)
        .all(&state.db)
        .await?;
    for c in candidates {
        let won = job::Entity::update_many()
            .col_expr(job::Column::State, Expr::value(state::RUNNING))
            .col_expr(job::Column::Owner, Expr::value(w.replica.clone()))
            .col_expr(job::Column::LeaseUntil, Expr::value(now.saturating_add(w.lease_ms())))
            .col_expr(job::Column::Attempt, Expr::value(c.attempt + 1))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .filter(job::Column::Id.eq(c.id))
            .filter(job::Column::Attempt.eq(c.attempt))
            .filter(claimable.clone())
            .exec(&state.db)
            .await?
            .rows_affected
            == 1;
        if won {
            if c.attempt > 0 {
                tracing::warn!(target: "govchain::api", job = c.id, request = c.request_id,
                    previous = ?c.owner, "took over a provisioning job whose lease expired");
            }
            return Ok(Some(Lease {
                job_id: c.id,
                request_id: c.request_id,
                attempt: c.attempt + 1,
                replica: w.replica.clone(),
                reserved: c.reserved,
                done: c.done,
            }));
        }
    }
    Ok(None)
}

/// What a claimed job runs (provisioning): given by the caller, so that the
/// job machinery knows nothing of what its jobs do.
pub type Runner = fn(AppState, Lease) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The worker loop of this replica: claims jobs and runs each with
/// `runner` and a heartbeat until it ends or the lease is lost.
pub fn spawn(state: AppState, runner: Runner) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let poll = (state.jobs.lease / 5).clamp(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            if state.jobs.stopped.load(Ordering::SeqCst) {
                return;
            }
            loop {
                match claim(&state).await {
                    Ok(Some(lease)) => run(&state, lease, runner),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(target: "govchain::api", "claiming provisioning jobs: {e}");
                        break;
                    }
                }
            }
            tokio::select! {
                () = state.jobs.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    })
}

fn run(state: &AppState, lease: Lease, runner: Runner) {
    let job_id = lease.job_id;
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let beat_state = task_state.clone();
        let beat_lease = lease.clone();
        let heartbeat = async move {
            let every = beat_state.jobs.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                match beat_lease.renew(&beat_state.db, beat_state.jobs.lease_ms()).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    // A database hiccup: the lease may still hold; try again.
                    Err(e) => tracing::warn!(target: "govchain::api", "renewing a job lease: {e}"),
                }
            }
        };
        let work = runner(task_state.clone(), lease.clone());
        tokio::select! {
            () = work => {}
            () = heartbeat => {
                tracing::warn!(target: "govchain::api", job = lease.job_id,
                    "lost the lease of a provisioning job; another replica continues it");
            }
        }
        if let Ok(mut running) = task_state.jobs.running.lock() {
            running.remove(&lease.job_id);
        }
    });
    if let Ok(mut running) = state.jobs.running.lock() {
        running.insert(job_id, task.abort_handle());
    }
}

/// What `n` nodes of `res` each take from a quota.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    /// Nodes.
    pub nodes: i64,
    /// Millicores.
    pub cpu_millis: i64,
    /// MiB.
    pub memory_mb: i64,
    /// MiB.
    pub storage_mb: i64,
}

impl Amount {
    /// `n` nodes with `res` each.
    pub fn of(n: u32, res: &ResourcesView) -> Amount {
        let n = i64::from(n);
        Amount {
            nodes: n,
            cpu_millis: n * i64::from(res.cpu_millis),
            memory_mb: n * i64::from(res.memory_mb),
            storage_mb: n * i64::from(res.storage_mb),
        }
    }

    /// One node's share as stored on its row.
    pub fn node(cpu_millis: i64, memory_mb: i64, storage_mb: i64) -> Amount {
        Amount { nodes: 1, cpu_millis, memory_mb, storage_mb }
    }
}

/// Reserves `a` of organization `org_id`'s quota: one conditional update
/// that succeeds only if the usage stays within the grant.
pub async fn reserve(db: &impl ConnectionTrait, org_id: i64, a: Amount) -> Result<()> {
    use quota::Column as Q;
    let add = |c: Q, v: i64| Expr::col(c).add(v);
    let n = quota::Entity::update_many()
        .col_expr(Q::UsedNodes, add(Q::UsedNodes, a.nodes))
        .col_expr(Q::UsedCpuMillis, add(Q::UsedCpuMillis, a.cpu_millis))
        .col_expr(Q::UsedMemoryMb, add(Q::UsedMemoryMb, a.memory_mb))
        .col_expr(Q::UsedStorageMb, add(Q::UsedStorageMb, a.storage_mb))
        .filter(Q::OrgId.eq(org_id))
        .filter(Expr::expr(add(Q::UsedNodes, a.nodes)).lte(Expr::col(Q::Nodes)))
        .filter(Expr::expr(add(Q::UsedCpuMillis, a.cpu_millis)).lte(Expr::col(Q::CpuMillis)))
        .filter(Expr::expr(add(Q::UsedMemoryMb, a.memory_mb)).lte(Expr::col(Q::MemoryMb)))
        .filter(Expr::expr(add(Q::UsedStorageMb, a.storage_mb)).lte(Expr::col(Q::StorageMb)))
        .exec(db)
        .await?
        .rows_affected;
    if n == 1 {
        return Ok(());
    }
    let q = quota::Entity::find_by_id(org_id).one(db).await?;
    let over = |what: &str, used: i64, add: i64, granted: i64| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!(
                "{what}: {used} in use + {add} requested exceeds the {granted} granted; submit a resource request"
            ),
        )
    };
    let Some(q) = q else { return Err(over("nodes", 0, a.nodes, 0)) };
    Err(if q.used_nodes + a.nodes > i64::from(q.nodes) {
        over("nodes", q.used_nodes, a.nodes, i64::from(q.nodes))
    } else if q.used_cpu_millis + a.cpu_millis > q.cpu_millis {
        over("cpu millicores", q.used_cpu_millis, a.cpu_millis, q.cpu_millis)
    } else if q.used_memory_mb + a.memory_mb > q.memory_mb {
        over("memory MiB", q.used_memory_mb, a.memory_mb, q.memory_mb)
    } else {
        over("storage MiB", q.used_storage_mb, a.storage_mb, q.storage_mb)
    })
}

/// Gives `a` back to organization `org_id`'s quota (a failed provisioning,
/// a removed node).
pub async fn release(db: &impl ConnectionTrait, org_id: i64, a: Amount) -> Result<()> {
    use quota::Column as Q;
    let sub = |c: Q, v: i64| Expr::col(c).sub(v);
    quota::Entity::update_many()
        .col_expr(Q::UsedNodes, sub(Q::UsedNodes, a.nodes))
        .col_expr(Q::UsedCpuMillis, sub(Q::UsedCpuMillis, a.cpu_millis))
        .col_expr(Q::UsedMemoryMb, sub(Q::UsedMemoryMb, a.memory_mb))
        .col_expr(Q::UsedStorageMb, sub(Q::UsedStorageMb, a.storage_mb))
        .filter(Q::OrgId.eq(org_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Releases `a` outside a transaction, logging a failure (the error being
/// handled matters more).
pub async fn release_logged(state: &AppState, org_id: i64, a: Amount) {
    if let Err(e) = release(&state.db, org_id, a).await {
        tracing::error!(target: "govchain::api", org_id, "giving back a quota reservation: {e}");
    }
}
