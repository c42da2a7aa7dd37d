//! The contract repository (SPEC SC-6): each organization keeps projects
//! of contract source files with the history of every file. A project is
//! its organization's to change; published to the shared store, every
//! organization reads it and may copy it into a project of its own, but
//! never changes it. The platform operator reads every project.
//!
//! Every change of a file is a revision, numbered per project: the
//! project's head counter is raised in the transaction that writes the
//! file, so concurrent saves (on any replica) get distinct numbers, and
//! the file limit is counted under the same lock.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Set, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use sha2::{Digest, Sha256};

use crate::{
    domain::{RevisionAction, Tenant},
    entity::{contract_file, contract_project, contract_revision},
    error::{ApiError, Result},
    now_ms,
};

/// Most files of one project.
pub const MAX_FILES: u64 = 100;

/// A file to write, checked.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Relative path (`contracts/Bank.sol`).
    pub path: String,
    /// Its text.
    pub content: String,
}

/// A new project, checked.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Its name, unique in the organization.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its first files, each its own revision.
    pub files: Vec<NewFile>,
    /// The shared project copied.
    pub copied_from: Option<i64>,
    /// The first revisions' message (`uploaded`, `from template Token`).
    pub message: String,
}

/// The projects the tenant reads: its organization's and the shared ones
/// (every one for the platform operator).
fn readable(tenant: &Tenant) -> Select<contract_project::Entity> {
    match tenant.only() {
        Some(org) => contract_project::Entity::find().filter(
            Condition::any()
                .add(contract_project::Column::OrgId.eq(org))
                .add(contract_project::Column::Shared.eq(true)),
        ),
        None => contract_project::Entity::find(),
    }
}

