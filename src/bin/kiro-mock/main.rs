//! `kiro-mock`: a strict mock of the Kiro upstream on 127.0.0.1, for integration tests,
//! benchmarks, and trying the gateway without a real account. See `--help`.

mod faults;
mod script;
mod server;
mod state;
mod tokens;
mod validate;

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::services::listening::Service;

use crate::faults::Fault;
use crate::server::{MockApp, Pacing};
use crate::state::MockState;
use crate::tokens::TokenStore;

const HELP: &str = "\
kiro-mock: a strict mock of the Kiro (CodeWhisperer) upstream, for tests.

USAGE: kiro-mock [OPTIONS]

OPTIONS:
  --listen ADDR        address to listen on (default 127.0.0.1:0, a free port); the first
                       line on stdout is `kiro-mock listening on ADDR` once it accepts
  --access-ttl SECS    lifetime of the access tokens it issues (default 3600)
  --rotate             rotate refresh tokens: a used refresh token becomes invalid
  --accept-token TOK   an access token that is always valid (repeatable)
  --pace-ms MS         gap between stream events (default 20)
  --fast               no gaps between events (load tests)
  --stamp              open each stream with a text event [[mock-service-ns:N]]: the
                       nanoseconds from the request's head to the answer's (load tests)
  --log-requests N     keep at most N requests in the log (default 1000)
  -h, --help           this text

ENDPOINTS
  POST /generateAssistantResponse   strict validation, then a paced event-stream
  POST /refreshToken                social refresh {refreshToken}
  POST /token                       IdC refresh {clientId,clientSecret,refreshToken,grantType}
  GET  /getUsageLimits?origin=AI_EDITOR, GET /ListAvailableModels?origin=AI_EDITOR
  GET|DELETE /__mock/requests       the request log (seq, path, headers, body, verdict, reason…)
  GET  /__mock/stats                counters, refreshes per refresh token, queued faults
  POST|DELETE /__mock/faults        queue faults for the next chat requests (FIFO), e.g.
                                    [\"429\",{\"fault\":\"ok\"}] or {\"bearer\":\"tok\",\"faults\":[\"403\"]}

TOKENS
  Refresh tokens starting with `mock-rt-` are accepted, except `mock-rt-invalid…` and those
  rotated away. Bearers starting with `ksk_` are API keys (no profileArn needed).

DIRECTIVES (in the current user message text)
  [[mock:text WORDS]]              answer WORDS
  [[mock:tool NAME {JSON}]]        call declared tool NAME (fragmented toolUseEvents)
  [[mock:thinking]]                start with a <thinking> block split at awkward points
  [[mock:fault NAME]]              inject fault NAME
  [[mock:slow MS]]                 wait MS before the first byte (max 120000)
  [[mock:events N GAP_MS]]         N text events GAP_MS apart (N max 10000)
  [[mock:echo]]                    answer a JSON summary of the request
  Default answer: `MOCK_OK: <first 60 chars of the prompt>`.

FAULTS
  ";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
struct Config {
    listen: String,
    access_ttl: u64,
    rotate: bool,
    accept_tokens: Vec<String>,
    pace_ms: u64,
    fast: bool,
    stamp: bool,
    log_requests: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:0".into(),
            access_ttl: 3600,
            rotate: false,
            accept_tokens: Vec::new(),
            pace_ms: 20,
            fast: false,
            stamp: false,
            log_requests: 1000,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Command {
    Run(Config),
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag=value` and `--flag value` are both accepted.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => config.listen = value("--listen")?,
            "--access-ttl" => config.access_ttl = number(&value("--access-ttl")?, "--access-ttl")?,
            "--rotate" => config.rotate = true,
            "--accept-token" => config.accept_tokens.push(value("--accept-token")?),
            "--pace-ms" => config.pace_ms = number(&value("--pace-ms")?, "--pace-ms")?,
            "--fast" => config.fast = true,
            "--stamp" => config.stamp = true,
            "--log-requests" => {
                config.log_requests = number(&value("--log-requests")?, "--log-requests")?
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    config
        .listen
        .parse::<SocketAddr>()
        .map_err(|e| format!("--listen {:?}: {e}", config.listen))?;
    Ok(Command::Run(config))
}

fn number<T: std::str::FromStr>(s: &str, flag: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{flag}: {s:?} is not a valid number"))
}

fn help() -> String {
    let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
    format!("{HELP}{}\n", names.join(", "))
}

/// Resolves port 0 to a free port: Pingora binds by address and cannot report the port it got.
fn resolve_listen(listen: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen)?;
    listener.local_addr()
}

/// Prints the ready line once the listener accepts connections, or exits if it never does.
fn announce_when_ready(addr: SocketAddr) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // Not a connection to itself (possible on an ephemeral port without a listener).
            let connected = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
            if connected.is_ok_and(|s| s.local_addr().ok() != Some(addr)) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "kiro-mock listening on {addr}");
                let _ = out.flush();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("kiro-mock: {addr} did not start listening within 10 s");
        std::process::exit(1);
    });
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", help());
            return;
        }
        Err(e) => {
            eprintln!("kiro-mock: {e}");
            std::process::exit(2);
        }
    };
    let addr = match resolve_listen(&config.listen) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("kiro-mock: cannot listen on {}: {e}", config.listen);
            std::process::exit(1);
        }
    };

    let tokens = TokenStore::new(
        Duration::from_secs(config.access_ttl),
        config.rotate,
        config.accept_tokens.clone(),
    );
    let pace = if config.fast {
        Duration::ZERO
    } else {
        Duration::from_millis(config.pace_ms)
    };
    let app = MockApp::new(
        MockState::new(tokens, config.log_requests),
        Pacing {
            pace,
            stamp: config.stamp,
        },
    );

    let conf = ServerConf {
        threads: 2,
        // A test double should stop at once when told to.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = Service::new("kiro-mock".to_owned(), app);
    service.add_tcp(&addr.to_string());
    server.add_service(service);
    announce_when_ready(addr);
    server.run_forever();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn defaults() {
        assert_eq!(parse(&[]), Ok(Command::Run(Config::default())));
    }

    #[test]
    fn every_flag() {
        let got = parse(&[
            "--listen",
            "127.0.0.1:4000",
            "--access-ttl=5",
            "--rotate",
            "--accept-token",
            "a",
            "--accept-token=b",
            "--pace-ms",
            "0",
            "--fast",
            "--stamp",
            "--log-requests",
            "3",
        ]);
        assert_eq!(
            got,
            Ok(Command::Run(Config {
                listen: "127.0.0.1:4000".into(),
                access_ttl: 5,
                rotate: true,
                accept_tokens: vec!["a".into(), "b".into()],
                pace_ms: 0,
                fast: true,
                stamp: true,
                log_requests: 3,
            }))
        );
        assert_eq!(parse(&["--rotate", "-h"]), Ok(Command::Help));
    }

    #[test]
    fn errors() {
        assert!(parse(&["--listen"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--pace-ms", "fast"])
            .unwrap_err()
            .contains("not a valid number"));
        assert!(parse(&["--listen", "localhost"]).is_err());
        assert!(parse(&["--bogus"])
            .unwrap_err()
            .contains("unknown argument"));
    }

    #[test]
    fn help_lists_every_fault() {
        let text = help();
        for fault in Fault::ALL {
            assert!(text.contains(fault.name()));
        }
        assert!(text.contains("[[mock:tool"));
    }
}
