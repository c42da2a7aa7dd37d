//! What the API does, below its handlers: each function takes a database
//! handle (a connection or a transaction) and the tenant it acts for, and
//! says the tenant in its queries' WHERE clauses.

pub mod accounts;
pub mod alerts;
pub mod audit;
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
pub mod provision;
pub mod repository;
pub mod requests;
pub mod roles;
pub mod sandbox;
pub mod users;
