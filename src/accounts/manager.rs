//! [`Accounts`]: the one entry point the proxy and the background service share. It owns the
//! credentials, hands out valid bearer tokens (refreshing lazily), and keeps the pool.
//!
//! Refresh is single-flight per account: an async mutex per account with a double check, and a
//! generation counter so that callers who queued behind a refresh reuse its outcome, success or
//! failure, instead of repeating it. There is no global lock: accounts refresh independently.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::credentials::{
    load_file, AuthMethod, Credential, CredentialStore, CredentialsError, EntryKey, FileForm,
};
use super::discovery::{discover, KIRO_IDE_TOKEN_FILE};
use super::machine_id::{self, MachineIdInputs};
use super::pool::{
    AccountId, AccountStatus, Advice, Busy, DisableReason, Outcome, Permit, Pool, PoolMember,
};
use super::refresh::{self, expand_region, RefreshError, RefreshTarget, RefreshedToken};
use super::settings::{AccountLimits, PoolSettings};
use super::time::{format_rfc3339_millis, now_millis};
use super::usage::{self, RestCaller};
use crate::upstream::HttpClient;

/// The profile ARN shared by social (GitHub/Google) logins (kiro-protocol.md §1.8).
pub const SOCIAL_PROFILE_ARN: &str =
    "arn:aws:codewhisperer:us-east-1:699475941385:profile/EHGA3GRVQMUK";
/// The placeholder ARN for Builder ID logins without a profile of their own (§1.8).
pub const BUILDER_ID_PROFILE_ARN: &str =
    "arn:aws:codewhisperer:us-east-1:638616132270:profile/AAAACCCCXXXX";

/// A token this close to expiry is not handed out even when a refresh fails.
const EXPIRY_SAFETY: Duration = Duration::from_secs(60);
/// A forced refresh within this window of another refresh reuses it.
const FORCE_REUSE_WINDOW: Duration = Duration::from_secs(5);
/// After a failed refresh, callers wait this long before trying again (unless told longer).
const FAILED_REFRESH_BACKOFF: Duration = Duration::from_secs(5);

/// Settings for [`Accounts::load`].
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// A `credentials.json` (object or array). Required to exist when set.
    pub credentials_file: Option<PathBuf>,
    /// Also use a local Kiro IDE login (`~/.aws/sso/cache/kiro-auth-token.json`).
    pub discover_local: bool,
    /// The default region for auth and API calls.
    pub region: String,
    /// Social refresh endpoint; `{region}` is the account's auth region.
    pub social_refresh_url: String,
    /// AWS SSO-OIDC token endpoint; `{region}` is the account's auth region.
    pub idc_token_url: String,
    pub kiro_version: String,
    /// A machine id for credentials without their own (64 hex or a UUID).
    pub machine_id: Option<String>,
    /// How long before expiry the background service refreshes.
    pub refresh_margin: Duration,
    /// How long before expiry a request triggers a refresh.
    pub lazy_refresh_margin: Duration,
    /// Where to look for local logins; `$HOME` when `None`.
    pub home_dir: Option<PathBuf>,
    /// `getUsageLimits`; `{region}` is `us-east-1` or `eu-central-1` (see `usage::rest_region`).
    pub usage_url: String,
    /// `ListAvailableModels`; `{region}` as for `usage_url`.
    pub models_url: String,
    /// Strategy, stickiness, cool-downs, pacing and quota polling.
    pub pool: PoolSettings,
    /// Accounts declared in the gateway's configuration (the credentials-file schema). One
    /// whose `id` or `name` matches a loaded account overrides that account's policy fields
    /// (name, disabled, priority, weight, regions, allowedModels, pacing); one that matches
    /// none and carries a token is an account of its own, whose refreshed tokens live in
    /// memory only.
    pub configured: Vec<Credential>,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            credentials_file: None,
            discover_local: true,
            region: "us-east-1".into(),
            social_refresh_url: "https://prod.{region}.auth.desktop.kiro.dev/refreshToken".into(),
            idc_token_url: "https://oidc.{region}.amazonaws.com/token".into(),
            kiro_version: "0.11.107".into(),
            machine_id: None,
            refresh_margin: Duration::from_secs(15 * 60),
            lazy_refresh_margin: Duration::from_secs(10 * 60),
            home_dir: None,
            usage_url: "https://q.{region}.amazonaws.com/getUsageLimits".into(),
            models_url: "https://q.{region}.amazonaws.com/ListAvailableModels".into(),
            pool: PoolSettings::default(),
            configured: Vec::new(),
        }
    }
}

/// What a request to Kiro needs from its account.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamAuth {
    /// For `Authorization: Bearer …`.
    pub bearer: String,
    /// For the body's `profileArn` (none for API keys).
    pub profile_arn: Option<String>,
    /// For the `tokentype` header: `API_KEY` or `EXTERNAL_IDP`.
    pub token_type: Option<&'static str>,
    /// 64 hex characters, for the user agents.
    pub machine_id: String,
    /// The region of the `q.{region}.amazonaws.com` API host.
    pub api_region: String,
}

impl fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamAuth")
            .field("bearer", &"<redacted>")
            .field("profile_arn", &self.profile_arn)
            .field("token_type", &self.token_type)
            .field("machine_id", &self.machine_id)
            .field("api_region", &self.api_region)
            .finish()
    }
}

/// Why [`Accounts::load`] failed.
#[derive(Debug)]
pub enum AccountsError {
    Credentials(CredentialsError),
    /// Nothing configured and nothing discovered.
    NoAccounts {
        looked_in: Vec<PathBuf>,
    },
}

impl fmt::Display for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountsError::Credentials(e) => e.fmt(f),
            AccountsError::NoAccounts { looked_in } => {
                f.write_str(
                    "no Kiro credentials: set a credentials file, or sign in to the Kiro IDE",
                )?;
                if !looked_in.is_empty() {
                    let places: Vec<String> =
                        looked_in.iter().map(|p| p.display().to_string()).collect();
                    write!(f, " (looked in {})", places.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for AccountsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AccountsError::Credentials(e) => Some(e),
            AccountsError::NoAccounts { .. } => None,
        }
    }
}

impl From<CredentialsError> for AccountsError {
    fn from(e: CredentialsError) -> Self {
        AccountsError::Credentials(e)
    }
}

/// Mutable token state of one account.
#[derive(Debug)]
struct TokenState {
    /// The record as it is (to be) written back.
    credential: Credential,
    key: EntryKey,
    expires_at: Option<i64>,
    /// Bumped after every refresh attempt; see the module comment.
    generation: u64,
    last_attempt: Option<Instant>,
    last_success: Option<Instant>,
    last_error: Option<RefreshError>,
    retry_after: Option<Duration>,
}

