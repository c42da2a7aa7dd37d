//! The contract repository (SPEC SC-6): an organization's projects of
//! contract source files with every file's history, the built-in
//! templates to start one from, and the store of projects shared across
//! organizations (read by all, copied into a project of one's own, changed
//! only by their organization).

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use govchain_contracts::templates;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    ApiJson, AppState, audit,
    auth::{Require, need},
    created,
    domain::RevisionAction,
    entity::{contract_file, contract_project, contract_revision},
    error::{ErrorBody, Result},
    routes::contracts::MAX_SOURCE,
    services::repository::{self, MAX_FILES, NewFile, NewProject},
    validate,
};

/// Longest project description, characters.
const MAX_DESCRIPTION: usize = 2_000;
/// Longest revision message, characters.
const MAX_MESSAGE: usize = 1_000;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates))
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project))
        .routes(routes!(save_file, delete_file))
        .routes(routes!(file_history))
        .routes(routes!(get_revision))
        .routes(routes!(share_project, unshare_project))
}

/// A built-in contract template.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    /// Its name (the contract it defines), what `template` names.
    pub name: String,
    /// The file a project made from it holds.
    pub file: String,
    /// What it is for.
    pub description: String,
    /// The Solidity source.
    pub source: String,
}

/// A contract project.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectView {
    /// Id.
    pub id: i64,
    /// The owning organization.
    pub org_id: i64,
    /// Name, unique in the organization.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Published in the store shared across organizations.
    pub shared: bool,
    /// Whether it is the caller's organization's (only those it changes).
    pub own: bool,
    /// The shared project it was copied from.
    pub copied_from: Option<i64>,
    /// Its latest revision number (0 before the first file).
    pub revision: i64,
    /// Its current number of files.
    pub file_count: i64,
    /// The user who created it.
    pub created_by: i64,
    /// Created, ms since 1970.
    pub created_at: i64,
    /// Last changed, ms since 1970.
    pub updated_at: i64,
}

fn project_view(p: contract_project::Model, caller_org: i64, file_count: i64) -> ProjectView {
    ProjectView {
        id: p.id,
        org_id: p.org_id,
        name: p.name,
        description: p.description,
        shared: p.shared,
        own: p.org_id == caller_org,
        copied_from: p.copied_from,
        revision: p.head_rev,
        file_count,
        created_by: p.created_by,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// A file as it is now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FileView {
    /// Relative path.
    pub path: String,
    /// Its text.
    pub content: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
    /// The revision that wrote it.
    pub revision: i64,
    /// The user who wrote it.
    pub updated_by: i64,
    /// Written, ms since 1970.
    pub updated_at: i64,
}

impl From<contract_file::Model> for FileView {
    fn from(f: contract_file::Model) -> FileView {
        FileView {
            path: f.path,
            content: f.content,
            size: f.size,
            sha256: f.sha256,
            revision: f.rev,
            updated_by: f.updated_by,
            updated_at: f.updated_at,
        }
    }
}

/// A project with its current files.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectDetail {
    /// The project.
    #[serde(flatten)]
    pub project: ProjectView,
    /// Its files, by path.
    pub files: Vec<FileView>,
}

fn project_detail(
    p: contract_project::Model,
    caller_org: i64,
    files: Vec<contract_file::Model>,
) -> ProjectDetail {
    let n = i64::try_from(files.len()).unwrap_or(i64::MAX);
    ProjectDetail {
        project: project_view(p, caller_org, n),
        files: files.into_iter().map(Into::into).collect(),
    }
}

/// One revision of one file.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionView {
    /// Its number in the project (1, 2, ...).
    pub revision: i64,
    /// The file.
    pub path: String,
    /// `save` or `delete`.
    pub action: String,
    /// The user who made it.
    pub user_id: i64,
    /// Made, ms since 1970.
    pub created_at: i64,
    /// Its message.
    pub message: String,
    /// Bytes saved (0 for a removal).
    pub size: i64,
    /// SHA-256 of what was saved, hex.
    pub sha256: String,
}

impl From<&contract_revision::Model> for RevisionView {
    fn from(r: &contract_revision::Model) -> RevisionView {
        RevisionView {
            revision: r.rev,
            path: r.path.clone(),
            action: r.action.into(),
            user_id: r.user_id,
            created_at: r.created_at,
            message: r.message.clone(),
            size: r.size,
            sha256: r.sha256.clone(),
        }
    }
}

