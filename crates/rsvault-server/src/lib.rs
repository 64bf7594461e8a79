//! rsvault's HTTP server: the Azure Resource Manager API of Recovery
//! Services vaults over the vault service. Thin: it parses paths and bodies,
//! checks the bearer token, and maps service results to ARM responses.

pub mod agent;
pub mod arm;
pub mod auth;
pub mod clock;
pub mod envelope;
pub mod handlers;
pub mod login;
pub mod metadata;
pub mod paging;
pub mod portal;
pub mod request;
pub mod tls;
pub mod urls;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use axum::routing::post;
use rsvault_engine::clock::ManualClock;
use rsvault_service::Service;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Shared state of the handlers.
#[derive(Debug)]
pub struct AppState {
    pub service: Arc<Service>,
    /// The built-in token issuer: its tenant and signing keys.
    pub issuer: Arc<rsvault_service::identity::tokens::TokenIssuer>,
    /// Failed logins per client address (logins are limited).
    pub failed_logins: login::FailedLogins,
    /// Device codes waiting for their users' sign-in.
    pub device_codes: login::DeviceCodes,
    /// Set when the server runs on a simulated clock (`[testing]` in the
    /// configuration): `POST /rsvault/clock` moves it.
    pub clock: Option<Arc<ManualClock>>,
    pub scheduler: SchedulerSettings,
    /// Items per page of a list.
    pub page_size: usize,
    /// How the server names itself in operation URLs and `nextLink`.
    pub urls: urls::PublicUrls,
    /// Hex SHA-256 of the server's TLS certificate, which enrolment tokens
    /// carry for agents to pin (`None` on plain HTTP: no enrolment).
    pub certificate_sha256: Option<String>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Service(#[from] rsvault_service::ServiceError),
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("token issuer: {0}")]
    Issuer(#[from] rsvault_service::identity::tokens::IssuerError),
    #[error("{0}")]
    Refused(String),
}

async fn healthz() -> &'static str {
    "ok"
}

/// The router: `/healthz` and the portal's files without authentication,
/// everything else ARM; every error answer in ARM's envelope.
pub fn app(state: Arc<AppState>) -> Router {
    let enroll = Router::new()
        .route("/rsvault/agent/enroll", post(agent::enroll))
        .with_state(state.clone());
    let arm = Router::new()
        .route("/rsvault/clock", post(clock::set))
        .nest("/rsvault/agent", agent::routes())
        .fallback(handlers::dispatch)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            paging::paginate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            urls::base_url,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            login::endpoints,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metadata::endpoints,
        ))
        .with_state(state);
    Router::new()
        .route("/healthz", get(healthz))
        .merge(enroll)
        .route("/", get(portal::index))
        .route("/portal/{*path}", get(portal::asset))
        .merge(arm)
        .layer(middleware::from_fn(envelope::oversized))
        .layer(middleware::from_fn(envelope::errors))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub scheduler: SchedulerSettings,
    /// Run on a simulated clock starting at this time (tests and demos of
    /// schedules); `None` is the real clock.
    pub simulated_clock: Option<jiff::Timestamp>,
    /// Items per page of a list (`nextLink` beyond).
    pub page_size: usize,
    /// Live backups of running QEMU VMs.
    pub live: rsvault_service::live::LiveSettings,
    /// Hosts that run the rsvault agent: heartbeats and health.
    pub agents: rsvault_service::agents::AgentSettings,
    /// The folders disk images may be named under (`[inventory] image_roots`).
    pub image_roots: Vec<PathBuf>,
    /// The server's public URL (`[server] public_url`), for operation URLs.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Where restores write (`[storage]`).
    pub storage: rsvault_service::StorageSettings,
    /// Verify jobs: the default schedule of vaults that set none.
    pub verify: rsvault_service::verify::VerifySettings,
    /// The metadata database (`None`: SQLite in the data directory).
    pub database: Option<rsvault_service::DatabaseUrl>,
    /// The job runner: how many background jobs run at once (`[jobs]`).
    pub jobs: rsvault_service::runner::JobSettings,
    /// HTTPS (the default) or plain HTTP.
    pub transport: tls::Transport,
    /// Hypervisor hosts whose VMs are discovered (`--libvirt`).
    pub hosts: Vec<rsvault_service::hosts::HostConfig>,
}