#[derive(Debug)]
struct Account {
    id: AccountId,
    name: String,
    method: AuthMethod,
    machine_id: String,
    api_region: String,
    auth_region: String,
    /// Index into `Accounts::stores`.
    store: usize,
    token: RwLock<TokenState>,
    /// Held by whoever is refreshing; owned so the refresh task can keep it (see below).
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct StoreBinding {
    store: Arc<CredentialStore>,
    /// Our accounts in this file, in file order.
    members: Vec<AccountId>,
    /// A writeback failed and must be retried.
    dirty: AtomicBool,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Refresh when the token expires within the margin.
    IfExpiring(Duration),
    /// The upstream rejected the token: refresh unless someone just did.
    Force,
}

/// All accounts. Share it as `Arc<Accounts>` between the proxy and the background service;
/// every method takes `&self` and works from any Tokio runtime.
pub struct Accounts {
    settings: AccountSettings,
    accounts: Vec<Arc<Account>>,
    stores: Vec<Arc<StoreBinding>>,
    pool: Pool,
    client: Arc<HttpClient>,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("accounts", &self.accounts.len())
            .field("stores", &self.stores.len())
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Loads the configured file and, if enabled, the local Kiro IDE login. Blocking file I/O
    /// and TLS trust-store loading: call at start-up.
    pub fn load(settings: AccountSettings) -> Result<Accounts, AccountsError> {
        Self::load_with_client(settings, HttpClient::default())
    }