/// The projects the tenant reads, its own first, then by name.
pub async fn list(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<contract_project::Model>> {
    let mut rows = readable(tenant).order_by_asc(contract_project::Column::Name).all(db).await?;
    rows.sort_by_key(|p| p.org_id != tenant.org_id);
    Ok(rows)
}

/// A project the tenant reads; any other looks absent.
pub async fn visible(db: &impl ConnectionTrait, tenant: &Tenant, id: i64) -> Result<contract_project::Model> {
    readable(tenant)
        .filter(contract_project::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such contract project"))
}

/// A project the tenant's organization may change: its own. Another's
/// that it reads (shared, or the platform operator's view) is refused.
pub async fn writable(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: i64,
) -> Result<contract_project::Model> {
    let p = visible(db, tenant, id).await?;
    if p.org_id != tenant.org_id {
        return Err(ApiError::forbidden(
            "another organization's project is read-only; copy it into a project of your own (`from_shared`)",
        ));
    }
    Ok(p)
}

/// A shared project and its files, to copy (`field` names it in a refusal).
pub async fn shared_source(
    db: &impl ConnectionTrait,
    id: i64,
    field: &str,
) -> Result<(contract_project::Model, Vec<contract_file::Model>)> {
    let p = contract_project::Entity::find_by_id(id)
        .filter(contract_project::Column::Shared.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| crate::validate::refuse(field, format!("no shared project {id}")))?;
    let files = files(db, p.id).await?;
    Ok((p, files))
}

/// The current files of a project, by path.
pub async fn files(db: &impl ConnectionTrait, project_id: i64) -> Result<Vec<contract_file::Model>> {
    Ok(contract_file::Entity::find()
        .filter(contract_file::Column::ProjectId.eq(project_id))
        .order_by_asc(contract_file::Column::Path)
        .all(db)
        .await?)
}

/// Creates a project of organization `org_id` with its first files.
pub async fn create(
    db: &DatabaseConnection,
    org_id: i64,
    user_id: i64,
    new: NewProject,
) -> Result<contract_project::Model> {
    let now = now_ms();
    let txn = db.begin().await?;
    let row = contract_project::ActiveModel {
        org_id: Set(org_id),
        name: Set(new.name.clone()),
        description: Set(new.description),
        shared: Set(false),
        copied_from: Set(new.copied_from),
        head_rev: Set(0),
        created_by: Set(user_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    // The unique (organization, name) index decides between two creations.
    let inserted = contract_project::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([contract_project::Column::OrgId, contract_project::Column::Name])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(format!("the organization has a project `{}` already", new.name))
            .with_details(serde_json::json!({"field": "name"})));
    }
    let p = contract_project::Entity::find()
        .filter(contract_project::Column::OrgId.eq(org_id))
        .filter(contract_project::Column::Name.eq(new.name.as_str()))
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::internal("reading a project back", new.name.clone()))?;
    for f in new.files {
        write(&txn, p.id, user_id, RevisionAction::Save, f, &new.message).await?;
    }
    txn.commit().await?;
    reread(db, p.id).await
}

async fn reread(db: &impl ConnectionTrait, id: i64) -> Result<contract_project::Model> {
    contract_project::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such contract project"))
}

/// Saves or removes (`action`) a file of project `p`, as a new revision
/// (a removal's content is not used).
pub async fn change(
    db: &DatabaseConnection,
    p: &contract_project::Model,
    user_id: i64,
    action: RevisionAction,
    file: NewFile,
    message: &str,
) -> Result<contract_revision::Model> {
    let txn = db.begin().await?;
    let r = write(&txn, p.id, user_id, action, file, message).await?;
    txn.commit().await?;
    Ok(r)
}

/// In a transaction: raises the project's head (locking its row), checks
/// the change against the files there are, records the revision and
/// updates the current file.
async fn write(
    txn: &impl ConnectionTrait,
    project_id: i64,
    user_id: i64,
    action: RevisionAction,
    f: NewFile,
    message: &str,
) -> Result<contract_revision::Model> {
    let now = now_ms();
    contract_project::Entity::update_many()
        .col_expr(contract_project::Column::HeadRev, Expr::col(contract_project::Column::HeadRev).add(1))
        .col_expr(contract_project::Column::UpdatedAt, Expr::value(now))
        .filter(contract_project::Column::Id.eq(project_id))
        .exec(txn)
        .await?;
    let rev = reread(txn, project_id).await?.head_rev;
    let current = contract_file::Entity::find()
        .filter(contract_file::Column::ProjectId.eq(project_id))
        .filter(contract_file::Column::Path.eq(f.path.as_str()))
        .one(txn)
        .await?;
    match (&current, action) {
        (None, RevisionAction::Delete) => {
            return Err(ApiError::not_found(format!("the project has no file `{}`", f.path)));
        }
        (None, RevisionAction::Save) => {
            let n = contract_file::Entity::find()
                .filter(contract_file::Column::ProjectId.eq(project_id))
                .count(txn)
                .await?;
            if n >= MAX_FILES {
                return Err(crate::validate::refuse(
                    "path",
                    format!("a project holds at most {MAX_FILES} files"),
                ));
            }
        }
        (Some(_), _) => {}
    }
    let sha256 = hex::encode(Sha256::digest(f.content.as_bytes()));
    let size = i64::try_from(f.content.len()).unwrap_or(i64::MAX);
    match (current, action) {
        (Some(old), RevisionAction::Delete) => {
            contract_file::Entity::delete_by_id(old.id).exec(txn).await?;
        }
        (Some(old), RevisionAction::Save) => {
            let mut a = old.into_active_model();
            a.content = Set(f.content.clone());
            a.sha256 = Set(sha256.clone());
            a.size = Set(size);
            a.rev = Set(rev);
            a.updated_by = Set(user_id);
            a.updated_at = Set(now);
            a.update(txn).await?;
        }
        (None, _) => {
            contract_file::ActiveModel {
                project_id: Set(project_id),
                path: Set(f.path.clone()),
                content: Set(f.content.clone()),
                sha256: Set(sha256.clone()),
                size: Set(size),
                rev: Set(rev),
                updated_by: Set(user_id),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await?;
        }
    }
    Ok(contract_revision::ActiveModel {
        project_id: Set(project_id),
        rev: Set(rev),
        path: Set(f.path),
        action: Set(action),
        content: Set(f.content),
        sha256: Set(sha256),
        size: Set(size),
        user_id: Set(user_id),
        message: Set(message.to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

/// The revisions of a project (of one file when `path` is given), newest
/// first.
pub async fn history(
    db: &impl ConnectionTrait,
    project_id: i64,
    path: Option<&str>,
) -> Result<Vec<contract_revision::Model>> {
    let mut q = contract_revision::Entity::find().filter(contract_revision::Column::ProjectId.eq(project_id));
    if let Some(p) = path {
        q = q.filter(contract_revision::Column::Path.eq(p));
    }
    Ok(q.order_by_desc(contract_revision::Column::Rev).all(db).await?)
}

/// Revision `rev` of a project.
pub async fn revision(
    db: &impl ConnectionTrait,
    project_id: i64,
    rev: i64,
) -> Result<contract_revision::Model> {
    contract_revision::Entity::find()
        .filter(contract_revision::Column::ProjectId.eq(project_id))
        .filter(contract_revision::Column::Rev.eq(rev))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("the project has no revision {rev}")))
}

/// Publishes (or withdraws) project `p` in the shared store.
pub async fn set_shared(
    db: &impl ConnectionTrait,
    p: contract_project::Model,
    shared: bool,
) -> Result<contract_project::Model> {
    let mut a = p.into_active_model();
    a.shared = Set(shared);
    a.updated_at = Set(now_ms());
    Ok(a.update(db).await?)
}

/// The number of current files of each of `ids`.
pub async fn file_counts(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<std::collections::BTreeMap<i64, i64>> {
    let rows: Vec<(i64, i64)> = contract_file::Entity::find()
        .select_only()
        .column(contract_file::Column::ProjectId)
        .column_as(contract_file::Column::Id.count(), "n")
        .filter(contract_file::Column::ProjectId.is_in(ids.iter().copied()))
        .group_by(contract_file::Column::ProjectId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