/// A revision with what it saved.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionDetail {
    /// The revision.
    #[serde(flatten)]
    pub revision: RevisionView,
    /// The content saved (empty for a removal).
    pub content: String,
}

/// A file to upload or save.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    /// Relative path ending in `.sol`, `.json` or `.md`, at most 200
    /// characters, without `..`.
    #[schema(min_length = 1, max_length = 200)]
    pub path: String,
    /// Its text, at most 512 KiB.
    pub content: String,
}

/// A new project: uploaded files, a built-in template, a copy of a shared
/// project, or empty.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProjectRequest {
    /// Name, unique in the organization.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// What it is for (a copy keeps the shared project's when empty).
    #[serde(default)]
    pub description: String,
    /// Files to upload (at most 100).
    #[serde(default)]
    pub files: Option<Vec<FileBody>>,
    /// A built-in template's name (`GET /api/v1/contract-templates`).
    #[serde(default)]
    pub template: Option<String>,
    /// The id of a shared project to copy.
    #[serde(default)]
    pub from_shared: Option<i64>,
}

/// A file saved as a new revision.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveFileRequest {
    /// Relative path ending in `.sol`, `.json` or `.md`.
    #[schema(min_length = 1, max_length = 200)]
    pub path: String,
    /// Its text, at most 512 KiB.
    pub content: String,
    /// What changed.
    #[serde(default)]
    pub message: String,
}

/// Which file.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// The file's path (the history: all files when absent).
    pub path: Option<String>,
    /// Why it is removed (a removal's revision message).
    pub message: Option<String>,
}

fn check_file(field: &str, f: FileBody) -> Result<NewFile> {
    validate::source_path(&format!("{field}path"), &f.path)?;
    let content_field = format!("{field}content");
    if f.content.len() > MAX_SOURCE {
        return Err(validate::refuse(&content_field, format!("at most {MAX_SOURCE} bytes")));
    }
    validate::text(&content_field, &f.content, MAX_SOURCE)?;
    Ok(NewFile { path: f.path, content: f.content })
}

fn check_message(message: &str) -> Result<String> {
    validate::text("message", message, MAX_MESSAGE)?;
    Ok(message.trim().to_owned())
}

/// The built-in contract templates.
#[utoipa::path(get, path = "/api/v1/contract-templates", tag = "repository",
    responses((status = 200, body = [TemplateView])))]
async fn list_templates(_auth: Require<need::ChainView>) -> Json<Vec<TemplateView>> {
    Json(
        templates::ALL
            .iter()
            .map(|t| TemplateView {
                name: t.contract.into(),
                file: t.file.into(),
                description: t.summary.into(),
                source: t.source.into(),
            })
            .collect(),
    )
}

/// The caller organization's projects (first) and the shared ones of
/// other organizations (`own` false); every project for the platform
/// operator.
#[utoipa::path(get, path = "/api/v1/contract-projects", tag = "repository",
    responses((status = 200, body = [ProjectView])))]
async fn list_projects(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
) -> Result<Json<Vec<ProjectView>>> {
    let rows = repository::list(&state.read, &auth.tenant()).await?;
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let counts = repository::file_counts(&state.read, &ids).await?;
    Ok(Json(
        rows.into_iter()
            .map(|p| {
                let n = counts.get(&p.id).copied().unwrap_or(0);
                project_view(p, auth.org_id, n)
            })
            .collect(),
    ))
}

/// Creates a project of the caller's organization from uploaded `files`,
/// a built-in `template`, or a copy of a shared project (`from_shared`);
/// each first file is a revision.
#[utoipa::path(post, path = "/api/v1/contract-projects", tag = "repository",
    request_body = NewProjectRequest,
    responses(
        (status = 201, body = ProjectDetail),
        (status = 403, body = ErrorBody),
        (status = 409, description = "`conflict`: the organization has a project of that name", body = ErrorBody),
        (status = 422, description = "`invalid`: a bad name, description, path or content, too many files, more than one source, an unknown template, or no shared project of that id; `details.field` names it", body = ErrorBody)))]