    /// [`Accounts::load`] with a specific HTTP client (custom CA, body cap).
    pub fn load_with_client(
        settings: AccountSettings,
        client: HttpClient,
    ) -> Result<Accounts, AccountsError> {
        let mut builder = Builder::default();
        let mut looked_in = Vec::new();
        let mut used_overrides = vec![false; settings.configured.len()];
        if let Some(path) = &settings.credentials_file {
            let file = load_file(path)?;
            let stem = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "credentials".into());
            let entries: Vec<(String, Credential)> = file
                .entries
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let c = apply_overrides(c, &settings.configured, &mut used_overrides);
                    (c.label().unwrap_or_else(|| format!("{stem}#{i}")), c)
                })
                .collect();
            builder.add_store(&settings, path.clone(), file.form, true, entries, 0);
            looked_in.push(path.clone());
        }
        if settings.discover_local {
            if let Some(home) = settings.home_dir.clone().or_else(home_dir) {
                for found in discover(&home) {
                    if builder.has_refresh_token(found.credential.refresh_token.as_deref()) {
                        log::info!(
                            "the {} login is already in the credentials file",
                            found.source
                        );
                        continue;
                    }
                    let credential = apply_overrides(
                        found.credential,
                        &settings.configured,
                        &mut used_overrides,
                    );
                    let name = credential
                        .label()
                        .unwrap_or_else(|| found.source.to_string());
                    // Local logins go after configured accounts.
                    builder.add_store(
                        &settings,
                        found.path,
                        found.form,
                        false,
                        vec![(name, credential)],
                        i64::MAX / 2,
                    );
                }
                looked_in.push(home.join(KIRO_IDE_TOKEN_FILE));
            }
        }
        // Configured entries that matched nothing are accounts of their own.
        let own: Vec<(String, Credential)> = settings
            .configured
            .iter()
            .zip(&used_overrides)
            .filter(|(_, used)| !**used)
            .enumerate()
            .map(|(i, (c, _))| {
                (
                    c.label().unwrap_or_else(|| format!("config#{i}")),
                    c.clone(),
                )
            })
            .collect();
        if !own.is_empty() {
            builder.add_accounts(&settings, own, 0, NO_STORE);
        }
        if builder.accounts.is_empty() {
            return Err(AccountsError::NoAccounts { looked_in });
        }
        let pool = Pool::new(builder.members, settings.pool.clone());
        Ok(Accounts {
            settings,
            accounts: builder.accounts,
            stores: builder.stores,
            pool,
            client: Arc::new(client),
        })
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The HTTP client used for refresh, shareable by other out-of-band calls.
    pub fn http_client(&self) -> &HttpClient {
        &self.client
    }

    /// The pool settings in force.
    pub fn pool_settings(&self) -> &PoolSettings {
        self.pool.settings()
    }

    /// The accounts to try for `model` (a Kiro model id), best first, without a session.
    /// Kept for existing callers; prefer [`Accounts::plan_for`].
    pub fn plan(&self, model: &str) -> Vec<AccountId> {
        self.pool.plan(model, None)
    }

    /// The accounts to try for `model` (a Kiro model id), best first; empty when none can
    /// serve it now. A `session` pinned to a usable account puts that account first; the rest
    /// follow the strategy, for failover.
    pub fn plan_for(&self, model: &str, session: Option<&str>) -> Vec<AccountId> {
        self.pool.plan(model, session)
    }

    /// How many accounts could serve `model` now (`""`: any). Unlike planning, this does not
    /// advance the round-robin rotation: use it for `/health`.
    pub fn usable_count(&self, model: &str) -> usize {
        self.pool.usable_count(model)
    }

    /// Pins `session` to `id` for the sticky TTL (sliding). Call after a success on `id`; the
    /// pin moves when a session's request succeeds on another account.
    pub fn pin(&self, session: &str, id: AccountId) {
        self.pool.pin(session, id);
    }

    /// Records how one attempt on `id` ended (once per attempt) and returns the pool's advice
    /// for the next attempt.
    pub fn report(&self, id: AccountId, outcome: Outcome) -> Advice {
        self.pool.report(id, outcome)
    }

    /// What [`Accounts::report`] would advise after `outcome`, without recording anything:
    /// for deciding whether an attempt is the last before its error body is read. Report the
    /// attempt afterwards, once, with the most precise outcome known.
    pub fn advise(&self, id: AccountId, outcome: &Outcome) -> Advice {
        self.pool.advise(id, outcome)
    }

    /// A pacing slot on `id` (concurrency, spacing, per-minute limits, the global limit),
    /// waiting at most `PoolSettings::max_pacing_wait`. Keep the permit until the response
    /// has ended; dropping it frees the slot.
    pub async fn acquire(&self, id: AccountId) -> Result<Permit, Busy> {
        self.pool.acquire(id).await
    }

    /// `Some(0)` when an account is available; else the time until the first one returns
    /// from a cool-down or exhaustion (for `retry-after`); `None` when all are disabled.
    pub fn earliest_available(&self) -> Option<Duration> {
        self.pool.earliest_available()
    }

    /// The Kiro model ids the pool can serve (the union of the polled `ListAvailableModels`
    /// of the accounts in rotation), sorted; empty until polled.
    pub fn available_models(&self) -> Vec<String> {
        self.pool.available_models()
    }

    /// Compatibility wrapper: `report(id, Outcome::Success { credits: None })`.
    pub fn report_success(&self, id: AccountId) {
        self.pool.report_success(id);
    }

    /// Compatibility wrapper: counts a failure and shows `reason` as the last error; never
    /// changes the account's state.
    pub fn report_failure(&self, id: AccountId, reason: &str) {
        self.pool.report_failure(id, reason);
    }

    /// Polls `getUsageLimits` and `ListAvailableModels` for every account that is not
    /// disabled, one after another with `spacing` between accounts. Returns how many accounts
    /// answered. Failures are logged and leave the last known values in place.
    pub async fn poll_usage(&self, spacing: Duration) -> usize {
        let mut answered = 0;
        for (i, account) in self.accounts.iter().enumerate() {
            if self.pool.disabled_reason(account.id).is_some() {
                continue;
            }
            if i > 0 && !spacing.is_zero() {
                tokio::time::sleep(spacing).await;
            }
            let auth = match self.auth(account.id).await {
                Ok(auth) => auth,
                Err(e) => {
                    log::debug!("usage poll of {} skipped: {e}", account.name);
                    continue;
                }
            };
            let caller = RestCaller {
                bearer: &auth.bearer,
                token_type: auth.token_type,
                machine_id: &account.machine_id,
                auth_region: &account.auth_region,
            };
            match usage::fetch_usage(&self.client, &self.settings.usage_url, &caller).await {
                Ok(snapshot) => {
                    log::debug!(
                        "quota of {}: {:.2} of {:.2} credits left ({})",
                        account.name,
                        snapshot.remaining(),
                        snapshot.limit,
                        snapshot
                            .subscription
                            .as_deref()
                            .unwrap_or("unknown subscription")
                    );
                    self.pool.set_usage(account.id, snapshot);
                    answered += 1;
                }
                Err(e) => log::warn!("getUsageLimits for {} failed: {e}", account.name),
            }
            match usage::fetch_models(&self.client, &self.settings.models_url, &caller).await {
                Ok(models) => self.pool.set_models(account.id, models),
                Err(e) => log::warn!("ListAvailableModels for {} failed: {e}", account.name),
            }
        }
        answered
    }

    /// Per-account facts for `/health`, in priority order. No secrets.
    pub fn status(&self) -> Vec<AccountStatus> {
        let now = now_millis();
        self.pool.status(|id| {
            let account = self.account(id).ok()?;
            if account.method == AuthMethod::ApiKey {
                return None;
            }
            let state = account.token.read().unwrap_or_else(|p| p.into_inner());
            state.expires_at.map(|t| (t - now).div_euclid(1000))
        })
    }

    /// A valid bearer for `id`, refreshing first when it expires within the lazy margin. When
    /// that refresh fails but the current token is still good for a minute, the current token
    /// is returned: a failing token endpoint should not fail requests early.
    pub async fn auth(&self, id: AccountId) -> Result<UpstreamAuth, RefreshError> {
        let account = self.account(id)?;
        if let Some(reason) = self.pool.disabled_reason(id) {
            return Err(RefreshError::AccountDisabled(reason.to_string()));
        }
        if account.method == AuthMethod::ApiKey {
            return self.current_auth(account, Duration::ZERO);
        }
        if let Ok(auth) = self.current_auth(account, self.settings.lazy_refresh_margin) {
            return Ok(auth);
        }
        self.refresh_account(account, Mode::IfExpiring(self.settings.lazy_refresh_margin))
            .await
    }

    /// Refreshes `id` after the upstream rejected its token (401/403 "bearer token … invalid").
    /// Concurrent callers share one refresh, and a refresh that finished in the last few
    /// seconds is reused rather than repeated.
    pub async fn force_refresh(&self, id: AccountId) -> Result<UpstreamAuth, RefreshError> {
        let account = self.account(id)?;
        if let Some(reason) = self.pool.disabled_reason(id) {
            return Err(RefreshError::AccountDisabled(reason.to_string()));
        }
        if account.method == AuthMethod::ApiKey {
            return Err(RefreshError::NotRefreshable);
        }
        self.refresh_account(account, Mode::Force).await
    }

    /// Refreshes every active account whose token expires within `margin`, one after another,
    /// pausing `spacing` between calls. Returns how many accounts now hold a token valid for
    /// longer than `margin`.
    pub async fn refresh_expiring(&self, margin: Duration, spacing: Duration) -> usize {
        let mut refreshed = 0;
        for account in &self.accounts {
            if account.method == AuthMethod::ApiKey
                || self.pool.disabled_reason(account.id).is_some()
                || self.current_auth(account, margin).is_ok()
            {
                continue;
            }
            // A failed refresh may still hand back the old token, so judge by the result.
            match self
                .refresh_account(account, Mode::IfExpiring(margin))
                .await
            {
                Ok(_) if self.current_auth(account, margin).is_ok() => refreshed += 1,
                Ok(_) => {}
                Err(e) => log::warn!("background refresh of {}: {e}", account.name),
            }
            if !spacing.is_zero() {
                tokio::time::sleep(spacing).await;
            }
        }
        refreshed
    }

    /// Retries writebacks that failed earlier. Returns how many files are still pending.
    pub async fn flush_pending_writes(&self) -> usize {
        let mut pending = 0;
        for (index, binding) in self.stores.iter().enumerate() {
            if binding.dirty.load(Ordering::Acquire) && !self.persist_store(index).await {
                pending += 1;
            }
        }
        pending
    }

    fn account(&self, id: AccountId) -> Result<&Arc<Account>, RefreshError> {
        self.accounts
            .get(id.0 as usize)
            .ok_or(RefreshError::UnknownAccount)
    }

    /// The current token, if it stays valid for longer than `margin`.
    fn current_auth(
        &self,
        account: &Account,
        margin: Duration,
    ) -> Result<UpstreamAuth, RefreshError> {
        let state = account.token.read().unwrap_or_else(|p| p.into_inner());
        let c = &state.credential;
        if account.method == AuthMethod::ApiKey {
            let key = c
                .kiro_api_key
                .clone()
                .or_else(|| c.access_token.clone().filter(|t| t.starts_with("ksk_")))
                .ok_or(RefreshError::MissingRefreshToken)?;
            return Ok(self.make_auth(account, key, None));
        }
        let deadline = now_millis().saturating_add(millis(margin));
        match (&c.access_token, state.expires_at) {
            (Some(token), Some(exp)) if !token.is_empty() && exp > deadline => {
                Ok(self.make_auth(account, token.clone(), c.profile_arn.as_deref()))
            }
            _ => Err(state.last_error.clone().unwrap_or_else(|| {
                RefreshError::InvalidResponse("no access token valid long enough".into())
            })),
        }
    }

    fn make_auth(&self, account: &Account, bearer: String, arn: Option<&str>) -> UpstreamAuth {
        UpstreamAuth {
            bearer,
            profile_arn: profile_arn_for(account.method, arn),
            token_type: match account.method {
                AuthMethod::ApiKey => Some("API_KEY"),
                AuthMethod::ExternalIdp => Some("EXTERNAL_IDP"),
                AuthMethod::Social | AuthMethod::Idc => None,
            },
            machine_id: account.machine_id.clone(),
            api_region: account.api_region.clone(),
        }
    }

    async fn refresh_account(
        &self,
        account: &Arc<Account>,
        mode: Mode,
    ) -> Result<UpstreamAuth, RefreshError> {
        let seen_generation = read(&account.token).generation;
        let flight = Arc::clone(&account.refresh_lock).lock_owned().await;

        // Double check under the lock: someone may have refreshed while we waited.
        {
            let state = read(&account.token);
            let finished_while_waiting = state.generation != seen_generation;
            let recent_success = state
                .last_success
                .is_some_and(|t| t.elapsed() < FORCE_REUSE_WINDOW);
            match mode {
                Mode::IfExpiring(margin) => {
                    drop(state);
                    if let Ok(auth) = self.current_auth(account, margin) {
                        return Ok(auth);
                    }
                    let state = read(&account.token);
                    if finished_while_waiting || in_backoff(&state) {
                        drop(state);
                        return self.fallback(account);
                    }
                }
                Mode::Force => {
                    if finished_while_waiting || recent_success || in_backoff(&state) {
                        let failed = state.last_error.clone();
                        drop(state);
                        return match failed {
                            Some(e) if !recent_success => Err(e),
                            _ => self.current_auth(account, Duration::ZERO),
                        };
                    }
                }
            }
        }

        // The Kiro IDE may have refreshed the same login; its newer token costs no call and
        // avoids racing it on refresh-token rotation.
        if self.adopt_newer_from_disk(account).await {
            let margin = match mode {
                Mode::IfExpiring(margin) => margin,
                Mode::Force => Duration::ZERO,
            };
            if let Ok(auth) = self.current_auth(account, margin) {
                let mut state = write(&account.token);
                state.generation += 1;
                state.last_success = Some(Instant::now());
                state.last_error = None;
                return Ok(auth);
            }
        }

        // The call and the state update run in their own task, which also holds the refresh
        // lock: if this caller is cancelled (the client went away), a rotated refresh token is
        // still recorded, and the file is marked for the background writeback.
        let target = match self.refresh_target(account) {
            Ok(target) => target,
            Err(e) => {
                self.pool
                    .disable(account.id, DisableReason::InvalidCredential(e.to_string()));
                return Err(e);
            }
        };
        let job = RefreshJob {
            target,
            account: Arc::clone(account),
            client: Arc::clone(&self.client),
            store: self.stores.get(account.store).cloned(),
        };
        // The lock comes back with the outcome and is held until the pool has recorded it, so
        // a request that waited for this refresh sees the account's new state.
        let (result, flight) = match tokio::spawn(job.run(flight)).await {
            Ok((result, flight)) => (result, Some(flight)),
            Err(e) => (
                Err(RefreshError::Network(format!("refresh task failed: {e}"))),
                None,
            ),
        };
        match result {
            Ok(()) => {
                crate::metrics::REFRESHES.with_label_values(&["ok"]).inc();
                log::info!("refreshed the token of {}", account.name);
                drop(flight);
                self.persist_store(account.store).await;
                self.current_auth(account, Duration::ZERO)
            }
            Err(e) if e.is_permanent() => {
                crate::metrics::REFRESHES
                    .with_label_values(&["rejected"])
                    .inc();
                self.pool
                    .disable(account.id, DisableReason::LoginRejected(e.to_string()));
                Err(e)
            }
            Err(e) => {
                crate::metrics::REFRESHES
                    .with_label_values(&["failed"])
                    .inc();
                self.pool.report_failure(account.id, &e.to_string());
                log::warn!("token refresh for {} failed: {e}", account.name);
                match mode {
                    Mode::IfExpiring(_) => self.fallback(account),
                    Mode::Force => Err(e),
                }
            }
        }
    }

    /// After a failed refresh: the current token if it is still usable, else the failure.
    fn fallback(&self, account: &Account) -> Result<UpstreamAuth, RefreshError> {
        self.current_auth(account, EXPIRY_SAFETY)
    }

    /// Copies what a refresh call needs, so that no lock is held across the call.
    fn refresh_target(&self, account: &Account) -> Result<OwnedTarget, RefreshError> {
        let state = read(&account.token);
        let c = &state.credential;
        let url = match account.method {
            AuthMethod::Social => {
                expand_region(&self.settings.social_refresh_url, &account.auth_region)
            }
            AuthMethod::Idc => expand_region(&self.settings.idc_token_url, &account.auth_region),
            AuthMethod::ExternalIdp => c
                .token_endpoint
                .clone()
                .ok_or(RefreshError::MissingClientRegistration("tokenEndpoint"))?,
            AuthMethod::ApiKey => return Err(RefreshError::NotRefreshable),
        };
        let scopes = match &c.scopes {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Array(list)) => Some(
                list.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        };
        Ok(OwnedTarget {
            method: account.method,
            url,
            refresh_token: c.refresh_token.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            scopes,
            kiro_version: self.settings.kiro_version.clone(),
            machine_id: account.machine_id.clone(),
        })
    }

    /// Snapshot of a store's members for a merge.
    fn snapshot(&self, binding: &StoreBinding) -> Vec<(EntryKey, Credential)> {
        binding
            .members
            .iter()
            .filter_map(|&id| {
                let account = self.account(id).ok()?;
                let state = read(&account.token);
                let mut c = state.credential.clone();
                c.machine_id = Some(account.machine_id.clone());
                Some((state.key.clone(), c))
            })
            .collect()
    }

    /// Writes a store back, adopting newer tokens found on disk. Returns whether it worked.
    async fn persist_store(&self, index: usize) -> bool {
        let Some(binding) = self.stores.get(index) else {
            return false;
        };
        let ours = self.snapshot(binding);
        let store = Arc::clone(&binding.store);
        // Small file, but fsync can stall: keep it off the async workers.
        let result = match tokio::task::spawn_blocking(move || store.persist(&ours)).await {
            Ok(result) => result,
            Err(e) => {
                log::error!("credential writeback task failed: {e}");
                binding.dirty.store(true, Ordering::Release);
                return false;
            }
        };
        let store = &binding.store;
        match result {
            Ok(merged) => {
                binding.dirty.store(false, Ordering::Release);
                for j in merged.missing {
                    if let Some(id) = binding.members.get(j) {
                        log::warn!(
                            "account {id} is no longer in {}; its token is kept in memory only",
                            store.path().display()
                        );
                    }
                }
                self.adopt(binding, merged.newer_on_disk);
                true
            }
            Err(e) => {
                binding.dirty.store(true, Ordering::Release);
                log::error!("could not save refreshed tokens: {e}; will retry");
                false
            }
        }
    }

    /// Re-reads `account`'s file; adopts newer tokens. Returns whether `account`'s changed.
    async fn adopt_newer_from_disk(&self, account: &Account) -> bool {
        let Some(binding) = self.stores.get(account.store) else {
            return false;
        };
        let ours = self.snapshot(binding);
        let store = Arc::clone(&binding.store);
        let result = tokio::task::spawn_blocking(move || store.read_newer(&ours)).await;
        match result {
            Ok(Ok(newer)) => {
                let position = binding.members.iter().position(|&m| m == account.id);
                let mine = newer.iter().any(|(j, _)| Some(*j) == position);
                self.adopt(binding, newer);
                mine
            }
            Ok(Err(e)) => {
                log::debug!("could not re-read {}: {e}", binding.store.path().display());
                false
            }
            Err(e) => {
                log::debug!("re-reading credentials failed: {e}");
                false
            }
        }
    }

    fn adopt(&self, binding: &StoreBinding, newer: Vec<(usize, Credential)>) {
        for (j, disk) in newer {
            let Some(account) = binding.members.get(j).and_then(|&id| self.account(id).ok()) else {
                continue;
            };
            let mut state = write(&account.token);
            if let Some(rt) = &disk.refresh_token {
                state.key.remember_refresh_token(rt);
            }
            state.expires_at = disk.expires_at_millis();
            state.credential.access_token = disk.access_token;
            state.credential.refresh_token = disk.refresh_token;
            state.credential.expires_at = disk.expires_at;
            if disk.profile_arn.is_some() {
                state.credential.profile_arn = disk.profile_arn;
            }
            log::info!("picked up a newer token for {} from disk", account.name);
        }
    }
}

