//! Kiro accounts: credential files, local login discovery, machine ids, token refresh with
//! per-account single-flight, the account pool, and the background refresher.
//!
//! The proxy uses one [`Accounts`] (shared as `Arc<Accounts>` with [`RefreshService`]):
//! [`Accounts::plan`] for the order in which to try accounts, [`Accounts::auth`] for a valid
//! bearer, [`Accounts::force_refresh`] after a "bearer token is invalid" answer, and
//! `report_success` / `report_failure` afterwards.

pub mod credentials;
pub mod discovery;
pub mod machine_id;
pub mod manager;
pub mod pool;
pub mod refresh;
pub mod service;
pub mod time;

pub use credentials::AuthMethod;
pub use manager::{AccountSettings, Accounts, AccountsError, UpstreamAuth};
pub use pool::{AccountId, AccountStatus};
pub use refresh::RefreshError;
pub use service::RefreshService;