async fn create_project(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    ApiJson(req): ApiJson<NewProjectRequest>,
) -> Result<Response> {
    validate::name("name", &req.name, 100)?;
    validate::text("description", &req.description, MAX_DESCRIPTION)?;
    let sources = [req.files.is_some(), req.template.is_some(), req.from_shared.is_some()];
    if sources.iter().filter(|s| **s).count() > 1 {
        let field = if req.from_shared.is_some() { "from_shared" } else { "template" };
        return Err(validate::refuse(field, "give one of files, template and from_shared"));
    }
    let mut description = req.description.trim().to_owned();
    let (files, copied_from, message) = if let Some(files) = req.files {
        if files.len() as u64 > MAX_FILES {
            return Err(validate::refuse("files", format!("at most {MAX_FILES} files")));
        }
        let mut checked: Vec<NewFile> = Vec::with_capacity(files.len());
        for (i, f) in files.into_iter().enumerate() {
            let f = check_file(&format!("files[{i}]."), f)?;
            if checked.iter().any(|c| c.path == f.path) {
                return Err(validate::refuse(&format!("files[{i}].path"), format!("`{}` twice", f.path)));
            }
            checked.push(f);
        }
        (checked, None, "uploaded".to_owned())
    } else if let Some(name) = req.template {
        let t = templates::ALL.iter().find(|t| t.contract == name).ok_or_else(|| {
            let names: Vec<&str> = templates::ALL.iter().map(|t| t.contract).collect();
            validate::refuse("template", format!("no template `{name}` ({})", names.join(", ")))
        })?;
        if description.is_empty() {
            t.summary.clone_into(&mut description);
        }
        let file = NewFile { path: t.file.into(), content: t.source.into() };
        (vec![file], None, format!("from template {}", t.contract))
    } else if let Some(id) = req.from_shared {
        let (src, files) = repository::shared_source(&state.read, id, "from_shared").await?;
        if description.is_empty() {
            description = src.description;
        }
        let files = files.into_iter().map(|f| NewFile { path: f.path, content: f.content }).collect();
        (files, Some(src.id), format!("copied from shared project {} ({})", src.id, src.name))
    } else {
        (Vec::new(), None, String::new())
    };
    let new = NewProject { name: req.name.trim().to_owned(), description, files, copied_from, message };
    let p = repository::create(&state.db, auth.org_id, auth.user_id, new).await?;
    let files = repository::files(&state.db, p.id).await?;
    let detail = format!("contract project {} ({}): {} file(s)", p.id, p.name, files.len());
    Ok(audit::with_detail(created(project_detail(p, auth.org_id, files)), detail))
}

/// A project with its current files.
#[utoipa::path(get, path = "/api/v1/contract-projects/{id}", tag = "repository",
    params(("id" = i64, Path, description = "Project id")),
    responses((status = 200, body = ProjectDetail), (status = 404, body = ErrorBody)))]
async fn get_project(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
) -> Result<Json<ProjectDetail>> {
    let p = repository::visible(&state.read, &auth.tenant(), id).await?;
    let files = repository::files(&state.read, p.id).await?;
    Ok(Json(project_detail(p, auth.org_id, files)))
}