/// An owned [`RefreshTarget`].
struct OwnedTarget {
    method: AuthMethod,
    url: String,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scopes: Option<String>,
    kiro_version: String,
    machine_id: String,
}

/// One refresh call and its state update, run as a task of its own.
struct RefreshJob {
    target: OwnedTarget,
    account: Arc<Account>,
    client: Arc<HttpClient>,
    store: Option<Arc<StoreBinding>>,
}

impl RefreshJob {
    async fn run(
        self,
        flight: tokio::sync::OwnedMutexGuard<()>,
    ) -> (Result<(), RefreshError>, tokio::sync::OwnedMutexGuard<()>) {
        let t = &self.target;
        let target = RefreshTarget {
            method: t.method,
            url: &t.url,
            refresh_token: t.refresh_token.as_deref(),
            client_id: t.client_id.as_deref(),
            client_secret: t.client_secret.as_deref(),
            scopes: t.scopes.as_deref(),
            kiro_version: &t.kiro_version,
            machine_id: &t.machine_id,
        };
        let result = refresh::refresh(&self.client, &target).await;
        let mut state = write(&self.account.token);
        state.generation += 1;
        state.last_attempt = Some(Instant::now());
        let outcome = match result {
            Ok(token) => {
                apply_refresh(&mut state, token);
                state.last_success = state.last_attempt;
                state.last_error = None;
                state.retry_after = None;
                if let Some(store) = &self.store {
                    store.dirty.store(true, Ordering::Release);
                }
                Ok(())
            }
            Err(e) => {
                state.retry_after = match &e {
                    RefreshError::RateLimited { retry_after } => *retry_after,
                    _ => None,
                };
                state.last_error = Some(e.clone());
                Err(e)
            }
        };
        drop(state);
        (outcome, flight)
    }
}

