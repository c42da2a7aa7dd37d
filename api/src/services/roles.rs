//! Roles (SPEC ORG-3): the built-in ones every organization shares and an
//! organization's custom ones. An organization sees built-ins and its own,
//! which every query here says in its WHERE clause.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};

use crate::{
    entity::role,
    error::{ApiError, Result},
    now_ms,
    rbac::{self, BUILTIN_ROLES, Perm},
};

/// Built-in roles or organization `org_id`'s.
fn offered_to(org_id: i64) -> Condition {
    Condition::any().add(role::Column::Builtin.eq(true)).add(role::Column::OrgId.eq(org_id))
}

/// The roles organization `org_id` may hand out.
pub async fn list(db: &impl ConnectionTrait, org_id: i64) -> Result<Vec<role::Model>> {
    Ok(role::Entity::find().filter(offered_to(org_id)).order_by_asc(role::Column::Id).all(db).await?)
}

/// A built-in role by name.
pub async fn builtin(db: &impl ConnectionTrait, name: &str) -> Result<role::Model> {
    role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .filter(role::Column::Builtin.eq(true))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal("finding a built-in role", name))
}

/// Creates the built-in roles, or gives them the permissions this version
/// says.
pub async fn ensure_builtins(db: &impl ConnectionTrait) -> Result<()> {
    for b in BUILTIN_ROLES {
        let perms = rbac::store_perms(b.perms);
        match role::Entity::find()
            .filter(role::Column::Name.eq(b.name))
            .filter(role::Column::Builtin.eq(true))
            .one(db)
            .await?
        {
            // A newer version may give a built-in role more permissions.
            Some(r) if r.permissions != perms => {
                let mut a = r.into_active_model();
                a.permissions = Set(perms);
                a.update(db).await?;
            }
            Some(_) => {}
            None => {
                role::ActiveModel {
                    org_id: Set(None),
                    name: Set(b.name.to_owned()),
                    builtin: Set(true),
                    permissions: Set(perms),
                    created_at: Set(now_ms()),
                    ..Default::default()
                }
                .insert(db)
                .await?;
            }
        }
    }
    Ok(())
}

/// Creates a custom role of organization `org_id`.
pub async fn create(
    db: &impl ConnectionTrait,
    org_id: i64,
    name: String,
    perms: &[Perm],
) -> Result<role::Model> {
    let clash = role::Entity::find()
        .filter(role::Column::Name.eq(name.as_str()))
        .filter(offered_to(org_id))
        .one(db)
        .await?;
    if clash.is_some() {
        return Err(ApiError::conflict(format!("a role `{name}` exists")));
    }
    Ok(role::ActiveModel {
        org_id: Set(Some(org_id)),
        name: Set(name),
        builtin: Set(false),
        permissions: Set(rbac::store_perms(perms)),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// A custom role of organization `org_id` (a built-in is seen, and refused).
pub async fn own_custom(db: &impl ConnectionTrait, org_id: i64, id: i64) -> Result<role::Model> {
    let r = role::Entity::find_by_id(id)
        .filter(offered_to(org_id))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::not_found("no such role"))?;
    if r.builtin {
        return Err(ApiError::conflict("built-in roles cannot be changed or deleted"));
    }
    Ok(r)
}

/// Renames a custom role and sets its permissions.
pub async fn update(
    db: &impl ConnectionTrait,
    r: role::Model,
    name: String,
    perms: &[Perm],
) -> Result<role::Model> {
    let mut a = r.into_active_model();
    a.name = Set(name);
    a.permissions = Set(rbac::store_perms(perms));
    Ok(a.update(db).await?)
}

/// Deletes a custom role.
pub async fn delete(db: &impl ConnectionTrait, r: role::Model) -> Result<()> {
    role::Entity::delete_by_id(r.id).exec(db).await?;
    Ok(())
}
