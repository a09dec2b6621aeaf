//! The account pool: which accounts a request tries, in what order, how each outcome changes an
//! account's state, outbound pacing, and what `/health` shows.
//!
//! States: `active`, `cooling` (rests until a deadline, then returns by itself), `exhausted`
//! (quota used up until its reset date, then returns by itself) and `disabled` (needs an
//! operator: configuration, a rejected login, a suspension). Transient failures (5xx, network,
//! a single 429) never take an account out: a failing upstream must not empty the pool.
//!
//! The 429 policy: Kiro uses 429 for a short service-wide "too many requests" and for a long
//! per-account "suspicious activity" throttle, and the proxy only learns which from the body of
//! the last attempt. So a first status-only 429 retries the same account after a short backoff,
//! a second one in a row rests the account for `throttle_cooldown`, and a 429 whose body says
//! "suspicious activity" rests it for `suspicious_cooldown`.
//!
//! All state sits behind one short-lived mutex, never held across an `.await`.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use super::clock::{jitter, millis_i64, Clock, SystemClock};
use super::credentials::AuthMethod;
use super::pacing::{Pacer, RateWindow, Wait};
use super::settings::{AccountLimits, PoolSettings, Strategy};
use super::sticky::StickyMap;
use super::time::{format_rfc3339_millis, start_of_next_month_utc};
use super::usage::UsageSnapshot;

/// 429s in a row on one account after which it cools down instead of being retried.
const THROTTLES_BEFORE_COOLDOWN: u32 = 2;
/// `retry_after` of a [`Busy`] that waited for a concurrency slot in vain.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Reasons and errors shown in `/health` are cut to this many characters.
const MAX_REASON_CHARS: usize = 300;

/// An account's index in the pool; cheap to copy into a request context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AccountId(pub u32);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why an account is out of rotation until an operator acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisableReason {
    /// `"disabled": true` in the credentials file.
    Configured,
    /// The credential record cannot be used (e.g. an unknown `authMethod`).
    InvalidCredential(String),
    /// The token endpoint rejected the login for good; a new sign-in is needed.
    LoginRejected(String),
    /// Kiro suspended the account ("temporarily is suspended … locked your account").
    Suspended(String),
}

impl fmt::Display for DisableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisableReason::Configured => f.write_str("disabled in the credentials file"),
            DisableReason::InvalidCredential(why) => write!(f, "invalid credential: {why}"),
            DisableReason::LoginRejected(why) => write!(f, "login rejected: {why}"),
            DisableReason::Suspended(why) => write!(f, "suspended by Kiro: {why}"),
        }
    }
}

/// How one attempt on an account ended. Report every attempt exactly once: intermediate
/// attempts with the status-only variants (the body is not read before a retry), the final
/// attempt with the body-classified ones when its body is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A 200 answer; `credits` from the metering event, when Kiro sent one.
    Success { credits: Option<f64> },
    /// 429 with the body unread, or a body saying "too many requests".
    Throttled,
    /// 408 / 5xx / an edge timeout: the upstream's problem, not the account's.
    Transient,
    /// Connect failure, TLS failure, first-byte timeout.
    Network,
    /// 401/403: the bearer was refused (the proxy refreshes once, then moves on).
    Unauthorized,
    /// Body-classified 429 "suspicious activity" / `TEMPORARILY_SUSPENDED`.
    Suspicious,
    /// 402 / `MONTHLY_REQUEST_COUNT`: the account's quota is used up.
    Quota,
    /// Body-classified 403 "temporarily is suspended … locked your account".
    Suspended { reason: String },
    /// 400-class: the request itself is at fault; says nothing about the account.
    BadRequest,
}

impl Outcome {
    /// The outcome of a non-200 status whose body was not read.
    pub fn from_status(status: u16) -> Outcome {
        match status {
            200..=299 => Outcome::Success { credits: None },
            429 => Outcome::Throttled,
            401 | 403 => Outcome::Unauthorized,
            402 => Outcome::Quota,
            400 | 404 | 413 | 422 => Outcome::BadRequest,
            _ => Outcome::Transient,
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Success { .. } => "success".into(),
            Outcome::Throttled => "429 too many requests".into(),
            Outcome::Transient => "upstream error (5xx/timeout)".into(),
            Outcome::Network => "network error".into(),
            Outcome::Unauthorized => "bearer token refused (401/403)".into(),
            Outcome::Suspicious => "429 suspicious activity".into(),
            Outcome::Quota => "quota used up (402)".into(),
            Outcome::Suspended { reason } => format!("suspended: {reason}"),
            Outcome::BadRequest => "request rejected as malformed".into(),
        }
    }
}

/// What the pool suggests after a failed attempt; the proxy's attempt plan has the last word
/// (attempt caps, whether a refresh already happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// Try the same account again after a short jittered backoff.
    RetrySame,
    /// Refresh the token once and retry this account; after that, move on.
    RefreshThenRetry,
    /// Another account if the plan has one, else this one again after a backoff: the
    /// failure (5xx, network) is not the account's.
    PreferNext,
    /// Try the next account of the plan; this one cannot serve now.
    NextAccount,
    /// No further attempt: it succeeded, or every account would fail the same way.
    Stop,
}

/// No pacing slot came free within `max_pacing_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// When the account is expected to have a slot again.
    pub retry_after: Duration,
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the account is at its pacing limit; next slot in about {} ms",
            self.retry_after.as_millis()
        )
    }
}

impl std::error::Error for Busy {}

/// A pacing slot: counts as one request in flight on its account until dropped. Keep it for
/// the whole exchange (until the response ends).
pub struct Permit {
    inner: Arc<Inner>,
    id: AccountId,
}

impl Permit {
    pub fn account(&self) -> AccountId {
        self.id
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("account", &self.id).finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(m) = lock(&self.inner.state).members.get_mut(self.id.0 as usize) {
            m.pacer.finish();
        }
        self.inner.released.notify_waiters();
    }
}

/// Quota facts for `/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaStatus {
    /// Credits left: the last poll minus what was metered since.
    pub left: f64,
    pub limit: f64,
    pub used: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
}

