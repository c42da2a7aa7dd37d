//! The schema, as sea-orm migrations that run unchanged on SQLite (the
//! embedded default) and PostgreSQL (production).
//!
//! Times are milliseconds since 1970 in BIGINT columns: both databases store
//! them the same way and nothing depends on a database's time zone.

use sea_orm_migration::{prelude::*, schema::*};

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(Coordination),
            Box::new(Identity),
            Box::new(Contracts),
            Box::new(ContractLifecycle),
            Box::new(FindingDismissals),
            Box::new(SandboxChains),
            Box::new(ContractRepository),
            Box::new(Metrics),
            Box::new(Alerts),
        ]
    }
}

/// The key of the PostgreSQL advisory lock a replica holds while it sets
/// the database up ("govchain" in ASCII).
const SETUP_LOCK: i64 = 0x676f_7663_6861_696e;

/// Runs `work` under the database's setup lock, so replicas that start at
/// once migrate (and create the first organization and administrator) one
/// after the other: each finds what the one before it did. On PostgreSQL
/// the lock is a session advisory lock on a connection of its own, while
/// `work` uses the pool; closing that connection releases it, also when
/// the process dies. A replica waits for it at most two minutes. On
/// SQLite, one process's single writer connection already serializes.
pub async fn exclusive<T>(
    db: &sea_orm::DatabaseConnection,
    work: impl std::future::Future<Output = T>,
) -> Result<T, DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(work.await);
    }
    let sql = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("the setup lock: {e}"));
    // Checked above: a PostgreSQL connection.
    let mut conn = db.get_postgres_connection_pool().acquire().await.map_err(sql)?;
    sea_orm::sqlx::query("SET lock_timeout = '120s'").execute(&mut *conn).await.map_err(sql)?;
    let locked =
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)").bind(SETUP_LOCK).execute(&mut *conn).await;
    if let Err(e) = locked {
        let _ = conn.close().await;
        return Err(sql(e));
    }
    let out = work.await;
    // Closing the session releases the lock (and no pooled connection
    // keeps the changed timeout).
    let _ = conn.close().await;
    Ok(out)
}

/// Applies the migrations not yet applied, under [`exclusive`].
pub async fn up(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    exclusive(db, Migrator::up(db, None)).await?
}

#[derive(DeriveMigrationName)]
struct Initial;

#[derive(DeriveIden)]
enum Orgs {
    Table,
    Id,
    Name,
    Domain,
    Description,
    Status,
    ReviewOpinion,
    IsPlatform,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrgId,
    Username,
    RealName,
    PasswordHash,
    Status,
    MustChangePassword,
    FailedLogins,
    LockedUntil,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    OrgId,
    Name,
    Builtin,
    Permissions,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    UserId,
    Csrf,
    CreatedAt,
    LastSeen,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    LastUsed,
}

#[derive(DeriveIden)]
enum Quotas {
    Table,
    OrgId,
    Nodes,
    CpuMillis,
    MemoryMb,
    StorageMb,
}