/// Saves a file (new or changed) of one of the organization's projects as
/// a new revision.
#[utoipa::path(put, path = "/api/v1/contract-projects/{id}/files", tag = "repository",
    params(("id" = i64, Path, description = "Project id")), request_body = SaveFileRequest,
    responses(
        (status = 200, body = RevisionView),
        (status = 403, description = "`forbidden`: no permission, or another organization's project", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid`: a bad path, content or message, or the project is full; `details.field` names it", body = ErrorBody)))]
async fn save_file(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SaveFileRequest>,
) -> Result<Response> {
    let p = repository::writable(&state.db, &auth.tenant(), id).await?;
    let message = check_message(&req.message)?;
    let file = check_file("", FileBody { path: req.path, content: req.content })?;
    let r = repository::change(&state.db, &p, auth.user_id, RevisionAction::Save, file, &message).await?;
    let detail = format!("contract project {} ({}): saved {} as revision {}", p.id, p.name, r.path, r.rev);
    Ok(audit::with_detail(Json(RevisionView::from(&r)), detail))
}

/// Removes a file of one of the organization's projects, as a new
/// revision (its history stays).
#[utoipa::path(delete, path = "/api/v1/contract-projects/{id}/files", tag = "repository",
    params(("id" = i64, Path, description = "Project id"), FileQuery),
    responses(
        (status = 204),
        (status = 403, description = "`forbidden`: no permission, or another organization's project", body = ErrorBody),
        (status = 404, description = "`not_found`: no such project or file", body = ErrorBody),
        (status = 422, description = "`invalid`: a bad or missing path, or a bad message", body = ErrorBody)))]
async fn delete_file(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
    Query(q): Query<FileQuery>,
) -> Result<Response> {
    let p = repository::writable(&state.db, &auth.tenant(), id).await?;
    let path = q.path.unwrap_or_default();
    validate::source_path("path", &path)?;
    let message = check_message(q.message.as_deref().unwrap_or("removed"))?;
    let file = NewFile { path, content: String::new() };
    let r = repository::change(&state.db, &p, auth.user_id, RevisionAction::Delete, file, &message).await?;
    let detail = format!("contract project {} ({}): removed {} in revision {}", p.id, p.name, r.path, r.rev);
    Ok(audit::with_detail(StatusCode::NO_CONTENT, detail))
}

/// The revisions of a project's files (of one file with `path`), newest
/// first.
#[utoipa::path(get, path = "/api/v1/contract-projects/{id}/files/history", tag = "repository",
    params(("id" = i64, Path, description = "Project id"), FileQuery),
    responses(
        (status = 200, body = [RevisionView]),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid`: a bad path", body = ErrorBody)))]
async fn file_history(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path(id): Path<i64>,
    Query(q): Query<FileQuery>,
) -> Result<Json<Vec<RevisionView>>> {
    let p = repository::visible(&state.read, &auth.tenant(), id).await?;
    if let Some(path) = &q.path {
        validate::source_path("path", path)?;
    }
    let rows = repository::history(&state.read, p.id, q.path.as_deref()).await?;
    Ok(Json(rows.iter().map(RevisionView::from).collect()))
}

/// One revision with what it saved.
#[utoipa::path(get, path = "/api/v1/contract-projects/{id}/revisions/{rev}", tag = "repository",
    params(("id" = i64, Path, description = "Project id"), ("rev" = i64, Path, description = "Revision number")),
    responses((status = 200, body = RevisionDetail), (status = 404, body = ErrorBody)))]
async fn get_revision(
    State(state): State<AppState>,
    auth: Require<need::ChainView>,
    Path((id, rev)): Path<(i64, i64)>,
) -> Result<Json<RevisionDetail>> {
    let p = repository::visible(&state.read, &auth.tenant(), id).await?;
    let r = repository::revision(&state.read, p.id, rev).await?;
    Ok(Json(RevisionDetail { revision: RevisionView::from(&r), content: r.content }))
}

/// Publishes one of the organization's projects in the shared store:
/// every organization reads it and may copy it.
#[utoipa::path(post, path = "/api/v1/contract-projects/{id}/share", tag = "repository",
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 200, body = ProjectView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn share_project(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
) -> Result<Response> {
    let p = repository::writable(&state.db, &auth.tenant(), id).await?;
    let p = repository::set_shared(&state.db, p, true).await?;
    let n = repository::file_counts(&state.db, &[p.id]).await?.get(&p.id).copied().unwrap_or(0);
    let detail = format!("contract project {} ({}) shared", p.id, p.name);
    Ok(audit::with_detail(Json(project_view(p, auth.org_id, n)), detail))
}

/// Withdraws one of the organization's projects from the shared store
/// (copies made meanwhile stay their organizations').
#[utoipa::path(delete, path = "/api/v1/contract-projects/{id}/share", tag = "repository",
    params(("id" = i64, Path, description = "Project id")),
    responses(
        (status = 204),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn unshare_project(
    State(state): State<AppState>,
    auth: Require<need::ContractDeploy>,
    Path(id): Path<i64>,
) -> Result<Response> {
    let p = repository::writable(&state.db, &auth.tenant(), id).await?;
    let p = repository::set_shared(&state.db, p, false).await?;
    let detail = format!("contract project {} ({}) no longer shared", p.id, p.name);
    Ok(audit::with_detail(StatusCode::NO_CONTENT, detail))
}
