//! `rsvault serve`: runs the vault server until SIGTERM or Ctrl-C.

use crate::cli::ServeArgs;
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
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let config = rsvault_server::ServerConfig {
        listen: args.listen,
        data_dir,
    };
    rt.block_on(rsvault_server::serve(config, shutdown_signal()))?;
    Ok(ExitCode::SUCCESS)
}
