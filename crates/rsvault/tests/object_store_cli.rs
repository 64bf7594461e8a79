//! `rsvault disk … --store s3://…` and `--store az://…` through the real
//! binary, configured as a user would: the standard `AWS_*` and
//! `AZURE_STORAGE_*` variables, against moto and Azurite (see
//! `rsvault_engine::backend::testing`; skipped without them, required in CI).

use rsvault_engine::backend::testing;
use std::path::Path;
use std::process::{Command, Output};

fn rsvault(store: &str, key: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rsvault"));
    c.arg("disk")
        .arg(args[0])
        .arg("--store")
        .arg(store)
        .arg("--key-file")
        .arg(key);
    c.args(&args[1..]);
    // Only what the test sets: nothing of the caller's cloud settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("AZURE_") {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().map(|(k, v)| (*k, v)));
    c.output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// init, backup twice, points, restore of the latest (bit-identical) and
/// verify, then what a wrong bucket says.
fn disk_commands_on(store: &str, env: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    let img = dir.path().join("d.raw");
    let mut data: Vec<u8> = (0..(6u32 << 20)).map(|i| (i / 4093) as u8).collect();
    std::fs::write(&img, &data).unwrap();
    ok(rsvault(store, &key, env, &["init"]));
    let img_s = img.to_str().unwrap();
    ok(rsvault(
        store,
        &key,
        env,
        &["backup", "--name", "vm", img_s],
    ));
    data[3 << 20..(3 << 20) + 5000].fill(0xA5);
    std::fs::write(&img, &data).unwrap();
    ok(rsvault(
        store,
        &key,
        env,
        &["backup", "--name", "vm", img_s],
    ));
    let points: serde_json::Value = serde_json::from_str(&ok(rsvault(
        store,
        &key,
        env,
        &["points", "--name", "vm", "--json"],
    )))
    .unwrap();
    assert_eq!(points.as_array().map(Vec::len), Some(2), "{points}");
    let out = dir.path().join("r.raw");
    ok(rsvault(
        store,
        &key,
        env,
        &["restore", "--name", "vm", "--output", out.to_str().unwrap()],
    ));
    assert!(
        std::fs::read(&out).unwrap() == data,
        "{store}: restore is bit-identical"
    );
    ok(rsvault(store, &key, env, &["verify"]));
    // A second copy (geo-redundant storage by hand): made, verified and
    // restored on its own; a second run copies nothing.
    let copy = format!("{store}-copy");
    let first = ok(rsvault(
        store,
        &key,
        env,
        &["replicate", "--to", &copy, "--init", "--json"],
    ));
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["points"].as_array().map(Vec::len), Some(2), "{first}");
    ok(rsvault(&copy, &key, env, &["verify"]));
    let out2 = dir.path().join("r2.raw");
    ok(rsvault(
        &copy,
        &key,
        env,
        &[
            "restore",
            "--name",
            "vm",
            "--output",
            out2.to_str().unwrap(),
        ],
    ));
    assert!(
        std::fs::read(&out2).unwrap() == data,
        "{copy}: restore is bit-identical"
    );
    let again = ok(rsvault(
        store,
        &key,
        env,
        &["replicate", "--to", &copy, "--json"],
    ));
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["bytes_copied"], 0, "{again}");
    let missing = store.replacen("://rsv-", "://none-", 1);
    let e = rsvault(&missing, &key, env, &["points"]);
    assert!(!e.status.success());
    let msg = String::from_utf8_lossy(&e.stderr);
    assert!(
        msg.contains(missing.split('/').nth(2).unwrap()),
        "the error names the bucket: {msg}"
    );
}

#[test]
fn disk_commands_work_on_s3() {
    let Some(endpoint) = testing::server(testing::S3_VAR) else {
        return;
    };
    let bucket = testing::fresh_name("rsv");
    testing::create_bucket(&endpoint, &bucket).unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ];
    disk_commands_on(&format!("s3://{bucket}/vaults/one"), &env);
}

#[test]
fn disk_commands_work_on_azure_blob() {
    let Some(endpoint) = testing::server(testing::AZURITE_VAR) else {
        return;
    };
    let container = testing::fresh_name("rsv");
    testing::create_container(&endpoint, &container).unwrap();
    let env = [
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_owned()),
        ("AZURE_STORAGE_ENDPOINT", endpoint),
    ];
    disk_commands_on(&format!("az://{container}/vaults/one"), &env);
}
