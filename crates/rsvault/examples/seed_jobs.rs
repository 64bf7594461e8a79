//! Adds `--count` completed jobs (half Backup, half Restore) to a vault
//! straight through the metadata store, for `bench/metadata.sh`'s listing
//! of 10,000 jobs. Run it while no server holds the database.
//!
//!     seed_jobs --data-dir D [--database postgres://…] --resource-group bench \
//!         --vault bench-vault --count 10000

use anyhow::{Context, Result};
use clap::Parser;
use rsvault_service::metastore::records::{NewJob, NewOperation};
use rsvault_service::{DatabaseUrl, VaultRef};
use std::path::PathBuf;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    database: Option<String>,
    #[arg(long, default_value = "00000000-0000-0000-0000-000000000000")]
    subscription: String,
    #[arg(long)]
    resource_group: String,
    #[arg(long)]
    vault: String,
    #[arg(long, default_value_t = 10_000)]
    count: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let database: Option<DatabaseUrl> = args.database.as_deref().map(str::parse).transpose()?;
    let store = rsvault_service::metastore::open(database.as_ref(), &args.data_dir)?;
    let vref = VaultRef {
        subscription: args.subscription,
        resource_group: args.resource_group,
        name: args.vault,
    };
    let vault = store.find_vault(&vref)?.context("no such vault")?.id;
    let t0 = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
        .context("clock")?;
    for i in 0..args.count {
        let id = uuid_like(i);
        let start = t0.checked_add(jiff::SignedDuration::from_secs(i64::try_from(i)? * 60))?;
        let end = start.checked_add(jiff::SignedDuration::from_secs(42))?;
        let operation = if i % 2 == 0 { "Backup" } else { "Restore" };
        store.insert_job(
            &NewJob {
                vault,
                job_id: id.clone(),
                operation: operation.into(),
                status: "Completed".into(),
                entity: "vm1".into(),
                container: "iaasvmcontainerv2;bench;vm1".into(),
                start,
                end: Some(end),
                user_triggered: false,
                tasks: r#"[{"taskId":"Take Snapshot","status":"Completed"},{"taskId":"Transfer data to vault","status":"Completed"}]"#.into(),
                progress: 100.0,
                bag: "{}".into(),
                errors: "[]".into(),
            },
            &NewOperation {
                vault,
                op_id: format!("seed-{id}"),
                status: "Succeeded".into(),
                start_time: start.to_string(),
                end_time: Some(end.to_string()),
                job_id: Some(id),
            },
        )?;
    }
    println!("{} jobs added", args.count);
    Ok(())
}

/// A job id shaped like the server's (a UUID), unique per index.
fn uuid_like(i: usize) -> String {
    format!("5eed0000-0000-4000-8000-{i:012x}")
}
