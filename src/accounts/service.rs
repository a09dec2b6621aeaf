//! The background refresher: a Pingora [`BackgroundService`] that refreshes tokens before they
//! expire, so requests rarely pay for a refresh. Requests still refresh lazily as a fallback.
//!
//! It runs on its own Tokio runtime (Pingora gives every service one), which is why
//! [`Accounts`] keeps no runtime-bound state.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

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

/// A random duration in `[0, max)`. Random bits come from a v4 UUID, which is good enough to
/// spread timers and saves a dependency.
fn jitter(max: Duration) -> Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let (hi, _) = uuid::Uuid::new_v4().as_u64_pair();
    Duration::from_millis(hi % max_ms)
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

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..200 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
