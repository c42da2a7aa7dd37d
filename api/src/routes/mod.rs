//! The HTTP surface, one module per resource, each ending in `routes()`:
//! handlers extract (the caller, its permission, the body), call a service
//! and map the result to the wire types declared here.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod chains;
pub mod contracts;
pub mod evidence;
pub mod explorer;
pub mod findings;
pub mod invitations;
pub mod lifecycle;
pub mod logs;
pub mod messages;
pub mod metrics;
pub mod orgs;
pub mod quota;
pub mod repository;
pub mod requests;
pub mod roles;
pub mod sandbox;
pub mod users;
