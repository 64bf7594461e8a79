//! `rsvault disk …`: the local engine commands.

use crate::cli::{DiskCommand, Format, StoreArgs};
use crate::human::bytes;
use crate::progress::Bar;
use anyhow::{Context, Result};
use rsvault_engine::backend::{OpenMode, open_url};
use rsvault_engine::codec::Encryption;
use rsvault_engine::ranges::RangeSet;
use rsvault_engine::{
    BackupOptions, GcOptions, InitOptions, MasterKey, RestoreFormat, RestoreOptions, Store,
};
use std::process::ExitCode;

fn open(args: &StoreArgs) -> Result<Store> {
    let key = MasterKey::load(&args.key_file)?;
    let s = Store::open(open_url(&args.store, OpenMode::Existing)?, &key)?;
    Ok(match index_cache_dir(&args.store) {
        Some(dir) => s.with_index_cache(&dir),
        None => s,
    })
}

/// Where copies of an object-storage store's index files are kept:
/// `RSVAULT_CACHE_DIR`, else `$XDG_CACHE_HOME/rsvault/index`, else
/// `~/.cache/rsvault/index`. None for local stores.
fn index_cache_dir(store: &str) -> Option<std::path::PathBuf> {
    if !(store.starts_with("s3://") || store.starts_with("az://")) {
        return None;
    }
    if let Some(d) = std::env::var_os("RSVAULT_CACHE_DIR") {
        return Some(d.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))?;
    Some(base.join("rsvault").join("index"))
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serializable"));
}