/// How the scheduler runs.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerSettings {
    /// Time between ticks.
    pub interval: std::time::Duration,
    /// Scheduled backups running at once, at most.
    pub max_concurrent_backups: usize,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            interval: std::time::Duration::from_secs(30),
            max_concurrent_backups: 2,
        }
    }
}

/// Runs one scheduler tick off the async threads and logs what it did.
pub async fn scheduler_tick(
    service: &Arc<Service>,
    settings: SchedulerSettings,
) -> Result<rsvault_service::scheduler::TickReport, rsvault_service::ServiceError> {
    let s = service.clone();
    let r = tokio::task::spawn_blocking(move || s.scheduler_tick(settings.max_concurrent_backups))
        .await
        .map_err(|e| rsvault_service::ServiceError::Internal(format!("scheduler: {e}")))?;
    match &r {
        Ok(rep) => {
            if rep.purged > 0 {
                tracing::info!("purged {} soft-deleted item(s)", rep.purged);
            }
            if !rep.verify_started.is_empty() {
                tracing::info!(
                    "started {} scheduled verify job(s)",
                    rep.verify_started.len()
                );
            }
            if !rep.expired.is_empty() {
                tracing::info!("retention expired {} recovery point(s)", rep.expired.len());
            }
        }
        Err(e) => tracing::warn!("scheduler tick failed: {e}"),
    }
    r
}

/// Warns when the plain-HTTP server can be reached from other hosts, and
/// when operation URLs will name a loopback address remote clients cannot
/// follow.
fn warn_about_exposure(addr: SocketAddr, config: &ServerConfig) -> Result<(), ServerError> {
    let behind_tls_proxy = config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    if config.transport == tls::Transport::InsecureHttp {
        if !addr.ip().is_loopback() && !behind_tls_proxy {
            return Err(ServerError::Refused(format!(
                "--insecure-http on {addr}, which is not a loopback address: credentials and backup data \
                 would cross the network unencrypted. Drop --insecure-http (the server then speaks HTTPS), \
                 or listen on 127.0.0.1 behind a TLS-terminating proxy named by [server] public_url = \"https://…\""
            )));
        }
        tracing::warn!(
            "SECURITY: --insecure-http: rsvault speaks plain HTTP on {addr}; Azure's clients refuse \
             bearer tokens over it. Use it for tests on loopback or behind a TLS-terminating proxy only."
        );
    }
    if addr.ip().is_unspecified() && config.public_url.is_none() {
        tracing::warn!(
            "[server] public_url is not set: operation URLs and nextLink name {}, which remote clients cannot follow",
            urls::listen_url(addr, config.transport != tls::Transport::InsecureHttp)
        );
    }
    Ok(())
}

/// Makes the host Owner on a server with no principal yet, and says where
/// its credential is (never the secret itself).
async fn announce_owner(
    service: &Arc<Service>,
    issuer: &rsvault_service::identity::tokens::TokenIssuer,
) -> Result<(), ServerError> {
    let (svc, tenant) = (service.clone(), issuer.tenant().to_owned());
    let made = tokio::task::spawn_blocking(move || svc.ensure_host_owner(&tenant))
        .await
        .map_err(|e| ServerError::Io {
            context: "make the host Owner".into(),
            cause: std::io::Error::other(e),
        })??;
    let file = service
        .data_dir()
        .join(rsvault_service::identity::directory::OWNER_FILE);
    if let Some(f) = made {
        println!(
            "made the host Owner principal ({}); its credential is in {} (mode 0600): \
             rsvault commands on this host with --data-dir use it",
            rsvault_service::identity::directory::HOST_OWNER,
            f.display()
        );
    } else if file.exists() {
        println!("host Owner credential: {}", file.display());
    }
    println!("tenant: {}", issuer.tenant());
    let header = service.data_dir().join(login::MANAGED_IDENTITY_HEADER_FILE);
    if !header.exists() {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        rsvault_service::identity::tokens::write_private(&header, format!("{secret}\n").as_bytes())
            .map_err(|cause| ServerError::Io {
                context: format!("write {}", header.display()),
                cause,
            })?;
    }
    println!(
        "managed identity of this host: IDENTITY_ENDPOINT=<server URL>/metadata/identity/oauth2/token \
         IDENTITY_HEADER=$(cat {})",
        header.display()
    );
    Ok(())
}