/// Collects accounts and stores during [`Accounts::load`].
#[derive(Default)]
struct Builder {
    accounts: Vec<Arc<Account>>,
    members: Vec<PoolMember>,
    stores: Vec<Arc<StoreBinding>>,
}

impl Builder {
    fn has_refresh_token(&self, token: Option<&str>) -> bool {
        let Some(token) = token else { return false };
        self.accounts
            .iter()
            .any(|a| read(&a.token).credential.refresh_token.as_deref() == Some(token))
    }

    fn add_store(
        &mut self,
        settings: &AccountSettings,
        path: PathBuf,
        form: FileForm,
        add_machine_id: bool,
        entries: Vec<(String, Credential)>,
        base_priority: i64,
    ) {
        let store_index = self.stores.len();
        let members = self.add_accounts(settings, entries, base_priority, store_index);
        self.stores.push(Arc::new(StoreBinding {
            store: Arc::new(CredentialStore::new(path, form, add_machine_id)),
            members,
            dirty: AtomicBool::new(false),
        }));
    }

    /// Registers accounts whose tokens are written back to store `store_index` (or nowhere,
    /// with [`NO_STORE`]).
    fn add_accounts(
        &mut self,
        settings: &AccountSettings,
        entries: Vec<(String, Credential)>,
        base_priority: i64,
        store_index: usize,
    ) -> Vec<AccountId> {
        let mut members = Vec::with_capacity(entries.len());
        for (name, credential) in entries {
            let id = AccountId(self.accounts.len() as u32);
            let (method, problem) = match credential.auth_method() {
                Ok(m) => (m, usable(m, &credential).err()),
                Err(why) => (AuthMethod::Social, Some(why)),
            };
            let disabled = match problem {
                Some(why) => {
                    log::warn!("account {name} is unusable: {why}");
                    Some(DisableReason::InvalidCredential(why))
                }
                None if credential.disabled == Some(true) => Some(DisableReason::Configured),
                None => None,
            };
            let machine_id = machine_id::resolve(MachineIdInputs {
                credential: credential.machine_id.as_deref(),
                config: settings.machine_id.as_deref(),
                api_key: credential.kiro_api_key.as_deref(),
                refresh_token: credential.refresh_token.as_deref(),
            });
            let api_region = credential
                .api_region
                .clone()
                .unwrap_or_else(|| settings.region.clone());
            let auth_region = credential
                .auth_region
                .clone()
                .or_else(|| credential.region.clone())
                .unwrap_or_else(|| settings.region.clone());
            self.members.push(PoolMember {
                name: name.clone(),
                method,
                limits: AccountLimits {
                    priority: base_priority.saturating_add(credential.priority.unwrap_or(0)),
                    weight: credential.weight.unwrap_or(1).max(1),
                    allowed_models: credential.allowed_models.clone().unwrap_or_default(),
                    max_concurrent: credential.max_concurrent,
                    min_interval: credential.min_interval_ms.map(Duration::from_millis),
                    rpm: credential.rpm,
                },
                disabled,
            });
            self.accounts.push(Arc::new(Account {
                id,
                name,
                method,
                machine_id,
                api_region,
                auth_region,
                store: store_index,
                token: RwLock::new(TokenState {
                    key: EntryKey::for_credential(&credential),
                    expires_at: credential.expires_at_millis(),
                    credential,
                    generation: 0,
                    last_attempt: None,
                    last_success: None,
                    last_error: None,
                    retry_after: None,
                }),
                refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
            }));
            members.push(id);
        }
        members
    }
}