#[derive(DeriveIden)]
enum Requests {
    Table,
    Id,
    OrgId,
    RequesterId,
    Kind,
    ChainId,
    Spec,
    Purpose,
    Status,
    Progress,
    Error,
    Opinion,
    ApproverId,
    DecidedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Chains {
    Table,
    Id,
    Name,
    ChainKey,
    OrgId,
    Consensus,
    Suite,
    Driver,
    State,
    BlockPolicy,
    MaxNodes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChainMembers {
    Table,
    ChainId,
    OrgId,
    JoinedAt,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    ChainId,
    OrgId,
    Name,
    ConsensusId,
    Role,
    ApiUrl,
    P2p,
    CpuMillis,
    MemoryMb,
    StorageMb,
    State,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    ChainId,
    FromOrgId,
    ToOrgId,
    InvitedBy,
    Message,
    Status,
    CreatedAt,
    DecidedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    OrgId,
    Kind,
    Title,
    Body,
    Link,
    ReadAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Oplog {
    Table,
    Id,
    At,
    ActorId,
    Actor,
    OrgId,
    Action,
    Target,
    Result,
    Detail,
    PrevHash,
    Hash,
}

fn fk(
    from: (impl IntoIden + 'static, impl IntoIden + 'static),
    to: (impl IntoIden + 'static, impl IntoIden + 'static),
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Orgs::Table)
                .col(pk_auto(Orgs::Id).big_integer())
                .col(string_len(Orgs::Name, 128))
                .col(string_len_uniq(Orgs::Domain, 128))
                .col(text(Orgs::Description))
                .col(string_len(Orgs::Status, 16))
                .col(text(Orgs::ReviewOpinion))
                .col(boolean(Orgs::IsPlatform))
                .col(big_integer(Orgs::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_auto(Users::Id).big_integer())
                .col(big_integer(Users::OrgId))
                .col(string_len_uniq(Users::Username, 64))
                .col(string_len(Users::RealName, 128))
                .col(string_len(Users::PasswordHash, 256))
                .col(string_len(Users::Status, 16))
                .col(boolean(Users::MustChangePassword))
                .col(integer(Users::FailedLogins))
                .col(big_integer(Users::LockedUntil))
                .col(big_integer(Users::CreatedAt))
                .col(big_integer(Users::LastLoginAt))
                .foreign_key(&mut fk((Users::Table, Users::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Roles::Table)
                .col(pk_auto(Roles::Id).big_integer())
                .col(big_integer_null(Roles::OrgId))
                .col(string_len(Roles::Name, 64))
                .col(boolean(Roles::Builtin))
                .col(text(Roles::Permissions))
                .col(big_integer(Roles::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserRoles::Table)
                .col(big_integer(UserRoles::UserId))
                .col(big_integer(UserRoles::RoleId))
                .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::RoleId))
                .foreign_key(&mut fk((UserRoles::Table, UserRoles::UserId), (Users::Table, Users::Id)))
                .foreign_key(&mut fk((UserRoles::Table, UserRoles::RoleId), (Roles::Table, Roles::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(pk_auto(Sessions::Id).big_integer())
                .col(string_len_uniq(Sessions::TokenHash, 64))
                .col(big_integer(Sessions::UserId))
                .col(string_len(Sessions::Csrf, 64))
                .col(big_integer(Sessions::CreatedAt))
                .col(big_integer(Sessions::LastSeen))
                .foreign_key(&mut fk((Sessions::Table, Sessions::UserId), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(pk_auto(ApiTokens::Id).big_integer())
                .col(big_integer(ApiTokens::UserId))
                .col(string_len(ApiTokens::Name, 64))
                .col(string_len_uniq(ApiTokens::TokenHash, 64))
                .col(big_integer(ApiTokens::CreatedAt))
                .col(big_integer(ApiTokens::LastUsed))
                .foreign_key(&mut fk((ApiTokens::Table, ApiTokens::UserId), (Users::Table, Users::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Quotas::Table)
                .col(big_integer(Quotas::OrgId).primary_key())
                .col(integer(Quotas::Nodes))
                .col(big_integer(Quotas::CpuMillis))
                .col(big_integer(Quotas::MemoryMb))
                .col(big_integer(Quotas::StorageMb))
                .foreign_key(&mut fk((Quotas::Table, Quotas::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Chains::Table)
                .col(pk_auto(Chains::Id).big_integer())
                .col(string_len(Chains::Name, 64))
                .col(string_len_uniq(Chains::ChainKey, 64))
                .col(big_integer(Chains::OrgId))
                .col(string_len(Chains::Consensus, 16))
                .col(string_len(Chains::Suite, 16))
                .col(string_len(Chains::Driver, 16))
                .col(string_len(Chains::State, 16))
                .col(text(Chains::BlockPolicy))
                .col(integer(Chains::MaxNodes))
                .col(big_integer(Chains::CreatedAt))
                .foreign_key(&mut fk((Chains::Table, Chains::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Requests::Table)
                .col(pk_auto(Requests::Id).big_integer())
                .col(big_integer(Requests::OrgId))
                .col(big_integer(Requests::RequesterId))
                .col(string_len(Requests::Kind, 16))
                .col(big_integer_null(Requests::ChainId))
                .col(text(Requests::Spec))
                .col(text(Requests::Purpose))
                .col(string_len(Requests::Status, 16))
                .col(text(Requests::Progress))
                .col(text(Requests::Error))
                .col(text(Requests::Opinion))
                .col(big_integer_null(Requests::ApproverId))
                .col(big_integer_null(Requests::DecidedAt))
                .col(big_integer(Requests::CreatedAt))
                .col(big_integer(Requests::UpdatedAt))
                .foreign_key(&mut fk((Requests::Table, Requests::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ChainMembers::Table)
                .col(big_integer(ChainMembers::ChainId))
                .col(big_integer(ChainMembers::OrgId))
                .col(big_integer(ChainMembers::JoinedAt))
                .primary_key(Index::create().col(ChainMembers::ChainId).col(ChainMembers::OrgId))
                .foreign_key(&mut fk(
                    (ChainMembers::Table, ChainMembers::ChainId),
                    (Chains::Table, Chains::Id),
                ))
                .foreign_key(&mut fk((ChainMembers::Table, ChainMembers::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Nodes::Table)
                .col(pk_auto(Nodes::Id).big_integer())
                .col(big_integer(Nodes::ChainId))
                .col(big_integer(Nodes::OrgId))
                .col(string_len(Nodes::Name, 128))
                .col(big_integer(Nodes::ConsensusId))
                .col(string_len(Nodes::Role, 16))
                .col(string_len(Nodes::ApiUrl, 128))
                .col(string_len(Nodes::P2p, 128))
                .col(big_integer(Nodes::CpuMillis))
                .col(big_integer(Nodes::MemoryMb))
                .col(big_integer(Nodes::StorageMb))
                .col(string_len(Nodes::State, 16))
                .col(big_integer(Nodes::CreatedAt))
                .foreign_key(&mut fk((Nodes::Table, Nodes::ChainId), (Chains::Table, Chains::Id)))
                .foreign_key(&mut fk((Nodes::Table, Nodes::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Invitations::Table)
                .col(pk_auto(Invitations::Id).big_integer())
                .col(big_integer(Invitations::ChainId))
                .col(big_integer(Invitations::FromOrgId))
                .col(big_integer(Invitations::ToOrgId))
                .col(big_integer(Invitations::InvitedBy))
                .col(text(Invitations::Message))
                .col(string_len(Invitations::Status, 16))
                .col(big_integer(Invitations::CreatedAt))
                .col(big_integer_null(Invitations::DecidedAt))
                .foreign_key(&mut fk((Invitations::Table, Invitations::ChainId), (Chains::Table, Chains::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Messages::Table)
                .col(pk_auto(Messages::Id).big_integer())
                .col(big_integer(Messages::OrgId))
                .col(string_len(Messages::Kind, 32))
                .col(text(Messages::Title))
                .col(text(Messages::Body))
                .col(text(Messages::Link))
                .col(big_integer_null(Messages::ReadAt))
                .col(big_integer(Messages::CreatedAt))
                .to_owned(),
        )
        .await?;
        // The operation log has no foreign keys: it outlives what it names.
        m.create_table(
            Table::create()
                .table(Oplog::Table)
                .col(pk_auto(Oplog::Id).big_integer())
                .col(big_integer(Oplog::At))
                .col(big_integer_null(Oplog::ActorId))
                .col(string_len(Oplog::Actor, 128))
                .col(big_integer_null(Oplog::OrgId))
                .col(string_len(Oplog::Action, 64))
                .col(text(Oplog::Target))
                .col(string_len(Oplog::Result, 32))
                .col(text(Oplog::Detail))
                .col(string_len(Oplog::PrevHash, 64))
                .col(string_len(Oplog::Hash, 64))
                .to_owned(),
        )
        .await?;
        for (name, table, col) in [
            ("idx_users_org", Users::Table.into_iden(), Users::OrgId.into_iden()),
            ("idx_requests_org", Requests::Table.into_iden(), Requests::OrgId.into_iden()),
            ("idx_requests_status", Requests::Table.into_iden(), Requests::Status.into_iden()),
            ("idx_nodes_chain", Nodes::Table.into_iden(), Nodes::ChainId.into_iden()),
            ("idx_members_org", ChainMembers::Table.into_iden(), ChainMembers::OrgId.into_iden()),
            ("idx_messages_org", Messages::Table.into_iden(), Messages::OrgId.into_iden()),
            ("idx_oplog_at", Oplog::Table.into_iden(), Oplog::At.into_iden()),
            ("idx_oplog_org", Oplog::Table.into_iden(), Oplog::OrgId.into_iden()),
        ] {
            m.create_index(Index::create().name(name).table(table).col(col).to_owned()).await?;
        }
        Ok(())
    }
}

/// What several api replicas share through the database (issue 16): the
/// operation log's head row (appends lock it), quota usage on the quota
/// row (a reservation is one conditional update), provisioning jobs with a
/// lease, and the host a chain's nodes run on.
struct Coordination;

// The first migration took the module's name; this one names itself.
impl MigrationName for Coordination {
    fn name(&self) -> &str {
        "m2_coordination"
    }
}

#[derive(DeriveIden)]
enum OplogHead {
    Table,
    Id,
    Seq,
    Hash,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    RequestId,
    State,
    Host,
    Owner,
    LeaseUntil,
    Attempt,
    Reserved,
    Done,
    CreatedAt,
    UpdatedAt,
}

// Column names: every one is a `used_*` figure.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum QuotaUse {
    UsedNodes,
    UsedCpuMillis,
    UsedMemoryMb,
    UsedStorageMb,
}

#[derive(DeriveIden)]
enum ChainHost {
    Host,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Coordination {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OplogHead::Table)
                .col(integer(OplogHead::Id).primary_key())
                .col(big_integer(OplogHead::Seq))
                .col(string_len(OplogHead::Hash, 64))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // The head is the last entry's hash (the genesis hash of an empty log).
        db.execute_unprepared(
            "INSERT INTO oplog_head (id, seq, hash) SELECT 1, (SELECT COUNT(*) FROM oplog), \
             COALESCE((SELECT hash FROM oplog ORDER BY id DESC LIMIT 1), \
             '0000000000000000000000000000000000000000000000000000000000000000')",
        )
        .await?;
        // SQLite alters one column per statement.
        for col in
            [QuotaUse::UsedNodes, QuotaUse::UsedCpuMillis, QuotaUse::UsedMemoryMb, QuotaUse::UsedStorageMb]
        {
            m.alter_table(
                Table::alter().table(Quotas::Table).add_column(big_integer(col).default(0)).to_owned(),
            )
            .await?;
        }
        db.execute_unprepared(
            "UPDATE quotas SET \
             used_nodes = (SELECT COUNT(*) FROM nodes WHERE nodes.org_id = quotas.org_id), \
             used_cpu_millis = (SELECT COALESCE(SUM(cpu_millis), 0) FROM nodes WHERE nodes.org_id = quotas.org_id), \
             used_memory_mb = (SELECT COALESCE(SUM(memory_mb), 0) FROM nodes WHERE nodes.org_id = quotas.org_id), \
             used_storage_mb = (SELECT COALESCE(SUM(storage_mb), 0) FROM nodes WHERE nodes.org_id = quotas.org_id)",
        )
        .await?;
        m.alter_table(
            Table::alter().table(Chains::Table).add_column(string_len_null(ChainHost::Host, 64)).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(pk_auto(Jobs::Id).big_integer())
                .col(big_integer_uniq(Jobs::RequestId))
                .col(string_len(Jobs::State, 16))
                .col(string_len_null(Jobs::Host, 64))
                .col(string_len_null(Jobs::Owner, 64))
                .col(big_integer(Jobs::LeaseUntil))
                .col(integer(Jobs::Attempt))
                .col(boolean(Jobs::Reserved))
                .col(integer(Jobs::Done))
                .col(big_integer(Jobs::CreatedAt))
                .col(big_integer(Jobs::UpdatedAt))
                .foreign_key(&mut fk((Jobs::Table, Jobs::RequestId), (Requests::Table, Requests::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_jobs_state").table(Jobs::Table).col(Jobs::State).to_owned())
            .await?;
        // Provisioning an older version left unfinished has no job: fail
        // it, as that version's start would have.
        db.execute_unprepared(
            "UPDATE requests SET status = 'failed', progress = 'failed', \
             error = 'the platform stopped during provisioning; submit the request again' \
             WHERE status = 'provisioning'",
        )
        .await?;
        Ok(())
    }
}

/// Real-name verification of users (SPEC ORG-1): its state, the document
/// (kind and masked number; the full number is never stored), the review.
#[derive(Debug)]
struct Identity;

impl MigrationName for Identity {
    fn name(&self) -> &str {
        "m3_identity"
    }
}

// Column names: every one is an `identity_*` figure.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum UserIdentity {
    IdentityStatus,
    IdentityKind,
    IdentityNumber,
    IdentityOpinion,
    IdentityReviewer,
    IdentitySubmittedAt,
    IdentityReviewedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Identity {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let columns = [
            string_len(UserIdentity::IdentityStatus, 16).default("unverified").to_owned(),
            string_len(UserIdentity::IdentityKind, 16).default("").to_owned(),
            string_len(UserIdentity::IdentityNumber, 32).default("").to_owned(),
            string_len(UserIdentity::IdentityOpinion, 2000).default("").to_owned(),
            string_len(UserIdentity::IdentityReviewer, 64).default("").to_owned(),
            big_integer(UserIdentity::IdentitySubmittedAt).default(0).to_owned(),
            big_integer(UserIdentity::IdentityReviewedAt).default(0).to_owned(),
        ];
        for col in columns {
            m.alter_table(Table::alter().table(Users::Table).add_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

/// Contract instances on chains and the versions of their code (issue 12).
struct Contracts;

impl MigrationName for Contracts {
    fn name(&self) -> &str {
        "m4_contracts"
    }
}

#[derive(DeriveIden)]
enum ContractsTable {
    #[sea_orm(iden = "contracts")]
    Table,
    Id,
    ChainId,
    OrgId,
    Name,
    Address,
    Version,
    State,
    DeployerUserId,
    DeployerAddress,
    TxId,
    Error,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContractVersions {
    Table,
    Id,
    ContractId,
    Version,
    Status,
    Bytecode,
    Abi,
    Source,
    TxId,
    UserId,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Contracts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ContractsTable::Table)
                .col(pk_auto(ContractsTable::Id).big_integer())
                .col(big_integer(ContractsTable::ChainId))
                .col(big_integer(ContractsTable::OrgId))
                .col(string_len(ContractsTable::Name, 128))
                .col(string_len(ContractsTable::Address, 42))
                .col(string_len(ContractsTable::Version, 16))
                .col(string_len(ContractsTable::State, 16))
                .col(big_integer(ContractsTable::DeployerUserId))
                .col(string_len(ContractsTable::DeployerAddress, 64))
                .col(string_len(ContractsTable::TxId, 64))
                .col(text(ContractsTable::Error))
                .col(big_integer(ContractsTable::CreatedAt))
                .col(big_integer(ContractsTable::UpdatedAt))
                .foreign_key(&mut fk(
                    (ContractsTable::Table, ContractsTable::ChainId),
                    (Chains::Table, Chains::Id),
                ))
                .foreign_key(&mut fk((ContractsTable::Table, ContractsTable::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ContractVersions::Table)
                .col(pk_auto(ContractVersions::Id).big_integer())
                .col(big_integer(ContractVersions::ContractId))
                .col(string_len(ContractVersions::Version, 16))
                .col(string_len(ContractVersions::Status, 16))
                .col(text(ContractVersions::Bytecode))
                .col(text(ContractVersions::Abi))
                .col(text(ContractVersions::Source))
                .col(string_len(ContractVersions::TxId, 64))
                .col(big_integer(ContractVersions::UserId))
                .col(big_integer(ContractVersions::CreatedAt))
                .foreign_key(&mut fk(
                    (ContractVersions::Table, ContractVersions::ContractId),
                    (ContractsTable::Table, ContractsTable::Id),
                ))
                .to_owned(),
        )
        .await?;
        for (name, table, col) in [
            ("idx_contracts_chain", ContractsTable::Table.into_iden(), ContractsTable::ChainId.into_iden()),
            (
                "idx_versions_contract",
                ContractVersions::Table.into_iden(),
                ContractVersions::ContractId.into_iden(),
            ),
        ] {
            m.create_index(Index::create().name(name).table(table).col(col).to_owned()).await?;
        }
        Ok(())
    }
}

/// What a contract version needs for upgrades and governed deployments
/// (issue 12): the runtime code an upgrade installs, the constructor
/// arguments a deployment sends after its approval, and the governance
/// proposal deciding it.
struct ContractLifecycle;

impl MigrationName for ContractLifecycle {
    fn name(&self) -> &str {
        "m5_contract_lifecycle"
    }
}

#[derive(DeriveIden)]
enum VersionLifecycle {
    Runtime,
    Args,
    ProposalId,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for ContractLifecycle {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let columns = [
            text(VersionLifecycle::Runtime).default("").to_owned(),
            text(VersionLifecycle::Args).default("").to_owned(),
            big_integer(VersionLifecycle::ProposalId).default(0).to_owned(),
        ];
        for col in columns {
            m.alter_table(Table::alter().table(ContractVersions::Table).add_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

/// Dismissals of static-analysis findings (issue 12, SPEC SC-8): one per
/// organization and finding id, with the reason and who gave it.
struct FindingDismissals;

impl MigrationName for FindingDismissals {
    fn name(&self) -> &str {
        "m6_finding_dismissals"
    }
}

#[derive(DeriveIden)]
enum Dismissals {
    #[sea_orm(iden = "finding_dismissals")]
    Table,
    Id,
    OrgId,
    FindingId,
    Rule,
    Severity,
    File,
    Contract,
    Function,
    Snippet,
    Reason,
    UserId,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for FindingDismissals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Dismissals::Table)
                .col(pk_auto(Dismissals::Id).big_integer())
                .col(big_integer(Dismissals::OrgId))
                .col(string_len(Dismissals::FindingId, 32))
                .col(string_len(Dismissals::Rule, 32))
                .col(string_len(Dismissals::Severity, 16))
                .col(string_len(Dismissals::File, 256))
                .col(string_len(Dismissals::Contract, 128))
                .col(string_len(Dismissals::Function, 128))
                .col(text(Dismissals::Snippet))
                .col(text(Dismissals::Reason))
                .col(big_integer(Dismissals::UserId))
                .col(big_integer(Dismissals::CreatedAt))
                .foreign_key(&mut fk((Dismissals::Table, Dismissals::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_dismissals_org_finding")
                .table(Dismissals::Table)
                .col(Dismissals::OrgId)
                .col(Dismissals::FindingId)
                .unique()
                .to_owned(),
        )
        .await
    }
}

/// Sandbox chains (issue 13, SPEC SC-7): a chain marks the organization
/// whose development chain it is; the unique index keeps it to one per
/// organization, also when two requests create it at once.
struct SandboxChains;

impl MigrationName for SandboxChains {
    fn name(&self) -> &str {
        "m7_sandbox_chains"
    }
}

#[derive(DeriveIden)]
enum ChainSandbox {
    SandboxOf,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for SandboxChains {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Chains::Table)
                .add_column(big_integer_null(ChainSandbox::SandboxOf))
                .to_owned(),
        )
        .await?;
        // NULLs are distinct in a unique index on both databases: every
        // other chain has none.
        m.create_index(
            Index::create()
                .name("idx_chains_sandbox_of")
                .table(Chains::Table)
                .col(ChainSandbox::SandboxOf)
                .unique()
                .to_owned(),
        )
        .await
    }
}

/// The contract repository (SPEC SC-6): projects of source files per
/// organization, each file's current text, and every revision of every
/// file (saves and removals, numbered per project).
struct ContractRepository;

impl MigrationName for ContractRepository {
    fn name(&self) -> &str {
        "m8_contract_repository"
    }
}

#[derive(DeriveIden)]
enum ContractProjects {
    Table,
    Id,
    OrgId,
    Name,
    Description,
    Shared,
    CopiedFrom,
    HeadRev,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContractFiles {
    Table,
    Id,
    ProjectId,
    Path,
    Content,
    Sha256,
    Size,
    Rev,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContractRevisions {
    Table,
    Id,
    ProjectId,
    Rev,
    Path,
    Action,
    Content,
    Sha256,
    Size,
    UserId,
    Message,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for ContractRepository {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ContractProjects::Table)
                .col(pk_auto(ContractProjects::Id).big_integer())
                .col(big_integer(ContractProjects::OrgId))
                .col(string_len(ContractProjects::Name, 100))
                .col(text(ContractProjects::Description))
                .col(boolean(ContractProjects::Shared).default(false))
                .col(big_integer_null(ContractProjects::CopiedFrom))
                .col(big_integer(ContractProjects::HeadRev).default(0))
                .col(big_integer(ContractProjects::CreatedBy))
                .col(big_integer(ContractProjects::CreatedAt))
                .col(big_integer(ContractProjects::UpdatedAt))
                .foreign_key(&mut fk(
                    (ContractProjects::Table, ContractProjects::OrgId),
                    (Orgs::Table, Orgs::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ContractFiles::Table)
                .col(pk_auto(ContractFiles::Id).big_integer())
                .col(big_integer(ContractFiles::ProjectId))
                .col(string_len(ContractFiles::Path, 200))
                .col(text(ContractFiles::Content))
                .col(string_len(ContractFiles::Sha256, 64))
                .col(big_integer(ContractFiles::Size))
                .col(big_integer(ContractFiles::Rev))
                .col(big_integer(ContractFiles::UpdatedBy))
                .col(big_integer(ContractFiles::UpdatedAt))
                .foreign_key(&mut fk(
                    (ContractFiles::Table, ContractFiles::ProjectId),
                    (ContractProjects::Table, ContractProjects::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ContractRevisions::Table)
                .col(pk_auto(ContractRevisions::Id).big_integer())
                .col(big_integer(ContractRevisions::ProjectId))
                .col(big_integer(ContractRevisions::Rev))
                .col(string_len(ContractRevisions::Path, 200))
                .col(string_len(ContractRevisions::Action, 16))
                .col(text(ContractRevisions::Content))
                .col(string_len(ContractRevisions::Sha256, 64))
                .col(big_integer(ContractRevisions::Size))
                .col(big_integer(ContractRevisions::UserId))
                .col(text(ContractRevisions::Message))
                .col(big_integer(ContractRevisions::CreatedAt))
                .foreign_key(&mut fk(
                    (ContractRevisions::Table, ContractRevisions::ProjectId),
                    (ContractProjects::Table, ContractProjects::Id),
                ))
                .to_owned(),
        )
        .await?;
        let unique = [
            (
                "idx_projects_org_name",
                ContractProjects::Table.into_iden(),
                [ContractProjects::OrgId.into_iden(), ContractProjects::Name.into_iden()],
            ),
            (
                "idx_files_project_path",
                ContractFiles::Table.into_iden(),
                [ContractFiles::ProjectId.into_iden(), ContractFiles::Path.into_iden()],
            ),
            (
                "idx_revisions_project_rev",
                ContractRevisions::Table.into_iden(),
                [ContractRevisions::ProjectId.into_iden(), ContractRevisions::Rev.into_iden()],
            ),
        ];
        for (name, table, [a, b]) in unique {
            m.create_index(Index::create().name(name).table(table).col(a).col(b).unique().to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .name("idx_revisions_project_path")
                .table(ContractRevisions::Table)
                .col(ContractRevisions::ProjectId)
                .col(ContractRevisions::Path)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_projects_shared")
                .table(ContractProjects::Table)
                .col(ContractProjects::Shared)
                .to_owned(),
        )
        .await
    }
}

/// Monitoring figures (SPEC OPS-1) kept in the platform's own database:
/// a row per series (a metric of a node, or of the platform when both
/// ids are empty) and its samples at three resolutions (raw scrapes,
/// 1-minute and 1-hour averages), each with its own retention.
struct Metrics;

impl MigrationName for Metrics {
    fn name(&self) -> &str {
        "m9_metrics"
    }
}

#[derive(DeriveIden)]
enum MetricSeries {
    Table,
    Id,
    Key,
    Name,
    ChainId,
    NodeId,
    Labels,
}

#[derive(DeriveIden)]
enum MetricSamples {
    Table,
    SeriesId,
    Res,
    Ts,
    Value,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Metrics {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(MetricSeries::Table)
                .col(pk_auto(MetricSeries::Id).big_integer())
                .col(string_len_uniq(MetricSeries::Key, 400))
                .col(string_len(MetricSeries::Name, 100))
                .col(big_integer_null(MetricSeries::ChainId))
                .col(big_integer_null(MetricSeries::NodeId))
                .col(text(MetricSeries::Labels))
                .to_owned(),
        )
        .await?;
        // No foreign keys: samples of a deleted chain age out with the
        // retention like any other.
        m.create_table(
            Table::create()
                .table(MetricSamples::Table)
                .col(big_integer(MetricSamples::SeriesId))
                .col(integer(MetricSamples::Res))
                .col(big_integer(MetricSamples::Ts))
                .col(double(MetricSamples::Value))
                .primary_key(
                    Index::create()
                        .col(MetricSamples::SeriesId)
                        .col(MetricSamples::Res)
                        .col(MetricSamples::Ts),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_metric_series_chain")
                .table(MetricSeries::Table)
                .col(MetricSeries::ChainId)
                .col(MetricSeries::NodeId)
                .to_owned(),
        )
        .await?;
        // Rollups and retention walk one resolution by time.
        m.create_index(
            Index::create()
                .name("idx_metric_samples_res_ts")
                .table(MetricSamples::Table)
                .col(MetricSamples::Res)
                .col(MetricSamples::Ts)
                .to_owned(),
        )
        .await
    }
}

/// Alert rules, alerts, their notifications, and each organization's
/// alert channels (SPEC OPS-2).
#[derive(Debug)]
pub struct Alerts;

impl MigrationName for Alerts {
    fn name(&self) -> &str {
        "m10_alerts"
    }
}

#[derive(DeriveIden)]
enum AlertRules {
    Table,
    Id,
    OrgId,
    Name,
    Spec,
    WebhookSecret,
    Enabled,
    BuiltinKey,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertsT {
    #[sea_orm(iden = "alerts")]
    Table,
    Id,
    RuleId,
    RuleName,
    OrgId,
    Severity,
    ChainId,
    NodeId,
    OpenKey,
    State,
    StartedAt,
    FiredAt,
    ResolvedAt,
    Value,
    Summary,
    AcknowledgedBy,
    AcknowledgedByName,
    AcknowledgedAt,
    AckNote,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertDeliveries {
    Table,
    Id,
    AlertId,
    OrgId,
    Event,
    Channel,
    Target,
    Payload,
    Attempts,
    Status,
    LastError,
    NextAttemptAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AlertChannels {
    Table,
    OrgId,
    Emails,
    WebhookUrl,
    WebhookSecret,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Alerts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AlertRules::Table)
                .col(pk_auto(AlertRules::Id).big_integer())
                .col(big_integer(AlertRules::OrgId))
                .col(string_len(AlertRules::Name, 200))
                .col(text(AlertRules::Spec))
                .col(text_null(AlertRules::WebhookSecret))
                .col(boolean(AlertRules::Enabled))
                .col(string_len_null(AlertRules::BuiltinKey, 50))
                .col(big_integer_null(AlertRules::CreatedBy))
                .col(big_integer(AlertRules::CreatedAt))
                .col(big_integer(AlertRules::UpdatedAt))
                .foreign_key(&mut fk((AlertRules::Table, AlertRules::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        // One of each default rule per organization (NULLs never collide).
        m.create_index(
            Index::create()
                .name("idx_alert_rules_builtin")
                .table(AlertRules::Table)
                .col(AlertRules::OrgId)
                .col(AlertRules::BuiltinKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AlertsT::Table)
                .col(pk_auto(AlertsT::Id).big_integer())
                .col(big_integer(AlertsT::RuleId))
                .col(string_len(AlertsT::RuleName, 200))
                .col(big_integer(AlertsT::OrgId))
                .col(string_len(AlertsT::Severity, 20))
                .col(big_integer(AlertsT::ChainId))
                .col(big_integer_null(AlertsT::NodeId))
                .col(string_len_null(AlertsT::OpenKey, 100).unique_key())
                .col(string_len(AlertsT::State, 20))
                .col(big_integer(AlertsT::StartedAt))
                .col(big_integer_null(AlertsT::FiredAt))
                .col(big_integer_null(AlertsT::ResolvedAt))
                .col(double_null(AlertsT::Value))
                .col(text(AlertsT::Summary))
                .col(big_integer_null(AlertsT::AcknowledgedBy))
                .col(string_len_null(AlertsT::AcknowledgedByName, 200))
                .col(big_integer_null(AlertsT::AcknowledgedAt))
                .col(text_null(AlertsT::AckNote))
                .col(big_integer(AlertsT::UpdatedAt))
                .foreign_key(&mut fk((AlertsT::Table, AlertsT::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_alerts_org")
                .table(AlertsT::Table)
                .col(AlertsT::OrgId)
                .col(AlertsT::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_alerts_rule_state")
                .table(AlertsT::Table)
                .col(AlertsT::RuleId)
                .col(AlertsT::State)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AlertDeliveries::Table)
                .col(pk_auto(AlertDeliveries::Id).big_integer())
                .col(big_integer(AlertDeliveries::AlertId))
                .col(big_integer(AlertDeliveries::OrgId))
                .col(string_len(AlertDeliveries::Event, 20))
                .col(string_len(AlertDeliveries::Channel, 20))
                .col(string_len(AlertDeliveries::Target, 2000))
                .col(text(AlertDeliveries::Payload))
                .col(integer(AlertDeliveries::Attempts))
                .col(string_len(AlertDeliveries::Status, 20))
                .col(text_null(AlertDeliveries::LastError))
                .col(big_integer(AlertDeliveries::NextAttemptAt))
                .col(big_integer(AlertDeliveries::CreatedAt))
                .col(big_integer(AlertDeliveries::UpdatedAt))
                .foreign_key(&mut fk(
                    (AlertDeliveries::Table, AlertDeliveries::AlertId),
                    (AlertsT::Table, AlertsT::Id),
                ))
                .to_owned(),
        )
        .await?;
        // The senders' queue: pending rows by when they are due.
        m.create_index(
            Index::create()
                .name("idx_alert_deliveries_due")
                .table(AlertDeliveries::Table)
                .col(AlertDeliveries::Status)
                .col(AlertDeliveries::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_alert_deliveries_alert")
                .table(AlertDeliveries::Table)
                .col(AlertDeliveries::AlertId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AlertChannels::Table)
                .col(big_integer(AlertChannels::OrgId).primary_key())
                .col(text(AlertChannels::Emails))
                .col(string_len_null(AlertChannels::WebhookUrl, 2000))
                .col(text_null(AlertChannels::WebhookSecret))
                .col(big_integer(AlertChannels::UpdatedAt))
                .foreign_key(&mut fk((AlertChannels::Table, AlertChannels::OrgId), (Orgs::Table, Orgs::Id)))
                .to_owned(),
        )
        .await
    }
}