/// Opens the data directory and serves until `shutdown` completes.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
    }
    .map_err(|cause| ServerError::Io {
        context: format!("create {}", config.data_dir.display()),
        cause,
    })?;
    let dir = config.data_dir.clone();
    let clock = config
        .simulated_clock
        .map(|t| Arc::new(ManualClock::new(rsvault_engine::clock::system_time(t))));
    let service_clock: Arc<dyn rsvault_engine::clock::Clock> = match &clock {
        Some(c) => c.clone(),
        None => Arc::new(rsvault_engine::clock::SystemClock),
    };
    let storage = config.storage.clone();
    let database = config.database.clone();
    let service = tokio::task::spawn_blocking(move || {
        Service::open_with_database(&dir, service_clock, storage, database.as_ref())
    })
    .await
    .map_err(|e| ServerError::Io {
        context: "open the data directory".into(),
        cause: std::io::Error::other(e),
    })??;
    service.set_live_settings(config.live.clone());
    service.set_agent_settings(config.agents.clone());
    service.set_image_roots(config.image_roots.clone());
    service.set_verify_settings(config.verify);
    service.set_job_settings(config.jobs);
    service.set_hosts(config.hosts.clone());
    if !config.hosts.is_empty() {
        match tokio::task::block_in_place(|| service.refresh_hosts()) {
            Ok(r) => tracing::info!(
                added = r.added,
                updated = r.updated,
                removed = r.removed,
                "discovered the hosts' VMs"
            ),
            Err(e) => tracing::warn!("discovery: {e}"),
        }
    }
    if let Some(t) = config.simulated_clock {
        tracing::warn!(
            "running on a simulated clock starting at {t}; POST /rsvault/clock moves it"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|cause| ServerError::Io {
            context: format!("listen on {}", config.listen),
            cause,
        })?;
    let addr = listener.local_addr().map_err(|cause| ServerError::Io {
        context: "local address".into(),
        cause,
    })?;
    warn_about_exposure(addr, &config)?;
    let cert = tls::load(&config.transport, &config.data_dir, addr)?;
    let listen_url = urls::listen_url(addr, cert.is_some());
    tracing::info!(
        "rsvault listening on {listen_url} (data in {}, metadata in {})",
        config.data_dir.display(),
        match &config.database {
            Some(d) => d.to_string(),
            None => "metadata.db there".into(),
        }
    );
    if let Some(c) = &cert {
        let made = if c.generated { "made now" } else { "kept" };
        println!(
            "TLS certificate: {} ({made}; SHA-256 {}); clients trust it with REQUESTS_CA_BUNDLE={0}",
            c.cert_path.display(),
            c.fingerprint
        );
    }
    let issuer_base = config
        .public_url
        .clone()
        .unwrap_or_else(|| listen_url.clone());
    let issuer = Arc::new(rsvault_service::identity::tokens::TokenIssuer::open(
        &config.data_dir.join("identity"),
        &issuer_base,
    )?);
    let service = Arc::new(service);
    announce_owner(&service, &issuer).await?;
    let urls = urls::PublicUrls {
        public_url: config.public_url.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        listen_url: listen_url.clone(),
    };
    let state = Arc::new(AppState {
        service,
        issuer,
        failed_logins: login::FailedLogins::default(),
        device_codes: login::DeviceCodes::default(),
        clock,
        scheduler: config.scheduler,
        page_size: config.page_size,
        urls,
        certificate_sha256: cert
            .as_ref()
            .map(|c| c.fingerprint.replace(':', "").to_ascii_lowercase()),
    });
    // The scheduler: policies' backups, retention and the purge of
    // soft-deleted data, every tick.
    {
        let (svc, settings) = (state.service.clone(), config.scheduler);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(settings.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let _ = scheduler_tick(&svc, settings).await;
            }
        });
    }

    println!("rsvault listening on {listen_url}");
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = match cert {
        Some(c) => {
            use axum::serve::ListenerExt;
            let tls =
                tls::TlsListener::new(listener, c.config).map_err(|cause| ServerError::Io {
                    context: "local address".into(),
                    cause,
                })?;
            axum::serve(tls.tap_io(|_| {}), service)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    served.map_err(|cause| ServerError::Io {
        context: "serve".into(),
        cause,
    })
}
