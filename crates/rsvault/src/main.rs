//! The `rsvault` command.

mod ad_cmd;
mod agent;
mod arm_client;
mod backup_cmd;
mod cli;
mod config;
mod demo;
mod disk;
mod guard_cmd;
mod host_cmd;
mod human;
mod monitor_cmd;
mod output;
mod progress;
mod role_cmd;
mod serve;
mod storage_blobs;
mod storage_cmd;
mod vm_cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let default = match cli.verbose {
        0 => "warn,rsvault_server=info",
        1 => "info,rsvault=debug,rsvault_engine=debug",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(args),
        cli::Command::Disk(cmd) => disk::run(cmd),
        cli::Command::Backup(args) => backup_cmd::run(args),
        cli::Command::Vm(args) => vm_cmd::run(args),
        cli::Command::Storage(args) => storage_cmd::run(args),
        cli::Command::Ad(args) => ad_cmd::run(args),
        cli::Command::Role(args) => role_cmd::run(args),
        cli::Command::Account(args) => ad_cmd::run_account(args),
        cli::Command::Dataprotection(args) => guard_cmd::run(args),
        cli::Command::Monitor(args) => monitor_cmd::run(args),
        cli::Command::Host(args) => host_cmd::run(args),
        cli::Command::Agent(args) => agent::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::cli::Cli::command().debug_assert();
    }
}