/// The store index of accounts declared in the configuration: nothing to write back to.
const NO_STORE: usize = usize::MAX;

/// `credential` with the policy fields of the configured entry naming it (by `id` or `name`),
/// if any; marks that entry used.
fn apply_overrides(
    mut credential: Credential,
    configured: &[Credential],
    used: &mut [bool],
) -> Credential {
    let key = |c: &Credential| -> Vec<String> {
        let mut keys = Vec::new();
        match &c.id {
            Some(serde_json::Value::String(s)) if !s.is_empty() => keys.push(s.clone()),
            Some(serde_json::Value::Number(n)) => keys.push(n.to_string()),
            _ => {}
        }
        if let Some(n) = c.name.as_deref().filter(|n| !n.is_empty()) {
            keys.push(n.to_string());
        }
        keys
    };
    let mine = key(&credential);
    let Some(index) = configured
        .iter()
        .position(|c| key(c).iter().any(|k| mine.contains(k)))
    else {
        return credential;
    };
    used[index] = true;
    let o = &configured[index];
    macro_rules! take {
        ($($field:ident),*) => { $( if o.$field.is_some() { credential.$field = o.$field.clone(); } )* };
    }
    take!(
        name,
        disabled,
        priority,
        weight,
        region,
        auth_region,
        api_region,
        allowed_models,
        max_concurrent,
        min_interval_ms,
        rpm
    );
    credential
}

/// Whether a record has what its method needs.
fn usable(method: AuthMethod, c: &Credential) -> Result<(), String> {
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    match method {
        AuthMethod::ApiKey => {
            if has(&c.kiro_api_key)
                || c.access_token
                    .as_deref()
                    .is_some_and(|t| t.starts_with("ksk_"))
            {
                Ok(())
            } else {
                Err("api_key credential without kiroApiKey".into())
            }
        }
        _ if has(&c.refresh_token) || has(&c.access_token) => Ok(()),
        _ => Err("no refreshToken or accessToken".into()),
    }
}

/// The profile ARN rules of kiro-protocol.md §1.8.
fn profile_arn_for(method: AuthMethod, stored: Option<&str>) -> Option<String> {
    let stored = stored.filter(|a| !a.is_empty()).map(str::to_owned);
    match method {
        AuthMethod::ApiKey => None,
        AuthMethod::Social => stored.or_else(|| Some(SOCIAL_PROFILE_ARN.to_owned())),
        AuthMethod::Idc => stored.or_else(|| Some(BUILDER_ID_PROFILE_ARN.to_owned())),
        AuthMethod::ExternalIdp => stored,
    }
}

fn apply_refresh(state: &mut TokenState, token: RefreshedToken) {
    let expires_at = now_millis().saturating_add(token.expires_in_secs.saturating_mul(1000));
    state.expires_at = Some(expires_at);
    state.credential.expires_at = Some(format_rfc3339_millis(expires_at));
    state.credential.access_token = Some(token.access_token);
    if let Some(rt) = token.refresh_token {
        state.key.remember_refresh_token(&rt);
        state.credential.refresh_token = Some(rt);
    }
    if token.profile_arn.is_some() {
        state.credential.profile_arn = token.profile_arn;
    }
}

fn in_backoff(state: &TokenState) -> bool {
    if state.last_error.is_none() {
        return false;
    }
    let wait = state.retry_after.unwrap_or(FAILED_REFRESH_BACKOFF);
    state.last_attempt.is_some_and(|t| t.elapsed() < wait)
}

