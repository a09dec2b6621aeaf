//! The background services, Pingora [`BackgroundService`]s sharing one `Arc<Accounts>`:
//! [`RefreshService`] refreshes tokens before they expire, so requests rarely pay for a refresh
//! (requests still refresh lazily as a fallback); [`UsageService`] polls quota and model lists.
//!
//! Each runs on its own Tokio runtime (Pingora gives every service one), which is why
//! [`Accounts`] keeps no runtime-bound state.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use super::clock::jitter;
use super::manager::Accounts;

/// How often the refresher looks at the accounts.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Up to this much random delay is added to each sweep, so that several gateways sharing a
/// credentials file do not refresh in lockstep.
const SWEEP_JITTER: Duration = Duration::from_secs(20);
/// Pause between two refresh calls within one sweep.
const REFRESH_SPACING: Duration = Duration::from_millis(250);

/// Refreshes tokens that expire within `margin` and retries failed writebacks.
pub struct RefreshService {
    accounts: Arc<Accounts>,
    margin: Duration,
}

impl RefreshService {
    /// `margin` is usually [`AccountSettings::refresh_margin`](super::AccountSettings).
    pub fn new(accounts: Arc<Accounts>, margin: Duration) -> Self {
        RefreshService { accounts, margin }
    }

    /// One pass: refresh what is due, then retry pending writebacks.
    pub async fn sweep(&self) {
        let refreshed = self
            .accounts
            .refresh_expiring(self.margin, REFRESH_SPACING)
            .await;
        if refreshed > 0 {
            log::debug!("background refresh: {refreshed} token(s) refreshed");
        }
        let pending = self.accounts.flush_pending_writes().await;
        if pending > 0 {
            log::warn!("{pending} credentials file(s) still have unsaved tokens");
        }
    }
}

#[async_trait]
impl BackgroundService for RefreshService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = self.sweep() => {}
                _ = shutdown.changed() => break,
            }
            let pause = SWEEP_INTERVAL + jitter(SWEEP_JITTER);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
        }
        log::info!("token refresher stopped");
    }
}

/// The first usage poll waits this long (plus jitter) after start-up, so that it does not
/// compete with the start-up refreshes.
const USAGE_FIRST_DELAY: Duration = Duration::from_secs(5);
/// Pause between two accounts within one usage poll.
const USAGE_SPACING: Duration = Duration::from_millis(500);

/// Polls `getUsageLimits` and `ListAvailableModels` for every account every `interval`
/// (plus up to 10 % jitter). A zero interval turns it off: the service returns at once.
pub struct UsageService {
    accounts: Arc<Accounts>,
    interval: Duration,
}

impl UsageService {
    /// `interval` is usually `PoolSettings::usage_poll_interval`.
    pub fn new(accounts: Arc<Accounts>, interval: Duration) -> Self {
        UsageService { accounts, interval }
    }

    /// One pass over the accounts; returns how many answered.
    pub async fn poll(&self) -> usize {
        self.accounts.poll_usage(USAGE_SPACING).await
    }
}

#[async_trait]
impl BackgroundService for UsageService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if self.interval.is_zero() {
            log::info!("quota polling is off");
            return;
        }
        let mut pause = USAGE_FIRST_DELAY + jitter(USAGE_FIRST_DELAY);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                n = self.poll() => log::debug!("quota poll: {n} account(s) answered"),
                _ = shutdown.changed() => break,
            }
            pause = self.interval + jitter(self.interval / 10);
        }
        log::info!("quota poller stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stops_on_shutdown() {
        let dir = std::env::temp_dir().join(format!(
            "kiro-edge-service-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.json");
        std::fs::write(&file, r#"{"kiroApiKey":"ksk_1"}"#).unwrap();
        let accounts = Accounts::load(crate::accounts::AccountSettings {
            credentials_file: Some(file),
            discover_local: false,
            ..Default::default()
        })
        .unwrap();
        let service = RefreshService::new(Arc::new(accounts), Duration::from_secs(900));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(async move { service.start(rx).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(2), running)
            .await
            .expect("the service should stop promptly")
            .unwrap();
        std::fs::remove_dir_all(dir).ok();
    }

    #[tokio::test]
    async fn a_zero_usage_interval_returns_at_once() {
        let dir = std::env::temp_dir().join(format!(
            "kiro-edge-usage-svc-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.json");
        std::fs::write(&file, r#"{"kiroApiKey":"ksk_1"}"#).unwrap();
        let accounts = Accounts::load(crate::accounts::AccountSettings {
            credentials_file: Some(file),
            discover_local: false,
            ..Default::default()
        })
        .unwrap();
        let service = UsageService::new(Arc::new(accounts), Duration::ZERO);
        let (_tx, rx) = tokio::sync::watch::channel(false);
        tokio::time::timeout(Duration::from_secs(2), service.start(rx))
            .await
            .expect("returns at once");
        std::fs::remove_dir_all(dir).ok();
    }
}