/// What `/health` shows about one account. Holds no secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountStatus {
    pub id: AccountId,
    pub name: String,
    pub auth_method: &'static str,
    /// `active`, `cooling`, `exhausted` or `disabled`.
    pub state: &'static str,
    /// Why the account is not active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When a cooling or exhausted account returns (RFC 3339), and how far away that is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_secs_left: Option<u64>,
    /// Seconds until the access token expires (negative: already expired); `None` for API keys
    /// and unknown expiry.
    pub token_expires_in_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaStatus>,
    /// How many models `ListAvailableModels` reported, once polled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<usize>,
    pub priority: i64,
    pub weight: u32,
    pub in_flight: u32,
    pub successes: u64,
    pub failures: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Registration data for one account.
#[derive(Debug, Clone)]
pub struct PoolMember {
    pub name: String,
    pub method: AuthMethod,
    pub limits: AccountLimits,
    pub disabled: Option<DisableReason>,
}

#[derive(Debug, Clone, PartialEq)]
enum Health {
    Active,
    Cooling { until: Instant, reason: String },
    Exhausted { until: Instant, reason: String },
    Disabled(DisableReason),
}

impl Health {
    fn name(&self) -> &'static str {
        match self {
            Health::Active => "active",
            Health::Cooling { .. } => "cooling",
            Health::Exhausted { .. } => "exhausted",
            Health::Disabled(_) => "disabled",
        }
    }

    fn until(&self) -> Option<Instant> {
        match self {
            Health::Cooling { until, .. } | Health::Exhausted { until, .. } => Some(*until),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Member {
    name: String,
    method: AuthMethod,
    limits: AccountLimits,
    health: Health,
    /// 429s in a row (across requests); a success or a cool-down resets it.
    throttle_streak: u32,
    pacer: Pacer,
    /// Requests started (pacing slots granted): "least used" of `balanced`.
    uses: u64,
    /// Smooth weighted round-robin score.
    rr_score: i64,
    successes: u64,
    failures: u64,
    last_error: Option<String>,
    usage: Option<UsageSnapshot>,
    /// Credits metered since `usage` was polled.
    credits_since_poll: f64,
    models: Option<Vec<String>>,
}

impl Member {
    fn is_available(&self) -> bool {
        self.health == Health::Active
    }

    fn weight(&self) -> u32 {
        self.limits.weight.max(1)
    }

    /// Whether this account may serve `model` (the model list aside).
    fn allows(&self, model: &str) -> bool {
        if !self.limits.allows(model) {
            return false;
        }
        let opus = model.to_ascii_lowercase().contains("opus");
        !(opus && self.usage.as_ref().is_some_and(UsageSnapshot::is_free_tier))
    }

    fn lists(&self, model: &str) -> Option<bool> {
        self.models
            .as_ref()
            .map(|list| list.iter().any(|m| m == model))
    }
}

#[derive(Debug)]
struct State {
    members: Vec<Member>,
    sticky: StickyMap,
    global: Option<RateWindow>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    /// Woken when a permit is dropped, for requests waiting on a concurrency slot.
    released: Notify,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic elsewhere while holding the lock leaves counters, nothing unsafe: carry on.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pool. Every method takes `&self`.
#[derive(Debug)]
pub struct Pool {
    /// Account ids sorted by priority, then registration order.
    order: Vec<AccountId>,
    settings: PoolSettings,
    clock: Arc<dyn Clock>,
    inner: Arc<Inner>,
}

impl Pool {
    /// Builds the pool; `AccountId(i)` is the i-th member.
    pub fn new(members: Vec<PoolMember>, settings: PoolSettings) -> Self {
        Self::with_clock(members, settings, Arc::new(SystemClock))
    }

    /// [`Pool::new`] with a specific clock (tests).
    pub fn with_clock(
        members: Vec<PoolMember>,
        settings: PoolSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut order: Vec<(i64, AccountId)> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.limits.priority, AccountId(i as u32)))
            .collect();
        order.sort_by_key(|&(priority, id)| (priority, id));
        let members = members
            .into_iter()
            .map(|m| Member {
                pacer: Pacer::new(m.limits.pacing(&settings.pacing)),
                name: m.name,
                method: m.method,
                limits: m.limits,
                health: m.disabled.map_or(Health::Active, Health::Disabled),
                throttle_streak: 0,
                uses: 0,
                rr_score: 0,
                successes: 0,
                failures: 0,
                last_error: None,
                usage: None,
                credits_since_poll: 0.0,
                models: None,
            })
            .collect();
        let state = State {
            members,
            sticky: StickyMap::new(settings.sticky_ttl, settings.sticky_capacity),
            global: settings.global_rpm.filter(|&n| n > 0).map(RateWindow::new),
        };
        Pool {
            order: order.into_iter().map(|(_, id)| id).collect(),
            settings,
            clock,
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                released: Notify::new(),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    /// The accounts to try for `model`, best first; empty when none can serve it now. With a
    /// `session` pinned to an account that can serve, that account comes first, then the
    /// strategy's order for failover.
    pub fn plan(&self, model: &str, session: Option<&str>) -> Vec<AccountId> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.expire(&mut st, now);
        let usable = self.usable(&st, model);
        let pinned = session
            .and_then(|s| st.sticky.get(s, now))
            .filter(|id| usable.contains(id));
        match pinned {
            Some(first) => {
                // The request goes to the pinned account: the rotation does not advance.
                let mut plan = vec![first];
                plan.extend(
                    self.strategy_order(&st, &usable, false)
                        .into_iter()
                        .filter(|&id| id != first),
                );
                plan
            }
            None => {
                let advance = self.settings.strategy == Strategy::RoundRobin;
                let order = self.strategy_order(&st, &usable, advance);
                if advance {
                    self.commit_round_robin(&mut st, &usable, order.first().copied());
                }
                order
            }
        }
    }

    /// How many accounts could serve `model` now (`""`: any model). Does not touch the
    /// rotation, unlike [`Pool::plan`].
    pub fn usable_count(&self, model: &str) -> usize {
        let now = self.clock.now();
        let mut st = self.lock();
        self.expire(&mut st, now);
        self.usable(&st, model).len()
    }

    /// Pins `session` to `id` (or refreshes its pin): call after a success on `id`.
    pub fn pin(&self, session: &str, id: AccountId) {
        let now = self.clock.now();
        let mut st = self.lock();
        if st.members.get(id.0 as usize).is_some() {
            st.sticky.pin(session, id, now);
        }
    }

    /// Available accounts that allow `model`, in priority order. An account's model list is
    /// only trusted for models that some account lists: an id no list contains (`auto`, a
    /// model newer than the last poll) is left to the upstream to judge.
    fn usable(&self, st: &State, model: &str) -> Vec<AccountId> {
        let listed_somewhere = !model.is_empty()
            && st
                .members
                .iter()
                .any(|m| m.lists(model) == Some(true) && !matches!(m.health, Health::Disabled(_)));
        self.order
            .iter()
            .copied()
            .filter(|id| {
                st.members.get(id.0 as usize).is_some_and(|m| {
                    m.is_available()
                        && m.allows(model)
                        && !(listed_somewhere && m.lists(model) == Some(false))
                })
            })
            .collect()
    }

    /// `usable` (in priority order) ordered by the strategy. For round-robin, `preview`
    /// decides whether the choice is computed as if committed (the caller then commits it).
    fn strategy_order(&self, st: &State, usable: &[AccountId], preview: bool) -> Vec<AccountId> {
        let member = |id: AccountId| st.members.get(id.0 as usize);
        match self.settings.strategy {
            Strategy::Priority => usable.to_vec(),
            Strategy::Balanced => {
                let mut keyed: Vec<(u32, f64, usize, AccountId)> = usable
                    .iter()
                    .enumerate()
                    .filter_map(|(rank, &id)| {
                        let m = member(id)?;
                        let load = m.uses as f64 / f64::from(m.weight());
                        Some((m.pacer.in_flight(), load, rank, id))
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
                keyed.into_iter().map(|(_, _, _, id)| id).collect()
            }
            Strategy::RoundRobin => {
                // Smooth weighted round-robin (as in nginx): every account gains its weight,
                // the highest score goes first. Without `preview` the scores are only read.
                let chosen = usable
                    .iter()
                    .copied()
                    .filter_map(|id| {
                        let m = member(id)?;
                        let score = m.rr_score + if preview { i64::from(m.weight()) } else { 0 };
                        Some((score, id))
                    })
                    .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
                    .map(|(_, id)| id);
                let Some(chosen) = chosen else {
                    return Vec::new();
                };
                // Failover continues in the fixed cyclic order after the chosen account.
                let start = usable.iter().position(|&id| id == chosen).unwrap_or(0);
                usable
                    .iter()
                    .cycle()
                    .skip(start)
                    .take(usable.len())
                    .copied()
                    .collect()
            }
        }
    }

    fn commit_round_robin(&self, st: &mut State, usable: &[AccountId], chosen: Option<AccountId>) {
        let Some(chosen) = chosen else { return };
        let mut total = 0i64;
        for id in usable {
            if let Some(m) = st.members.get_mut(id.0 as usize) {
                let w = i64::from(m.weight());
                m.rr_score = m.rr_score.saturating_add(w);
                total += w;
            }
        }
        if let Some(m) = st.members.get_mut(chosen.0 as usize) {
            m.rr_score = m.rr_score.saturating_sub(total);
        }
    }

    /// What [`Pool::report`] would advise after `outcome` on `id`, without recording it. The
    /// proxy needs the advice to decide whether an attempt is the last one before it reads
    /// (and classifies) the error body, and must still report each attempt only once.
    pub fn advise(&self, id: AccountId, outcome: &Outcome) -> Advice {
        let streak = self
            .lock()
            .members
            .get(id.0 as usize)
            .map_or(0, |m| m.throttle_streak);
        advice_for(outcome, streak)
    }

    /// Records how an attempt on `id` ended and returns what to do next.
    pub fn report(&self, id: AccountId, outcome: Outcome) -> Advice {
        let now = self.clock.now();
        let wall = self.clock.wall_millis();
        let mut st = self.lock();
        let Some(m) = st.members.get_mut(id.0 as usize) else {
            return Advice::NextAccount;
        };
        let advice = advice_for(&outcome, m.throttle_streak);
        let mut forget_pins = false;
        match &outcome {
            Outcome::Success { credits } => {
                m.successes += 1;
                m.throttle_streak = 0;
                if let Some(c) = credits.filter(|c| c.is_finite() && *c >= 0.0) {
                    m.credits_since_poll += c;
                }
                return advice;
            }
            Outcome::BadRequest => return advice,
            Outcome::Throttled => {
                m.throttle_streak += 1;
                if m.throttle_streak >= THROTTLES_BEFORE_COOLDOWN {
                    m.throttle_streak = 0;
                    let until = now + self.settings.throttle_cooldown;
                    let reason = "throttled: two 429s in a row".to_string();
                    self.cool(id, m, until, reason, now, wall);
                }
            }
            Outcome::Transient | Outcome::Network | Outcome::Unauthorized => {}
            Outcome::Suspicious => {
                m.throttle_streak = 0;
                let until = now + self.settings.suspicious_cooldown;
                let reason = "429 suspicious activity".to_string();
                self.cool(id, m, until, reason, now, wall);
            }
            Outcome::Quota => {
                let until = self.quota_reset(m, now, wall);
                let reason = "quota used up (402)".to_string();
                set_health(id, m, Health::Exhausted { until, reason }, now, wall);
            }
            Outcome::Suspended { reason } => {
                let reason = DisableReason::Suspended(bounded(reason));
                set_health(id, m, Health::Disabled(reason), now, wall);
                forget_pins = true;
            }
        }
        m.failures += 1;
        m.last_error = Some(outcome.describe());
        if forget_pins {
            st.sticky.forget_account(id);
        }
        advice
    }

    /// Cools `m` down until `until`, unless it is already out for longer or for good.
    fn cool(
        &self,
        id: AccountId,
        m: &mut Member,
        until: Instant,
        reason: String,
        now: Instant,
        wall: i64,
    ) {
        let later = match &m.health {
            Health::Active => true,
            Health::Cooling { until: old, .. } => until > *old,
            Health::Exhausted { .. } | Health::Disabled(_) => false,
        };
        if later {
            set_health(id, m, Health::Cooling { until, reason }, now, wall);
        }
    }

    /// When an exhausted quota renews: the polled reset date if it is in the future, else the
    /// configured fallback, else the start of next month (UTC).
    fn quota_reset(&self, m: &Member, now: Instant, wall: i64) -> Instant {
        let reset_wall = m
            .usage
            .as_ref()
            .and_then(|u| u.resets_at_millis)
            .filter(|&r| r > wall);
        match (reset_wall, self.settings.exhausted_cooldown) {
            (Some(r), _) => now + wall_delta(wall, r),
            (None, Some(d)) => now + d,
            (None, None) => now + wall_delta(wall, start_of_next_month_utc(wall)),
        }
    }

    /// Returns cooled-down and renewed accounts to service.
    fn expire(&self, st: &mut State, now: Instant) {
        let wall = self.clock.wall_millis();
        for (i, m) in st.members.iter_mut().enumerate() {
            if m.health.until().is_some_and(|t| t <= now) {
                set_health(AccountId(i as u32), m, Health::Active, now, wall);
            }
        }
    }

    /// A pacing slot on `id`, waiting at most `max_pacing_wait` for one.
    pub async fn acquire(&self, id: AccountId) -> Result<Permit, Busy> {
        let deadline = self.clock.now() + self.settings.max_pacing_wait;
        loop {
            // Registered before the check, so a release in between is not missed.
            let released = self.inner.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let wait = match self.try_acquire(id) {
                Ok(permit) => return Ok(permit),
                Err(wait) => wait,
            };
            let left = deadline.saturating_duration_since(self.clock.now());
            match wait {
                Wait::For(d) if d <= left => tokio::time::sleep(d).await,
                Wait::For(d) => return Err(Busy { retry_after: d }),
                Wait::ForRelease if left.is_zero() => {
                    return Err(Busy {
                        retry_after: BUSY_RETRY_AFTER,
                    })
                }
                Wait::ForRelease => {
                    tokio::select! {
                        _ = &mut released => {}
                        _ = tokio::time::sleep(left) => {}
                    }
                }
            }
        }
    }

    /// A pacing slot on `id` if one is free now, else what it would wait for.
    pub fn try_acquire(&self, id: AccountId) -> Result<Permit, Wait> {
        let now = self.clock.now();
        let mut st = self.lock();
        let State {
            members, global, ..
        } = &mut *st;
        let Some(m) = members.get_mut(id.0 as usize) else {
            return Err(Wait::For(BUSY_RETRY_AFTER));
        };
        let own = m.pacer.check(now);
        let global_wait = global.as_mut().and_then(|g| g.wait(now)).map(Wait::For);
        match (own, global_wait) {
            (Ok(()), None) => {}
            (Err(a), Some(b)) => return Err(a.max(b)),
            (Err(w), None) | (Ok(()), Some(w)) => return Err(w),
        }
        m.pacer
            .start(now, jitter(m.pacer.limits().min_interval_jitter));
        m.uses += 1;
        if let Some(g) = global.as_mut() {
            g.record(now);
        }
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            id,
        })
    }

    /// Takes `id` out of rotation until an operator acts.
    pub fn disable(&self, id: AccountId, reason: DisableReason) {
        let now = self.clock.now();
        let wall = self.clock.wall_millis();
        let mut st = self.lock();
        if let Some(m) = st.members.get_mut(id.0 as usize) {
            m.last_error = Some(bounded(&reason.to_string()));
            set_health(id, m, Health::Disabled(reason), now, wall);
            st.sticky.forget_account(id);
        }
    }

    /// Why `id` is disabled, if it is.
    pub fn disabled_reason(&self, id: AccountId) -> Option<DisableReason> {
        match &self.lock().members.get(id.0 as usize)?.health {
            Health::Disabled(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    /// Compatibility: a request on `id` succeeded.
    pub fn report_success(&self, id: AccountId) {
        self.report(id, Outcome::Success { credits: None });
    }

    /// Compatibility: something failed on `id` (e.g. a refresh). Counted and shown, nothing
    /// more: a failure that may pass must not take the account out.
    pub fn report_failure(&self, id: AccountId, reason: &str) {
        if let Some(m) = self.lock().members.get_mut(id.0 as usize) {
            m.failures += 1;
            m.last_error = Some(bounded(reason));
        }
    }

    /// Stores a `getUsageLimits` result. A used-up quota makes the account exhausted until its
    /// reset date; a renewed one brings an exhausted account back.
    pub fn set_usage(&self, id: AccountId, usage: UsageSnapshot) {
        let now = self.clock.now();
        let wall = self.clock.wall_millis();
        let mut st = self.lock();
        let Some(m) = st.members.get_mut(id.0 as usize) else {
            return;
        };
        let exhausted = usage.is_exhausted();
        m.usage = Some(usage);
        m.credits_since_poll = 0.0;
        let in_rotation = matches!(m.health, Health::Active | Health::Cooling { .. });
        let was_exhausted = matches!(m.health, Health::Exhausted { .. });
        if exhausted && in_rotation {
            let until = self.quota_reset(m, now, wall);
            let reason = "quota used up (getUsageLimits)".to_string();
            set_health(id, m, Health::Exhausted { until, reason }, now, wall);
        } else if !exhausted && was_exhausted {
            set_health(id, m, Health::Active, now, wall);
        }
    }

    /// Stores a `ListAvailableModels` result.
    pub fn set_models(&self, id: AccountId, models: Vec<String>) {
        if let Some(m) = self.lock().members.get_mut(id.0 as usize) {
            m.models = Some(models);
        }
    }

    /// The models the pool can serve: the union of the lists of accounts that are not
    /// disabled or exhausted, sorted. Empty until a list has been polled.
    pub fn available_models(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.expire(&mut st, now);
        let mut all: Vec<String> = st
            .members
            .iter()
            .filter(|m| matches!(m.health, Health::Active | Health::Cooling { .. }))
            .filter_map(|m| m.models.as_ref())
            .flatten()
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// `Some(0)` when an account is available now; else how long until the first cool-down or
    /// exhaustion ends; `None` when every account is disabled (nothing returns by itself).
    pub fn earliest_available(&self) -> Option<Duration> {
        let now = self.clock.now();
        let mut st = self.lock();
        self.expire(&mut st, now);
        if st.members.iter().any(Member::is_available) {
            return Some(Duration::ZERO);
        }
        st.members
            .iter()
            .filter_map(|m| m.health.until())
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    /// Per-account facts in priority order; `expires_in` supplies the token expiry.
    pub fn status(&self, expires_in: impl Fn(AccountId) -> Option<i64>) -> Vec<AccountStatus> {
        let now = self.clock.now();
        let wall = self.clock.wall_millis();
        let mut st = self.lock();
        self.expire(&mut st, now);
        self.order
            .iter()
            .filter_map(|&id| {
                let m = st.members.get(id.0 as usize)?;
                let (reason, until) = match &m.health {
                    Health::Active => (None, None),
                    Health::Cooling { until, reason } | Health::Exhausted { until, reason } => {
                        (Some(reason.clone()), Some(*until))
                    }
                    Health::Disabled(why) => (Some(why.to_string()), None),
                };
                let left = until.map(|t| t.saturating_duration_since(now));
                let quota = m.usage.as_ref().map(|u| QuotaStatus {
                    left: (u.remaining() - m.credits_since_poll).max(0.0),
                    limit: u.limit,
                    used: u.used + m.credits_since_poll,
                    resets_at: u.resets_at_millis.map(format_rfc3339_millis),
                    subscription: u.subscription.clone(),
                });
                Some(AccountStatus {
                    id,
                    name: m.name.clone(),
                    auth_method: m.method.as_str(),
                    state: m.health.name(),
                    reason,
                    cooldown_until: left
                        .map(|d| format_rfc3339_millis(wall.saturating_add(millis_i64(d)))),
                    cooldown_secs_left: left.map(|d| d.as_secs_f64().ceil() as u64),
                    token_expires_in_secs: expires_in(id),
                    quota,
                    models: m.models.as_ref().map(Vec::len),
                    priority: m.limits.priority,
                    weight: m.weight(),
                    in_flight: m.pacer.in_flight(),
                    successes: m.successes,
                    failures: m.failures,
                    last_error: m.last_error.clone(),
                })
            })
            .collect()
    }
}

/// The advice after `outcome` on an account with `streak` 429s in a row before it.
fn advice_for(outcome: &Outcome, streak: u32) -> Advice {
    match outcome {
        Outcome::Success { .. } | Outcome::BadRequest => Advice::Stop,
        Outcome::Throttled if streak + 1 >= THROTTLES_BEFORE_COOLDOWN => Advice::NextAccount,
        Outcome::Throttled => Advice::RetrySame,
        Outcome::Transient | Outcome::Network => Advice::PreferNext,
        Outcome::Unauthorized => Advice::RefreshThenRetry,
        Outcome::Suspicious | Outcome::Quota | Outcome::Suspended { .. } => Advice::NextAccount,
    }
}

/// Moves `m` to `health`, logging the change with the facts `/health` shows.
fn set_health(id: AccountId, m: &mut Member, health: Health, now: Instant, wall: i64) {
    if m.health == health {
        return;
    }
    let until = |t: &Instant| {
        let d = t.saturating_duration_since(now);
        format!(
            "for {} s, until {}",
            d.as_secs(),
            format_rfc3339_millis(wall.saturating_add(millis_i64(d)))
        )
    };
    match &health {
        Health::Active => log::info!(
            "account {id} ({}) is back in service (was {})",
            m.name,
            m.health.name()
        ),
        Health::Cooling { until: t, reason } => log::warn!(
            "account {id} ({}) cooling down {}: {reason}",
            m.name,
            until(t)
        ),
        Health::Exhausted { until: t, reason } => {
            log::warn!("account {id} ({}) exhausted {}: {reason}", m.name, until(t))
        }
        Health::Disabled(reason) => log::warn!("account {id} ({}) disabled: {reason}", m.name),
    }
    m.health = health;
}

/// The monotonic duration from wall time `from` to wall time `to` (zero if past).
fn wall_delta(from: i64, to: i64) -> Duration {
    Duration::from_millis(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
}

fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::clock::ManualClock;
    use crate::accounts::settings::PacingLimits;
    use crate::accounts::time::parse_rfc3339_millis;

    fn member(name: &str, priority: i64) -> PoolMember {
        PoolMember {
            name: name.into(),
            method: AuthMethod::Social,
            limits: AccountLimits {
                priority,
                weight: 1,
                ..AccountLimits::default()
            },
            disabled: None,
        }
    }

    fn weighted(name: &str, priority: i64, weight: u32) -> PoolMember {
        let mut m = member(name, priority);
        m.limits.weight = weight;
        m
    }

    fn pool_with(members: Vec<PoolMember>, settings: PoolSettings) -> (Pool, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at_wall(
            parse_rfc3339_millis("2025-06-15T12:00:00Z").unwrap(),
        ));
        (Pool::with_clock(members, settings, clock.clone()), clock)
    }

    fn three(strategy: Strategy) -> (Pool, Arc<ManualClock>) {
        pool_with(
            vec![member("a", 0), member("b", 1), member("c", 2)],
            PoolSettings {
                strategy,
                ..PoolSettings::default()
            },
        )
    }

    const M: &str = "claude-sonnet-4.5";
    const A: AccountId = AccountId(0);
    const B: AccountId = AccountId(1);
    const C: AccountId = AccountId(2);

    fn state(pool: &Pool, id: AccountId) -> &'static str {
        pool.status(|_| None)
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.state)
            .unwrap()
    }

    /// Runs `n` sequential requests (plan, permit, success) and counts first choices.
    fn distribution(pool: &Pool, n: usize) -> Vec<usize> {
        let mut counts = vec![0; pool.len()];
        for _ in 0..n {
            let first = pool.plan(M, None)[0];
            let permit = pool.try_acquire(first).unwrap();
            pool.report(first, Outcome::Success { credits: None });
            drop(permit);
            counts[first.0 as usize] += 1;
        }
        counts
    }

    #[test]
    fn priority_fails_over_in_order_skipping_disabled() {
        let mut members = vec![
            member("a", 2),
            member("b", 0),
            member("c", 1),
            member("d", 0),
        ];
        members[2].disabled = Some(DisableReason::Configured);
        let (pool, _) = pool_with(members, PoolSettings::default());
        assert_eq!(
            pool.plan(M, None),
            vec![AccountId(1), AccountId(3), AccountId(0)]
        );
        assert_eq!(distribution(&pool, 30), vec![0, 30, 0, 0]);
        assert_eq!(pool.usable_count(""), 3);
    }

    #[test]
    fn round_robin_spreads_evenly_and_by_weight() {
        let (pool, _) = three(Strategy::RoundRobin);
        assert_eq!(pool.plan(M, None), vec![A, B, C]);
        assert_eq!(pool.plan(M, None), vec![B, C, A]);
        assert_eq!(pool.plan(M, None), vec![C, A, B]);
        assert_eq!(distribution(&pool, 300), vec![100, 100, 100]);

        let (pool, _) = pool_with(
            vec![
                weighted("a", 0, 3),
                weighted("b", 0, 1),
                weighted("c", 0, 2),
            ],
            PoolSettings {
                strategy: Strategy::RoundRobin,
                ..PoolSettings::default()
            },
        );
        assert_eq!(distribution(&pool, 300), vec![150, 50, 100]);

        // Counting (for /health) does not rotate.
        let (pool, _) = three(Strategy::RoundRobin);
        assert_eq!(pool.plan(M, None)[0], A);
        for _ in 0..5 {
            assert_eq!(pool.usable_count(M), 3);
        }
        assert_eq!(pool.plan(M, None)[0], B);
    }

    #[test]
    fn balanced_prefers_idle_then_least_used() {
        let (pool, _) = three(Strategy::Balanced);
        assert_eq!(distribution(&pool, 300), vec![100, 100, 100]);
        // In flight beats use count: with A busy, B and C come first.
        let busy = pool.try_acquire(A).unwrap();
        assert_eq!(pool.plan(M, None), vec![B, C, A]);
        drop(busy);

        let (pool, _) = pool_with(
            vec![weighted("a", 0, 1), weighted("b", 1, 2)],
            PoolSettings {
                strategy: Strategy::Balanced,
                ..PoolSettings::default()
            },
        );
        let counts = distribution(&pool, 300);
        assert_eq!(counts, vec![100, 200], "weights scale the share");
    }

    #[test]
    fn a_session_sticks_and_moves_only_when_its_account_fails() {
        let (pool, _) = three(Strategy::RoundRobin);
        let first = pool.plan(M, Some("s1"))[0];
        pool.report(first, Outcome::Success { credits: None });
        pool.pin("s1", first);
        for _ in 0..20 {
            let plan = pool.plan(M, Some("s1"));
            assert_eq!(plan[0], first, "sticky");
            assert_eq!(plan.len(), 3, "the others remain for failover");
            pool.pin("s1", plan[0]);
        }
        // The pinned account cools down: the session is served elsewhere and re-pinned there.
        pool.report(first, Outcome::Suspicious);
        let plan = pool.plan(M, Some("s1"));
        assert!(!plan.contains(&first));
        let moved = plan[0];
        pool.report(moved, Outcome::Success { credits: None });
        pool.pin("s1", moved);
        for _ in 0..5 {
            assert_eq!(pool.plan(M, Some("s1"))[0], moved);
        }
        // Other sessions still rotate.
        let others: Vec<AccountId> = (0..4).map(|_| pool.plan(M, Some("s2"))[0]).collect();
        assert!(others.windows(2).any(|w| w[0] != w[1]), "{others:?}");
    }

    #[test]
    fn a_pin_expires_after_its_ttl_without_success() {
        let (pool, clock) = three(Strategy::Priority);
        pool.pin("s", C);
        assert_eq!(pool.plan(M, Some("s"))[0], C);
        clock.advance(Duration::from_secs(59 * 60));
        pool.pin("s", C); // sliding
        clock.advance(Duration::from_secs(59 * 60));
        assert_eq!(pool.plan(M, Some("s"))[0], C);
        clock.advance(Duration::from_secs(61 * 60));
        assert_eq!(pool.plan(M, Some("s"))[0], A);
    }

    #[test]
    fn the_sticky_map_is_bounded() {
        let (pool, _) = pool_with(
            vec![member("a", 0), member("b", 1)],
            PoolSettings {
                sticky_capacity: 2,
                ..PoolSettings::default()
            },
        );
        pool.pin("x", B);
        pool.pin("y", B);
        pool.pin("z", B);
        assert_eq!(pool.lock().sticky.len(), 2);
        assert_eq!(pool.plan(M, Some("x"))[0], A, "x was evicted");
        assert_eq!(pool.plan(M, Some("z"))[0], B);
    }

    #[test]
    fn one_429_retries_two_in_a_row_cool_down_briefly() {
        let (pool, clock) = three(Strategy::Priority);
        assert_eq!(pool.advise(A, &Outcome::Throttled), Advice::RetrySame);
        assert_eq!(pool.report(A, Outcome::Throttled), Advice::RetrySame);
        assert_eq!(state(&pool, A), "active");
        // Advising records nothing; the second 429 would cool the account down.
        assert_eq!(pool.advise(A, &Outcome::Throttled), Advice::NextAccount);
        assert_eq!(pool.advise(A, &Outcome::Throttled), Advice::NextAccount);
        assert_eq!(state(&pool, A), "active");
        // A success in between resets the streak.
        pool.report(A, Outcome::Success { credits: None });
        assert_eq!(pool.report(A, Outcome::Throttled), Advice::RetrySame);
        assert_eq!(pool.report(A, Outcome::Throttled), Advice::NextAccount);
        assert_eq!(state(&pool, A), "cooling");
        assert_eq!(pool.plan(M, None), vec![B, C]);
        let s = &pool.status(|_| None)[0];
        assert_eq!(s.cooldown_secs_left, Some(60));
        assert_eq!(
            s.cooldown_until.as_deref(),
            Some("2025-06-15T12:01:00.000Z")
        );
        assert_eq!(s.reason.as_deref(), Some("throttled: two 429s in a row"));
        clock.advance(Duration::from_secs(60));
        assert_eq!(state(&pool, A), "active", "a cool-down ends by itself");
        assert_eq!(pool.plan(M, None), vec![A, B, C]);
    }

    #[test]
    fn suspicious_activity_rests_the_account_for_long() {
        let (pool, clock) = three(Strategy::Priority);
        assert_eq!(pool.report(B, Outcome::Suspicious), Advice::NextAccount);
        assert_eq!(pool.plan(M, None), vec![A, C]);
        clock.advance(Duration::from_secs(20 * 60));
        assert_eq!(state(&pool, B), "cooling");
        // A shorter throttle cool-down does not cut the long one short.
        pool.report(B, Outcome::Throttled);
        pool.report(B, Outcome::Throttled);
        clock.advance(Duration::from_secs(2 * 60));
        assert_eq!(state(&pool, B), "cooling");
        clock.advance(Duration::from_secs(8 * 60));
        assert_eq!(state(&pool, B), "active");
    }

    #[test]
    fn transient_errors_never_take_an_account_out() {
        let (pool, _) = three(Strategy::Priority);
        for _ in 0..50 {
            assert_eq!(pool.report(A, Outcome::Transient), Advice::PreferNext);
            assert_eq!(pool.report(A, Outcome::Network), Advice::PreferNext);
        }
        assert_eq!(
            pool.report(A, Outcome::Unauthorized),
            Advice::RefreshThenRetry
        );
        assert_eq!(pool.report(A, Outcome::BadRequest), Advice::Stop);
        let s = &pool.status(|_| None)[0];
        assert_eq!((s.state, s.failures), ("active", 101));
        assert_eq!(
            s.last_error.as_deref(),
            Some("bearer token refused (401/403)")
        );
        assert_eq!(pool.plan(M, None)[0], A);
        pool.report_failure(A, "refresh: 503");
        assert_eq!(state(&pool, A), "active");
    }

    #[test]
    fn quota_exhaustion_lasts_until_the_reset_date() {
        let (pool, clock) = three(Strategy::Priority);
        // No usage data: until the start of next month (UTC).
        assert_eq!(pool.report(A, Outcome::Quota), Advice::NextAccount);
        let s = &pool.status(|_| None)[0];
        assert_eq!(s.state, "exhausted");
        assert_eq!(
            s.cooldown_until.as_deref(),
            Some("2025-07-01T00:00:00.000Z")
        );
        // With usage data: until its reset date.
        pool.set_usage(B, usage(1000.0, 10.0, "2025-06-20T00:00:00Z", "KIRO PRO"));
        pool.report(B, Outcome::Quota);
        let s = &pool.status(|_| None)[1];
        assert_eq!(
            s.cooldown_until.as_deref(),
            Some("2025-06-20T00:00:00.000Z")
        );
        clock.advance(Duration::from_secs(5 * 86_400));
        assert_eq!(state(&pool, B), "active");
        assert_eq!(state(&pool, A), "exhausted");

        // A configured fallback replaces "next month".
        let (pool, _) = pool_with(
            vec![member("a", 0)],
            PoolSettings {
                exhausted_cooldown: Some(Duration::from_secs(3600)),
                ..PoolSettings::default()
            },
        );
        pool.report(A, Outcome::Quota);
        assert_eq!(pool.earliest_available(), Some(Duration::from_secs(3600)));
    }

    fn usage(limit: f64, used: f64, reset: &str, title: &str) -> UsageSnapshot {
        UsageSnapshot {
            limit,
            used,
            resets_at_millis: parse_rfc3339_millis(reset),
            subscription: Some(title.into()),
            overage_enabled: false,
        }
    }

    #[test]
    fn polled_usage_exhausts_and_renews() {
        let (pool, _) = three(Strategy::Priority);
        pool.set_usage(A, usage(50.0, 50.0, "2025-07-01T00:00:00Z", "KIRO PRO"));
        assert_eq!(state(&pool, A), "exhausted");
        pool.set_usage(A, usage(50.0, 0.0, "2025-08-01T00:00:00Z", "KIRO PRO"));
        assert_eq!(state(&pool, A), "active");
        pool.report(A, Outcome::Success { credits: Some(1.5) });
        let q = pool.status(|_| None)[0].quota.clone().unwrap();
        assert_eq!((q.left, q.limit, q.used), (48.5, 50.0, 1.5));
        assert_eq!(q.resets_at.as_deref(), Some("2025-08-01T00:00:00.000Z"));
        assert_eq!(q.subscription.as_deref(), Some("KIRO PRO"));
    }

    #[test]
    fn suspension_disables_and_drops_pins() {
        let (pool, clock) = three(Strategy::Priority);
        pool.pin("s", B);
        let advice = pool.report(
            B,
            Outcome::Suspended {
                reason: "locked your account".into(),
            },
        );
        assert_eq!(advice, Advice::NextAccount);
        assert_eq!(
            pool.disabled_reason(B),
            Some(DisableReason::Suspended("locked your account".into()))
        );
        clock.advance(Duration::from_secs(365 * 86_400));
        assert_eq!(pool.plan(M, Some("s")), vec![A, C]);
        assert_eq!(pool.lock().sticky.len(), 0);
        // Nothing cools a disabled account back to life.
        pool.report(B, Outcome::Suspicious);
        assert_eq!(state(&pool, B), "disabled");
    }

    #[test]
    fn models_free_tier_and_allow_lists_filter_the_plan() {
        let mut members = vec![member("a", 0), member("b", 1), member("c", 2)];
        members[2].limits.allowed_models = vec!["claude-sonnet-*".into()];
        let (pool, _) = pool_with(members, PoolSettings::default());
        assert_eq!(pool.plan("claude-opus-4.6", None), vec![A, B]);
        assert_eq!(pool.plan(M, None), vec![A, B, C]);
        // A free subscription cannot use Opus.
        pool.set_usage(A, usage(50.0, 0.0, "2025-07-01T00:00:00Z", "KIRO FREE"));
        assert_eq!(pool.plan("claude-opus-4.6", None), vec![B]);
        assert_eq!(pool.plan(M, None), vec![A, B, C]);
        // Model lists: trusted for models some account lists, ignored for the others.
        pool.set_models(A, vec![M.into()]);
        pool.set_models(B, vec![M.into(), "claude-opus-4.6".into()]);
        assert_eq!(pool.plan("claude-opus-4.6", None), vec![B]);
        assert_eq!(pool.plan("claude-haiku-4.5", None), vec![A, B]);
        assert_eq!(pool.plan("auto", None), vec![A, B]);
        assert_eq!(
            pool.available_models(),
            vec!["claude-opus-4.6".to_string(), M.to_string()]
        );
        pool.disable(B, DisableReason::Configured);
        assert_eq!(pool.available_models(), vec![M.to_string()]);
        assert_eq!(pool.plan("claude-opus-4.6", None), Vec::<AccountId>::new());
    }

    #[test]
    fn earliest_available_reports_the_first_return() {
        let (pool, clock) = three(Strategy::Priority);
        assert_eq!(pool.earliest_available(), Some(Duration::ZERO));
        pool.report(A, Outcome::Suspicious);
        pool.report(B, Outcome::Throttled);
        pool.report(B, Outcome::Throttled);
        pool.disable(C, DisableReason::Configured);
        assert_eq!(pool.earliest_available(), Some(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(45));
        assert_eq!(pool.earliest_available(), Some(Duration::from_secs(15)));
        clock.advance(Duration::from_secs(15));
        assert_eq!(pool.earliest_available(), Some(Duration::ZERO));
        let (pool, _) = pool_with(vec![member("a", 0)], PoolSettings::default());
        pool.disable(A, DisableReason::LoginRejected("invalid_grant".into()));
        assert_eq!(pool.earliest_available(), None);
    }

    #[test]
    fn pacing_limits_concurrency_and_releases_on_drop() {
        let mut members = vec![member("a", 0)];
        members[0].limits.max_concurrent = Some(2);
        let (pool, _) = pool_with(members, PoolSettings::default());
        let p1 = pool.try_acquire(A).unwrap();
        let _p2 = pool.try_acquire(A).unwrap();
        assert_eq!(pool.try_acquire(A).unwrap_err(), Wait::ForRelease);
        assert_eq!(pool.status(|_| None)[0].in_flight, 2);
        drop(p1);
        assert!(pool.try_acquire(A).is_ok());
    }

    #[test]
    fn pacing_applies_the_global_rpm_and_the_pool_defaults() {
        let (pool, clock) = pool_with(
            vec![member("a", 0), member("b", 1)],
            PoolSettings {
                global_rpm: Some(3),
                pacing: PacingLimits {
                    min_interval: Duration::from_millis(500),
                    ..PacingLimits::default()
                },
                ..PoolSettings::default()
            },
        );
        drop(pool.try_acquire(A).unwrap());
        assert_eq!(
            pool.try_acquire(A).unwrap_err(),
            Wait::For(Duration::from_millis(500))
        );
        drop(pool.try_acquire(B).unwrap());
        clock.advance(Duration::from_millis(500));
        drop(pool.try_acquire(A).unwrap());
        // Three starts in this minute over both accounts: the fourth waits for the first.
        assert_eq!(
            pool.try_acquire(B).unwrap_err(),
            Wait::For(Duration::from_millis(59_500))
        );
    }

    #[tokio::test]
    async fn acquire_waits_a_bounded_time() {
        let mut members = vec![member("a", 0), member("b", 1)];
        members[0].limits.max_concurrent = Some(1);
        members[1].limits.min_interval = Some(Duration::from_millis(80));
        let pool = Arc::new(Pool::new(
            members,
            PoolSettings {
                max_pacing_wait: Duration::from_millis(300),
                ..PoolSettings::default()
            },
        ));
        // A slot freed by another request is handed over.
        let held = pool.acquire(A).await.unwrap();
        let waiter = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.acquire(A).await.map(|p| p.account()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(A));
        // Nobody releases: Busy after the bounded wait.
        let _held = pool.acquire(A).await.unwrap();
        let t = Instant::now();
        assert_eq!(
            pool.acquire(A).await.unwrap_err(),
            Busy {
                retry_after: BUSY_RETRY_AFTER
            }
        );
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(290) && waited < Duration::from_secs(2));
        // A short interval is waited out.
        drop(pool.acquire(B).await.unwrap());
        let t = Instant::now();
        drop(pool.acquire(B).await.unwrap());
        assert!(t.elapsed() >= Duration::from_millis(70));
    }

    #[tokio::test]
    async fn acquire_gives_up_at_once_when_the_wait_is_too_long() {
        let mut members = vec![member("a", 0)];
        members[0].limits.rpm = Some(1);
        let pool = Pool::new(members, PoolSettings::default());
        drop(pool.acquire(A).await.unwrap());
        let t = Instant::now();
        let busy = pool.acquire(A).await.unwrap_err();
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(busy.retry_after > Duration::from_secs(59));
    }

    #[test]
    fn statuses_serialise_without_secrets_and_unknown_ids_are_ignored() {
        let (pool, _) = pool_with(vec![member("work", 0)], PoolSettings::default());
        assert_eq!(
            pool.report(AccountId(9), Outcome::Quota),
            Advice::NextAccount
        );
        pool.report_failure(AccountId(9), "x");
        pool.disable(AccountId(9), DisableReason::Configured);
        pool.pin("s", AccountId(9));
        assert_eq!(pool.disabled_reason(AccountId(9)), None);
        assert!(pool.try_acquire(AccountId(9)).is_err());
        let json = serde_json::to_value(pool.status(|_| Some(120))).unwrap();
        assert_eq!(json[0]["id"], 0);
        assert_eq!(json[0]["name"], "work");
        assert_eq!(json[0]["auth_method"], "social");
        assert_eq!(json[0]["state"], "active");
        assert_eq!(json[0]["token_expires_in_secs"], 120);
        assert!(json[0].get("last_error").is_none());
        assert!(json[0].get("cooldown_until").is_none());
    }

    #[test]
    fn status_only_outcomes_map_from_the_status() {
        assert_eq!(Outcome::from_status(429), Outcome::Throttled);
        assert_eq!(Outcome::from_status(403), Outcome::Unauthorized);
        assert_eq!(Outcome::from_status(401), Outcome::Unauthorized);
        assert_eq!(Outcome::from_status(402), Outcome::Quota);
        assert_eq!(Outcome::from_status(400), Outcome::BadRequest);
        assert_eq!(Outcome::from_status(503), Outcome::Transient);
        assert_eq!(Outcome::from_status(524), Outcome::Transient);
        assert_eq!(
            Outcome::from_status(200),
            Outcome::Success { credits: None }
        );
    }
}
