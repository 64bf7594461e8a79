//! A read load on a running `rsvault serve`, for `bench/metadata.sh`:
//! `--readers` threads each send GETs of the given paths in turn, one
//! after the other, for `--seconds`; the answer is one JSON line with the
//! request count, the errors and the latency percentiles (all paths, and
//! each path).
//!
//!     read_load --endpoint http://127.0.0.1:7461 --token T --seconds 20 \
//!         --readers 40 --path /subscriptions/…/backupJobs --path …

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    endpoint: String,
    #[arg(long, env = "RSVAULT_TOKEN")]
    token: String,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 40)]
    readers: usize,
    /// A path (with its query) to GET; repeat for several.
    #[arg(long = "path", required = true)]
    paths: Vec<String>,
}

/// One reader's latencies, in microseconds, per path.
type Samples = Vec<Vec<u64>>;

fn reader(args: &Args, offset: usize, until: Instant) -> Result<(Samples, u64)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut samples: Samples = vec![Vec::new(); args.paths.len()];
    let mut errors = 0;
    let mut i = offset;
    while Instant::now() < until {
        let k = i % args.paths.len();
        i += 1;
        let url = format!("{}{}", args.endpoint, args.paths[k]);
        let t = Instant::now();
        let mut resp = agent
            .get(&url)
            .header("Authorization", format!("Bearer {}", args.token))
            .call()
            .with_context(|| format!("GET {url}"))?;
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_vec()?;
        let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        if resp.status() == 200 && !body.is_empty() {
            samples[k].push(us);
        } else {
            errors += 1;
        }
    }
    Ok((samples, errors))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn summary(mut all: Vec<u64>) -> serde_json::Value {
    all.sort_unstable();
    serde_json::json!({
        "requests": all.len(),
        "p50_ms": percentile(&all, 50.0),
        "p99_ms": percentile(&all, 99.0),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.readers == 0 || args.seconds == 0 {
        bail!("--readers and --seconds must be at least 1");
    }
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let results: Vec<Result<(Samples, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.readers)
            .map(|r| {
                let args = &args;
                s.spawn(move || reader(args, r, until))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("a reader panicked")))
            .collect()
    });
    let mut per_path: Samples = vec![Vec::new(); args.paths.len()];
    let mut errors = 0;
    for r in results {
        let (samples, e) = r?;
        errors += e;
        for (k, s) in samples.into_iter().enumerate() {
            per_path[k].extend(s);
        }
    }
    let all: Vec<u64> = per_path.iter().flatten().copied().collect();
    let out = serde_json::json!({
        "seconds": args.seconds,
        "readers": args.readers,
        "errors": errors,
        "all": summary(all),
        "paths": args.paths.iter().zip(per_path).map(|(p, s)| {
            let mut v = summary(s);
            v["path"] = p.clone().into();
            v
        }).collect::<Vec<_>>(),
    });
    println!("{out}");
    Ok(())
}