/// Runs one disk command.
pub fn run(cmd: DiskCommand) -> Result<ExitCode> {
    match cmd {
        DiskCommand::Init {
            store,
            no_encryption,
            chunk_size_kib,
            compression_level,
        } => {
            if store.key_file.exists() {
                anyhow::bail!(
                    "key file {} already exists; choose a new path (a key belongs to one store)",
                    store.key_file.display()
                );
            }
            let backend = open_url(&store.store, OpenMode::Create)?;
            let mut key = MasterKey::generate();
            let opts = InitOptions {
                chunk_size: chunk_size_kib
                    .checked_mul(1024)
                    .context("chunk size too large")?,
                encryption: if no_encryption {
                    Encryption::None
                } else {
                    Encryption::Aes256Gcm
                },
                zstd_level: compression_level,
            };
            let s = Store::init(backend, &mut key, &opts)?;
            key.save_new(&store.key_file).with_context(|| {
                format!("the store was created but its key could not be saved; delete {} and run init again", store.store)
            })?;
            println!(
                "created store {} at {} ({} encryption); keep {} safe and outside the store",
                s.config().store_id,
                store.store,
                if no_encryption { "no" } else { "AES-256-GCM" },
                store.key_file.display()
            );
        }
        DiskCommand::Backup {
            store,
            name,
            changed_ranges,
            threads,
            json,
            image,
        } => {
            let s = open(&store)?;
            let source = rsvault_engine::source::open_image(&image)?;
            let changed_ranges = match changed_ranges {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("read changed ranges {}", p.display()))?;
                    Some(RangeSet::parse(&text)?)
                }
                None => None,
            };
            let opts = BackupOptions {
                name,
                changed_ranges,
                threads,
                ..Default::default()
            };
            let m = rsvault_engine::backup(&s, source.as_ref(), &opts, &Bar::new(json))?;
            if json {
                print_json(&m);
            } else {
                println!("recovery point {}", m.id);
                println!(
                    "disk {:?} ({}, {}): read {}, new {}, stored {} in {:.2} s{}",
                    m.name,
                    m.source_format,
                    bytes(m.size),
                    bytes(m.stats.bytes_read),
                    bytes(m.stats.bytes_new),
                    bytes(m.stats.bytes_stored),
                    m.stats.duration_ms as f64 / 1000.0,
                    if m.used_changed_ranges {
                        " (changed ranges only)"
                    } else {
                        ""
                    }
                );
            }
        }
        DiskCommand::Points { store, name, json } => {
            let s = open(&store)?;
            let points: Vec<_> = match &name {
                Some(n) => s.points_of(n)?,
                None => s.list_points()?,
            };
            if json {
                print_json(&points);
            } else if points.is_empty() {
                println!("no recovery points");
            } else {
                println!(
                    "{:<32}  {:<20}  {:<25}  {:>10}  {:>10}",
                    "ID", "DISK", "TIME", "SIZE", "ADDED"
                );
                for p in &points {
                    println!(
                        "{:<32}  {:<20}  {:<25}  {:>10}  {:>10}",
                        p.id,
                        p.name,
                        p.time,
                        bytes(p.size),
                        bytes(p.stats.bytes_stored)
                    );
                }
            }
        }
        DiskCommand::Restore {
            store,
            name,
            point,
            format,
            output,
            threads,
            no_sync,
            json,
        } => {
            let s = open(&store)?;
            let m = s.resolve_point(&name, &point)?;
            let opts = RestoreOptions {
                format: match format {
                    Format::Raw => RestoreFormat::Raw,
                    Format::Qcow2 => RestoreFormat::Qcow2,
                },
                threads,
                sync: !no_sync,
                cancel: None,
            };
            let st = rsvault_engine::restore(&s, &m, &output, &opts, &Bar::new(json))
                .with_context(|| {
                    format!(
                        "restore of recovery point {} failed; nothing was written to {}",
                        m.id,
                        output.display()
                    )
                })?;
            if json {
                print_json(&st);
            } else {
                println!(
                    "restored {} ({}) to {}: {} of data, verified, in {:.2} s",
                    m.id,
                    bytes(m.size),
                    output.display(),
                    bytes(st.bytes_written),
                    st.duration_ms as f64 / 1000.0
                );
            }
        }
        DiskCommand::Forget {
            store,
            name,
            point,
            json,
        } => {
            let s = open(&store)?;
            let m = s.forget(&name, &point)?;
            if json {
                print_json(&serde_json::json!({"forgotten": m.id, "name": m.name}));
            } else {
                println!(
                    "forgot recovery point {} of {:?}; run `rsvault disk gc` to reclaim its space",
                    m.id, m.name
                );
            }
        }
        DiskCommand::Replicate {
            store,
            to,
            init,
            json,
        } => {
            let primary = open(&store)?;
            let secondary = if init {
                Store::init_replica(open_url(&to, OpenMode::Create)?, &primary)?
            } else {
                let key = MasterKey::load(&store.key_file)?;
                Store::open(open_url(&to, OpenMode::Existing)?, &key)?
            };
            let st = rsvault_engine::replicate_all(
                &primary,
                &secondary,
                &Default::default(),
                &Bar::new(json),
            )?;
            if json {
                print_json(&st);
            } else {
                println!(
                    "replicate: {} points, {} blobs copied ({}), {} already there, {} packs written, {} requests to the primary, {} to the secondary, in {:.2} s",
                    st.points.len(),
                    st.blobs_copied(),
                    bytes(st.bytes_copied),
                    st.blobs_skipped,
                    st.packs_written,
                    st.primary_requests.total(),
                    st.secondary_requests.total(),
                    st.duration_ms as f64 / 1000.0
                );
            }
        }
        DiskCommand::Gc { store, json } => {
            let s = open(&store)?;
            let st = rsvault_engine::gc(&s, &GcOptions::default(), &Bar::new(json))?;
            if json {
                print_json(&st);
            } else {
                println!(
                    "gc: {} points, {} packs → {}, {} → {} ({} deleted, {} repacked, {} revived, {} waiting for running backups)",
                    st.points,
                    st.packs_before,
                    st.packs_after,
                    bytes(st.bytes_before),
                    bytes(st.bytes_after),
                    st.packs_deleted,
                    st.packs_repacked,
                    st.packs_revived,
                    st.packs_pending
                );
            }
        }
        DiskCommand::Verify { store, json } => {
            let s = open(&store)?;
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
            let rep = rsvault_engine::verify(&s, threads, &Bar::new(json))?;
            if json {
                print_json(&rep);
            } else {
                println!(
                    "checked {} points, {} packs, {} blobs ({} of data)",
                    rep.points,
                    rep.packs,
                    rep.blobs,
                    bytes(rep.bytes)
                );
                for o in &rep.damaged_objects {
                    println!("DAMAGED object {o}");
                }
                for p in &rep.missing_points {
                    println!("MISSING {p}");
                }
                for p in &rep.damaged_points {
                    println!(
                        "DAMAGED recovery point {} of {:?} at {}: {}",
                        p.id, p.name, p.time, p.reason
                    );
                }
                if rep.is_clean() {
                    println!("no damage found");
                }
            }
            if !rep.is_clean() {
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
