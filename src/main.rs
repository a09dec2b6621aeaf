//! `kiro-edge`: the gateway binary. Pingora's own flags apply (`-c CONF`, `-t` test the
//! configuration, `-u` take over from a running instance, `-d` daemonize).

use kiro_edge::accounts::{AccountSettings, Accounts, RefreshService, UsageService};
use kiro_edge::config::GatewayConfig;
use kiro_edge::memory::TrimService;
use kiro_edge::metrics;
use kiro_edge::proxy::service::{gateway_service, DrainService};
use kiro_edge::proxy::Gateway;
use kiro_edge::upstream::pulse::PulseConnector;
use pingora_core::connectors::ConnectorOptions;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use std::process::exit;
use std::sync::Arc;

/// Logs to stderr as env_logger does by default (`RUST_LOG`, `RUST_LOG_STYLE`), except that
/// lines for a file or the journal are written as they are formatted: env_logger would otherwise
/// run each line through a filter that strips colour codes, byte by byte, and there are none
/// to strip. One access line per request made that filter a measurable share of a request.
fn init_logging() {
    use std::io::{IsTerminal, Write};
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if std::env::var_os("RUST_LOG_STYLE").is_none() && !std::io::stderr().is_terminal() {
        // The default format, uncoloured: `[2026-01-01T00:00:00Z INFO  target] message`.
        logger
            .write_style(env_logger::WriteStyle::Always)
            .format(|buf, record| {
                writeln!(
                    buf,
                    "[{} {:<5} {}] {}",
                    buf.timestamp(),
                    record.level(),
                    record.target(),
                    record.args()
                )
            });
    }
    logger.init();
}

fn main() {
    kiro_edge::memory::tune_heap();
    init_logging();
    let opt = Opt::parse_args();

    // Everything that can reject the configuration runs before `bootstrap`, which exits on -t
    // and, with -u, must be reached within Pingora's ~5 s hand-off window.
    let cfg = match &opt.conf {
        Some(path) => GatewayConfig::load(std::path::Path::new(path)),
        None => GatewayConfig::from_env(),
    };
    let cfg = Arc::new(cfg.unwrap_or_else(|e| {
        eprintln!("kiro-edge: configuration error: {e}");
        exit(2);
    }));
    let accounts = Accounts::load(account_settings(&cfg)).unwrap_or_else(|e| {
        eprintln!("kiro-edge: credentials error: {e}");
        exit(2);
    });
    if opt.test {
        println!(
            "kiro-edge: configuration OK ({} account(s), listening on {})",
            accounts.len(),
            cfg.listen
        );
    }
    if cfg.api_keys.is_empty() {
        log::warn!(
            "no API key configured: any client on {} is served",
            cfg.listen
        );
    }

    let mut server = match &opt.conf {
        Some(_) => Server::new(Some(opt)).unwrap_or_else(|e| {
            eprintln!("kiro-edge: pingora configuration error: {e}");
            exit(2);
        }),
        None => {
            let conf = ServerConf {
                threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
                ..ServerConf::default()
            };
            Server::new_with_opt_and_conf(Some(opt), conf)
        }
    };
    server.bootstrap();

    let accounts = Arc::new(accounts);
    metrics::init();
    match metrics::AccountsCollector::new(accounts.clone()) {
        Ok(collector) => metrics::register(Box::new(collector)),
        Err(e) => log::warn!("per-account metrics are off: {e}"),
    }
    let refresher = background_service(
        "token refresher",
        RefreshService::new(accounts.clone(), cfg.refresh_ahead),
    );
    let drain = background_service("drain", DrainService::new(accounts.clone()));
    let trim = background_service("heap trim", TrimService);
    let usage = background_service(
        "usage poller",
        UsageService::new(accounts.clone(), cfg.pool.usage_poll_interval),
    );
    let connector = PulseConnector::new(
        Some(ConnectorOptions::from_server_conf(&server.configuration)),
        cfg.ping_interval,
    );
    let mut gateway = gateway_service(
        &server.configuration,
        Gateway::new(cfg.clone(), accounts),
        connector,
    );
    gateway.add_listener(
        ListenerConfig::tcp(cfg.listen.to_string())
            .l4_buffer(L4BufferSettings::default().read(cfg.client_read_buffer)),
    );
    log::info!(
        "kiro-edge {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        cfg.listen
    );
    server.add_service(refresher);
    server.add_service(drain);
    server.add_service(trim);
    server.add_service(usage);
    server.add_service(gateway);
    if let Some(addr) = cfg.metrics_listen {
        let mut prometheus = pingora_prometheus::prometheus_http_service();
        prometheus.add_tcp(&addr.to_string());
        prometheus.threads = Some(1);
        server.add_service(prometheus);
        log::info!("metrics on http://{addr}/metrics");
    }
    server.run_forever();
}

fn account_settings(cfg: &GatewayConfig) -> AccountSettings {
    AccountSettings {
        credentials_file: cfg.credentials_file.clone(),
        discover_local: cfg.discover_local_login,
        region: cfg.region.clone(),
        social_refresh_url: cfg.social_refresh_url.clone(),
        idc_token_url: cfg.idc_token_url.clone(),
        kiro_version: cfg.kiro_version.clone(),
        machine_id: cfg.machine_id.clone(),
        refresh_margin: cfg.refresh_ahead,
        lazy_refresh_margin: cfg.refresh_lazy_margin,
        usage_url: cfg.usage_url.clone(),
        models_url: cfg.models_url.clone(),
        pool: cfg.pool.clone(),
        configured: cfg.accounts.clone(),
        ..AccountSettings::default()
    }
}
