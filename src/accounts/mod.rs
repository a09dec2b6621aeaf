//! Kiro accounts: credential files, local login discovery, machine ids, token refresh with
//! per-account single-flight, the account pool (strategies, stickiness, cool-downs, pacing,
//! quota), and the background services.
//!
//! The proxy uses one [`Accounts`] (shared as `Arc<Accounts>` with [`RefreshService`] and
//! [`UsageService`]): [`Accounts::plan_for`] for the order in which to try accounts,
//! [`Accounts::acquire`] for a pacing slot, [`Accounts::auth`] for a valid bearer,
//! [`Accounts::force_refresh`] after a "bearer token is invalid" answer, [`Accounts::report`]
//! after every attempt and [`Accounts::pin`] after a success.

pub mod clock;
pub mod credentials;
pub mod discovery;
pub mod machine_id;
pub mod manager;
pub mod pacing;
pub mod pool;
pub mod refresh;
pub mod service;
pub mod settings;
pub mod sticky;
pub mod time;
pub mod usage;

pub use credentials::AuthMethod;
pub use manager::{AccountSettings, Accounts, AccountsError, UpstreamAuth};
pub use pool::{
    AccountId, AccountStatus, Advice, Busy, DisableReason, Outcome, Permit, QuotaStatus,
};
pub use refresh::RefreshError;
pub use service::{RefreshService, UsageService};
pub use settings::{PacingLimits, PoolSettings, Strategy};
pub use usage::UsageSnapshot;
