//! `rsvault serve`: runs the vault server until SIGTERM or Ctrl-C.

use crate::cli::ServeArgs;
use crate::config::FileConfig;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

fn default_data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("rsvault"));
    }
    let home =
        std::env::var_os("HOME").context("neither --data-dir, XDG_DATA_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/rsvault"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Runs the server.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let file = match &args.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let data_dir = match args.data_dir.clone().or_else(|| file.data_dir.clone()) {
        Some(d) => d,
        None => default_data_dir()?,
    };
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 7431)));
    let demo = args.demo || file.demo == Some(true);
    let database = file.database(args.database.as_deref())?;
    let transport = file.transport(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.insecure_http,
    )?;
    if demo {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("create {}", data_dir.display()))?;
        let service = rsvault_service::Service::open_with_database(
            &data_dir,
            std::sync::Arc::new(rsvault_engine::clock::SystemClock),
            rsvault_service::StorageSettings {
                image_roots: file.image_roots(&data_dir, demo),
                ..file.storage_settings()
            },
            database.as_ref(),
        )?;
        service.set_image_roots(file.image_roots(&data_dir, demo));
        crate::demo::seed(&service).context("register the demo VMs")?;
        eprintln!(
            "demo VMs are registered in subscription {} resource group {} (japaneast and westeurope)",
            crate::demo::SUBSCRIPTION,
            crate::demo::RESOURCE_GROUP
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let storage = rsvault_service::StorageSettings {
        image_roots: file.image_roots(&data_dir, demo),
        ..file.storage_settings()
    };
    let config = rsvault_server::ServerConfig {
        listen,
        image_roots: file.image_roots(&data_dir, demo),
        data_dir,
        scheduler: file.scheduler_settings(),
        simulated_clock: file.simulated_clock(),
        page_size: file.api.page_size.unwrap_or(200),
        live: file.live_settings(),
        agents: file.agent_settings(),
        public_url: file.public_url(),
        trusted_proxies: file.server.trusted_proxies.clone(),
        storage,
        verify: file.verify_settings()?,
        database,
        jobs: file.job_settings(),
        transport,
        hosts: file.libvirt_hosts(
            args.libvirt.as_deref(),
            args.libvirt_resource_group.as_deref(),
            args.libvirt_location.as_deref(),
        )?,
    };
    rt.block_on(rsvault_server::serve(config, shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}