fn read(lock: &RwLock<TokenState>) -> std::sync::RwLockReadGuard<'_, TokenState> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write(lock: &RwLock<TokenState>) -> std::sync::RwLockWriteGuard<'_, TokenState> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::time::format_rfc3339_millis;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A token endpoint on 127.0.0.1 answering every request with `status` and `body` after
    /// `delay`, recording the raw requests.
    struct MockEndpoint {
        base: String,
        requests: Arc<Mutex<Vec<String>>>,
        hits: Arc<AtomicUsize>,
    }

    impl MockEndpoint {
        async fn start(status: u16, body: &str, delay: Duration) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let requests = Arc::new(Mutex::new(Vec::new()));
            let hits = Arc::new(AtomicUsize::new(0));
            let (r, h, body) = (requests.clone(), hits.clone(), body.to_string());
            tokio::spawn(async move {
                while let Ok((mut sock, _)) = listener.accept().await {
                    let (r, h, body) = (r.clone(), h.clone(), body.clone());
                    tokio::spawn(async move {
                        let raw = read_request(&mut sock).await;
                        h.fetch_add(1, Ordering::SeqCst);
                        r.lock().unwrap().push(raw);
                        tokio::time::sleep(delay).await;
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        sock.write_all(resp.as_bytes()).await.ok();
                        sock.shutdown().await.ok();
                    });
                }
            });
            MockEndpoint {
                base,
                requests,
                hits,
            }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    async fn read_request(sock: &mut TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn rt(tag: &str) -> String {
        format!("aorAAAAAG-{tag}-{}", "r".repeat(100))
    }

    fn expires_in(secs: i64) -> String {
        format_rfc3339_millis(now_millis() + secs * 1000)
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kiro-edge-accounts-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn settings(file: &std::path::Path, base: &str) -> AccountSettings {
        AccountSettings {
            credentials_file: Some(file.to_path_buf()),
            discover_local: false,
            social_refresh_url: format!("{base}/{{region}}/refreshToken"),
            idc_token_url: format!("{base}/oidc/{{region}}/token"),
            ..AccountSettings::default()
        }
    }

    fn write_json(path: &std::path::Path, value: serde_json::Value) {
        std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    }

    fn read_json(path: &std::path::Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hundred_concurrent_callers_cause_one_refresh() {
        let rotated = rt("rotated");
        let server = MockEndpoint::start(
            200,
            &format!(
                r#"{{"accessToken":"fresh","refreshToken":"{rotated}","expiresIn":3600,
                    "profileArn":"arn:aws:codewhisperer:us-east-1:1:profile/P"}}"#
            ),
            Duration::from_millis(100),
        )
        .await;
        let dir = temp_dir();
        let file = dir.join("credentials.json");
        write_json(
            &file,
            serde_json::json!([{
                "accessToken": "stale", "refreshToken": rt("old"), "expiresAt": expires_in(30),
                "authMethod": "social", "region": "eu-central-1", "note": "keep me"
            }]),
        );
        let accounts = Arc::new(Accounts::load(settings(&file, &server.base)).unwrap());
        let id = accounts.plan("claude-sonnet-4.5")[0];

        let calls: Vec<_> = (0..100)
            .map(|_| {
                let accounts = Arc::clone(&accounts);
                tokio::spawn(async move { accounts.auth(id).await })
            })
            .collect();
        for call in calls {
            let auth = call.await.unwrap().unwrap();
            assert_eq!(auth.bearer, "fresh");
            assert_eq!(
                auth.profile_arn.as_deref(),
                Some("arn:aws:codewhisperer:us-east-1:1:profile/P")
            );
        }
        assert_eq!(server.hits(), 1);
        let request = server.requests.lock().unwrap()[0].clone();
        assert!(request.starts_with("POST /eu-central-1/refreshToken HTTP/1.1"));
        assert!(request.contains(&rt("old")));

        // The rotated token was written back, with our machine id, keeping unknown fields.
        let saved = read_json(&file);
        assert!(saved.is_array());
        assert_eq!(saved[0]["refreshToken"], rotated.as_str());
        assert_eq!(saved[0]["accessToken"], "fresh");
        assert_eq!(saved[0]["note"], "keep me");
        let auth = accounts.auth(id).await.unwrap();
        assert_eq!(saved[0]["machineId"], auth.machine_id.as_str());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // The machine id was derived from the original refresh token and stays stable.
        assert_eq!(
            auth.machine_id,
            machine_id::resolve(MachineIdInputs {
                refresh_token: Some(&rt("old")),
                ..Default::default()
            })
        );
        let status = accounts.status();
        assert!(status[0].token_expires_in_secs.unwrap() > 3500);
        assert!(!serde_json::to_string(&status).unwrap().contains("fresh"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_lose_a_rotated_token() {
        let rotated = rt("rotated");
        let server = MockEndpoint::start(
            200,
            &format!(r#"{{"accessToken":"fresh","refreshToken":"{rotated}","expiresIn":3600}}"#),
            Duration::from_millis(200),
        )
        .await;
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!({"refreshToken": rt("old"), "expiresAt": expires_in(-1)}),
        );
        let accounts = Accounts::load(settings(&file, &server.base)).unwrap();
        // The client goes away while the refresh is in flight.
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), accounts.auth(AccountId(0))).await;
        assert!(cancelled.is_err());
        tokio::time::sleep(Duration::from_millis(400)).await;

        assert_eq!(accounts.auth(AccountId(0)).await.unwrap().bearer, "fresh");
        assert_eq!(server.hits(), 1);
        assert_eq!(accounts.flush_pending_writes().await, 0);
        assert_eq!(read_json(&file)["refreshToken"], rotated.as_str());
        std::fs::remove_dir_all(dir).ok();
    }

    /// A token endpoint answering every refresh, after `delay`, with AWS's `invalid_grant`.
    async fn rejecting_refresh_token(delay: Duration) -> MockEndpoint {
        MockEndpoint::start(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid refresh token provided"}"#,
            delay,
        )
        .await
    }

    /// A request that waited for someone else's refresh must see what that refresh did to
    /// the account once it gets its answer (`/health` read right after a 503 said "active").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_sees_the_account_disabled_by_the_refresh_it_waited_for() {
        let server = rejecting_refresh_token(Duration::from_millis(100)).await;
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!({"refreshToken": rt("dead"), "expiresAt": expires_in(-10)}),
        );
        let accounts = Arc::new(Accounts::load(settings(&file, &server.base)).unwrap());
        // Each on its own task, as two requests are: the waiter wakes the moment the refresh
        // lock is released, in parallel with the refresher.
        let ask = |delay: u64| {
            let accounts = Arc::clone(&accounts);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let answer = accounts.auth(AccountId(0)).await;
                (answer.is_err(), accounts.status()[0].state)
            })
        };
        let refresher = ask(0);
        let waiters: Vec<_> = (0..4).map(|_| ask(20)).collect();
        assert_eq!(refresher.await.unwrap(), (true, "disabled"));
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), (true, "disabled"));
        }
        assert_eq!(server.hits(), 1);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn invalid_grant_disables_the_account() {
        let server = rejecting_refresh_token(Duration::ZERO).await;
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!({
                "refreshToken": rt("dead"), "expiresAt": expires_in(-10),
                "clientId": "cid", "clientSecret": "cs", "region": "eu-west-1"
            }),
        );
        let accounts = Accounts::load(settings(&file, &server.base)).unwrap();
        let err = accounts.auth(AccountId(0)).await.unwrap_err();
        assert!(matches!(err, RefreshError::InvalidRefreshToken(_)), "{err}");
        assert!(err.is_permanent());
        let request = server.requests.lock().unwrap()[0].clone();
        assert!(request.starts_with("POST /oidc/eu-west-1/token HTTP/1.1"));
        assert!(request.contains(r#""grantType":"refresh_token""#));

        assert!(accounts.plan("m").is_empty());
        let again = accounts.auth(AccountId(0)).await.unwrap_err();
        assert!(matches!(again, RefreshError::AccountDisabled(_)));
        assert_eq!(server.hits(), 1);
        assert_eq!(accounts.status()[0].state, "disabled");
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_failing_endpoint_does_not_fail_a_still_valid_token() {
        let server = MockEndpoint::start(503, "busy", Duration::ZERO).await;
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!({"accessToken": "still-good", "refreshToken": rt("a"),
                               "expiresAt": expires_in(300)}),
        );
        let accounts = Accounts::load(settings(&file, &server.base)).unwrap();
        let auth = accounts.auth(AccountId(0)).await.unwrap();
        assert_eq!(auth.bearer, "still-good");
        // Social without an ARN gets the shared social ARN.
        assert_eq!(auth.profile_arn.as_deref(), Some(SOCIAL_PROFILE_ARN));
        assert_eq!(auth.token_type, None);
        // Within the back-off window the endpoint is not asked again.
        accounts.auth(AccountId(0)).await.unwrap();
        assert_eq!(server.hits(), 1);
        let status = &accounts.status()[0];
        assert_eq!(status.state, "active");
        assert!(status.last_error.as_deref().unwrap().contains("503"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn force_refresh_is_single_flight_and_reused_briefly() {
        let server = MockEndpoint::start(
            200,
            r#"{"accessToken":"forced","expiresIn":3600}"#,
            Duration::from_millis(50),
        )
        .await;
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!({"accessToken": "rejected", "refreshToken": rt("f"),
                               "expiresAt": expires_in(3000), "authMethod": "builder-id",
                               "clientId": "c", "clientSecret": "s"}),
        );
        let accounts = Arc::new(Accounts::load(settings(&file, &server.base)).unwrap());
        let (a, b) = tokio::join!(
            accounts.force_refresh(AccountId(0)),
            accounts.force_refresh(AccountId(0))
        );
        assert_eq!(a.unwrap().bearer, "forced");
        let b = b.unwrap();
        assert_eq!(b.bearer, "forced");
        // Builder ID without an ARN gets the placeholder.
        assert_eq!(b.profile_arn.as_deref(), Some(BUILDER_ID_PROFILE_ARN));
        accounts.force_refresh(AccountId(0)).await.unwrap();
        assert_eq!(server.hits(), 1);
        // No rotation in the answer: the refresh token is kept.
        assert_eq!(read_json(&file)["refreshToken"], rt("f").as_str());
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn api_keys_are_used_as_is() {
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!([{"kiroApiKey": "ksk_123", "apiRegion": "eu-central-1"}]),
        );
        let accounts = Accounts::load(settings(&file, "http://127.0.0.1:9")).unwrap();
        let auth = accounts.auth(AccountId(0)).await.unwrap();
        assert_eq!(auth.bearer, "ksk_123");
        assert_eq!(auth.token_type, Some("API_KEY"));
        assert_eq!(auth.profile_arn, None);
        assert_eq!(auth.api_region, "eu-central-1");
        assert_eq!(
            accounts.force_refresh(AccountId(0)).await.unwrap_err(),
            RefreshError::NotRefreshable
        );
        assert_eq!(accounts.status()[0].token_expires_in_secs, None);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_token_refreshed_on_disk_is_adopted_without_a_call() {
        let server = MockEndpoint::start(500, "should not be called", Duration::ZERO).await;
        let dir = temp_dir();
        let file = dir.join("kiro.json");
        write_json(
            &file,
            serde_json::json!({"accessToken": "old", "refreshToken": rt("1"),
                               "expiresAt": expires_in(-5)}),
        );
        let accounts = Accounts::load(settings(&file, &server.base)).unwrap();
        // Meanwhile the Kiro IDE refreshes the same login.
        write_json(
            &file,
            serde_json::json!({"accessToken": "from-ide", "refreshToken": rt("2"),
                               "expiresAt": expires_in(3600)}),
        );
        let auth = accounts.auth(AccountId(0)).await.unwrap();
        assert_eq!(auth.bearer, "from-ide");
        assert_eq!(server.hits(), 0);
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn background_sweep_refreshes_only_what_is_due() {
        let server = MockEndpoint::start(
            200,
            r#"{"accessToken":"ahead","expiresIn":3600}"#,
            Duration::ZERO,
        )
        .await;
        let dir = temp_dir();
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!([
                {"accessToken": "soon", "refreshToken": rt("s"), "expiresAt": expires_in(600)},
                {"accessToken": "later", "refreshToken": rt("l"), "expiresAt": expires_in(7200)},
                {"refreshToken": rt("d"), "disabled": true}
            ]),
        );
        let accounts = Accounts::load(settings(&file, &server.base)).unwrap();
        let n = accounts
            .refresh_expiring(Duration::from_secs(900), Duration::ZERO)
            .await;
        assert_eq!(n, 1);
        assert_eq!(server.hits(), 1);
        assert_eq!(accounts.auth(AccountId(0)).await.unwrap().bearer, "ahead");
        assert_eq!(accounts.auth(AccountId(1)).await.unwrap().bearer, "later");
        assert!(matches!(
            accounts.auth(AccountId(2)).await,
            Err(RefreshError::AccountDisabled(_))
        ));
        assert_eq!(accounts.plan("m"), vec![AccountId(0), AccountId(1)]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn load_reports_missing_files_and_empty_setups() {
        let dir = temp_dir();
        let err = Accounts::load(settings(&dir.join("nope.json"), "http://x")).unwrap_err();
        assert!(matches!(
            err,
            AccountsError::Credentials(CredentialsError::NotFound { .. })
        ));
        assert!(err.to_string().contains("nope.json"));

        let empty_home = dir.join("home");
        std::fs::create_dir_all(&empty_home).unwrap();
        let err = Accounts::load(AccountSettings {
            home_dir: Some(empty_home.clone()),
            ..AccountSettings::default()
        })
        .unwrap_err();
        assert!(matches!(err, AccountsError::NoAccounts { .. }));
        assert!(err.to_string().contains("kiro-auth-token.json"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn discovers_the_ide_login_and_flags_bad_entries() {
        let dir = temp_dir();
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".aws/sso/cache")).unwrap();
        write_json(
            &home.join(KIRO_IDE_TOKEN_FILE),
            serde_json::json!({"accessToken": "ide", "refreshToken": rt("ide"),
                               "expiresAt": expires_in(3600), "authMethod": "social"}),
        );
        let file = dir.join("c.json");
        write_json(
            &file,
            serde_json::json!([
                {"refreshToken": rt("ide"), "priority": 5},
                {"authMethod": "kerberos", "refreshToken": rt("k")},
                {"authMethod": "social"}
            ]),
        );
        let accounts = Accounts::load(AccountSettings {
            home_dir: Some(home.clone()),
            discover_local: true,
            ..settings(&file, "http://x")
        })
        .unwrap();
        // The IDE login duplicates the first entry, so it is not added twice.
        assert_eq!(accounts.len(), 3);
        assert_eq!(accounts.plan("m"), vec![AccountId(0)]);
        let status = accounts.status();
        let reason = |id: u32| {
            status
                .iter()
                .find(|s| s.id == AccountId(id))
                .and_then(|s| s.reason.clone())
                .unwrap_or_default()
        };
        assert!(reason(1).contains("kerberos"));
        assert!(reason(2).contains("no refreshToken"));

        // Without the file, the IDE login alone is enough.
        let accounts = Accounts::load(AccountSettings {
            home_dir: Some(home),
            ..AccountSettings::default()
        })
        .unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts.status()[0].name, "kiro-ide");
        std::fs::remove_dir_all(dir).ok();
    }
}
