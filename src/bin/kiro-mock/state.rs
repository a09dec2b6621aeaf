//! The mock's memory, behind one lock: the token store, the bounded request log, counters, and
//! the fault queues. Pure data structures; the server does the I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::faults::Fault;
use crate::tokens::TokenStore;

/// Bodies up to this size are kept (and shown parsed); larger ones only by length and hash.
const MAX_LOGGED_BODY: usize = 256 * 1024;
/// Queued faults beyond this many (all queues together) are refused.
const MAX_QUEUED_FAULTS: usize = 10_000;

/// One recorded upstream request.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u64,
    pub time_ms: u64,
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body_len: usize,
    pub body_sha256: String,
    /// The body text, when it is JSON and small enough to keep.
    pub body_json: Option<String>,
    pub bearer: Option<String>,
    pub status: u16,
    /// `accepted`, `rejected` or `fault`.
    pub verdict: &'static str,
    pub reason: Option<String>,
    pub fault: Option<&'static str>,
}

impl Record {
    /// Fills in the body fields from the raw body.
    pub fn set_body(&mut self, body: &[u8]) {
        self.body_len = body.len();
        self.body_sha256 = hex(&Sha256::digest(body));
        self.body_json = (body.len() <= MAX_LOGGED_BODY)
            .then(|| std::str::from_utf8(body).ok())
            .flatten()
            .filter(|s| serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok())
            .map(str::to_owned);
    }

    pub fn to_json(&self) -> Value {
        let body = match &self.body_json {
            Some(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            None => Value::Null,
        };
        json!({
            "seq": self.seq,
            "time_ms": self.time_ms,
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": body,
            "body_len": self.body_len,
            "body_sha256": self.body_sha256,
            "body_omitted": self.body_json.is_none() && self.body_len > 0,
            "bearer": self.bearer,
            "status": self.status,
            "verdict": self.verdict,
            "reason": self.reason,
            "fault": self.fault,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Faults queued by tests: per bearer first, then global, each first in first out.
#[derive(Debug, Default)]
pub struct FaultQueues {
    global: VecDeque<Fault>,
    per_bearer: HashMap<String, VecDeque<Fault>>,
}

impl FaultQueues {
    fn len(&self) -> usize {
        self.global.len() + self.per_bearer.values().map(VecDeque::len).sum::<usize>()
    }

    pub fn pop(&mut self, bearer: Option<&str>) -> Option<Fault> {
        if let Some(queue) = bearer.and_then(|b| self.per_bearer.get_mut(b)) {
            if let Some(fault) = queue.pop_front() {
                return Some(fault);
            }
        }
        self.global.pop_front()
    }

    pub fn clear(&mut self) {
        self.global.clear();
        self.per_bearer.clear();
    }

    /// Queues faults described by a `POST /__mock/faults` body; returns how many were queued.
    ///
    /// Accepted shapes: `[spec, …]`, `{"bearer": "tok", "faults": [spec, …]}`, or a single
    /// spec, where a spec is `"429"`, `{"fault": "429"}` or `{"fault": "429", "bearer": "tok"}`.
    pub fn push_json(&mut self, body: &Value) -> Result<usize, String> {
        let mut parsed = Vec::new();
        match body {
            Value::Array(items) => {
                for item in items {
                    parsed.push(parse_spec(item, None)?);
                }
            }
            Value::Object(m) if m.contains_key("faults") => {
                let bearer = opt_bearer(m)?;
                let Some(Value::Array(items)) = m.get("faults") else {
                    return Err("faults must be an array".into());
                };
                for item in items {
                    parsed.push(parse_spec(item, bearer.clone())?);
                }
            }
            other => parsed.push(parse_spec(other, None)?),
        }
        if self.len() + parsed.len() > MAX_QUEUED_FAULTS {
            return Err(format!("at most {MAX_QUEUED_FAULTS} faults may be queued"));
        }
        let n = parsed.len();
        for (bearer, fault) in parsed {
            match bearer {
                Some(b) => self.per_bearer.entry(b).or_default().push_back(fault),
                None => self.global.push_back(fault),
            }
        }
        Ok(n)
    }

    fn to_json(&self) -> Value {
        let names = |q: &VecDeque<Fault>| q.iter().map(|f| f.name()).collect::<Vec<_>>();
        let per_bearer: Map<String, Value> = self
            .per_bearer
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(b, q)| (b.clone(), json!(names(q))))
            .collect();
        json!({"global": names(&self.global), "per_bearer": per_bearer})
    }
}

fn opt_bearer(m: &Map<String, Value>) -> Result<Option<String>, String> {
    match m.get("bearer") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(b)) => Ok(Some(b.clone())),
        Some(_) => Err("bearer must be a string".into()),
    }
}

fn parse_spec(spec: &Value, bearer: Option<String>) -> Result<(Option<String>, Fault), String> {
    let (name, bearer) = match spec {
        Value::String(name) => (name.as_str(), bearer),
        Value::Object(m) => {
            let name = m
                .get("fault")
                .and_then(Value::as_str)
                .ok_or("a fault spec needs a \"fault\" name")?;
            (name, opt_bearer(m)?.or(bearer))
        }
        _ => return Err(format!("not a fault spec: {spec}")),
    };
    let fault = Fault::parse(name).ok_or_else(|| format!("unknown fault {name:?}"))?;
    Ok((bearer, fault))
}

/// Everything the mock remembers.
#[derive(Debug)]
pub struct MockState {
    pub tokens: TokenStore,
    pub faults: FaultQueues,
    log: VecDeque<Record>,
    log_cap: usize,
    next_seq: u64,
    requests: BTreeMap<&'static str, u64>,
    verdicts: BTreeMap<&'static str, u64>,
    faults_served: BTreeMap<&'static str, u64>,
}

impl MockState {
    pub fn new(tokens: TokenStore, log_cap: usize) -> Self {
        MockState {
            tokens,
            faults: FaultQueues::default(),
            log: VecDeque::new(),
            log_cap,
            next_seq: 1,
            requests: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            faults_served: BTreeMap::new(),
        }
    }

    /// Takes the next sequence number and counts a request to `endpoint`.
    pub fn begin(&mut self, endpoint: &'static str) -> u64 {
        *self.requests.entry(endpoint).or_default() += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Stores a finished record, dropping the oldest beyond the cap.
    pub fn record(&mut self, record: Record) {
        if record.path.starts_with("/generateAssistantResponse") {
            *self.verdicts.entry(record.verdict).or_default() += 1;
        }
        if let Some(fault) = record.fault {
            *self.faults_served.entry(fault).or_default() += 1;
        }
        if self.log_cap == 0 {
            return;
        }
        while self.log.len() >= self.log_cap {
            self.log.pop_front();
        }
        self.log.push_back(record);
    }

    /// Number of chat requests answered with a normal stream.
    pub fn accepted_chats(&self) -> u64 {
        self.verdicts.get("accepted").copied().unwrap_or(0)
    }

    pub fn clear_log(&mut self) {
        self.log.clear();
    }

    pub fn log_json(&self) -> Value {
        Value::Array(self.log.iter().map(Record::to_json).collect())
    }

    pub fn stats_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "chat": self.verdicts,
            "faults_served": self.faults_served,
            "faults_queued": self.faults.to_json(),
            "refreshes": self.tokens.refreshes(),
            "log_len": self.log.len(),
            "next_seq": self.next_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(seq: u64, path: &str, verdict: &'static str) -> Record {
        Record {
            seq,
            time_ms: 0,
            method: "POST".into(),
            path: path.into(),
            headers: BTreeMap::new(),
            body_len: 0,
            body_sha256: String::new(),
            body_json: None,
            bearer: None,
            status: 200,
            verdict,
            reason: None,
            fault: None,
        }
    }

    #[test]
    fn fault_queues_are_fifo_and_per_bearer_first() {
        let mut q = FaultQueues::default();
        assert_eq!(
            q.push_json(&json!([{"fault": "429"}, "ok", {"fault": "500", "bearer": "b"}])),
            Ok(3)
        );
        assert_eq!(
            q.push_json(&json!({"bearer": "a", "faults": ["402"]})),
            Ok(1)
        );
        assert_eq!(q.push_json(&json!({"fault": "cut"})), Ok(1));
        assert_eq!(q.pop(Some("a")), Some(Fault::Quota));
        assert_eq!(q.pop(Some("a")), Some(Fault::Throttled));
        assert_eq!(q.pop(Some("b")), Some(Fault::Internal));
        assert_eq!(q.pop(None), Some(Fault::Ok));
        assert_eq!(q.pop(None), Some(Fault::Cut));
        assert_eq!(q.pop(None), None);
    }

    #[test]
    fn bad_fault_specs_queue_nothing() {
        let mut q = FaultQueues::default();
        assert!(q.push_json(&json!(["429", "teapot"])).is_err());
        assert!(q.push_json(&json!([42])).is_err());
        assert!(q.push_json(&json!({"bearer": 1, "faults": []})).is_err());
        assert_eq!(q.len(), 0);
        let many: Vec<&str> = vec!["ok"; MAX_QUEUED_FAULTS + 1];
        assert!(q.push_json(&json!(many)).is_err());
    }

    #[test]
    fn the_log_is_capped_and_counts_verdicts() {
        let tokens = TokenStore::new(Duration::from_secs(1), false, vec![]);
        let mut state = MockState::new(tokens, 2);
        for verdict in ["accepted", "rejected", "accepted"] {
            let seq = state.begin("generateAssistantResponse");
            state.record(record(seq, "/generateAssistantResponse", verdict));
        }
        let log = state.log_json();
        let seqs: Vec<u64> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, vec![2, 3]);
        assert_eq!(state.accepted_chats(), 2);
        let stats = state.stats_json();
        assert_eq!(stats["requests"]["generateAssistantResponse"], json!(3));
        assert_eq!(stats["chat"]["rejected"], json!(1));
        state.clear_log();
        assert_eq!(state.log_json(), json!([]));
    }

    #[test]
    fn bodies_are_kept_parsed_or_hashed() {
        let mut r = record(1, "/x", "accepted");
        r.set_body(br#"{"a":1}"#);
        assert_eq!(r.to_json()["body"], json!({"a": 1}));
        assert_eq!(r.body_len, 7);
        assert_eq!(r.body_sha256.len(), 64);
        let big = vec![b' '; MAX_LOGGED_BODY + 1];
        r.set_body(&big);
        let j = r.to_json();
        assert_eq!(j["body"], Value::Null);
        assert_eq!(j["body_omitted"], json!(true));
        r.set_body(b"not json");
        assert_eq!(r.to_json()["body_omitted"], json!(true));
    }
}
