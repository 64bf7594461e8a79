//! A seeded, bounded fuzz of the HTTP layer: thousands of generated
//! requests over every route family (see `common/requests.rs`) against the
//! router in-process, with a vault, a policy, a VM and a protected item in
//! place. No request may panic, none may get a 5xx, and every error answer
//! is ARM's envelope. `RSVAULT_HTTP_FUZZ_SEED` and `_ITERS` change the run.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::requests::{self, Entropy, XorShift};
use common::{Answer, App};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A vault, a VM on a small raw image, and the VM protected by DefaultPolicy.
async fn populate(app: &App) {
    let (s, g, v) = (requests::SUB, requests::RG, requests::VAULT);
    let vault = format!(
        "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}"
    );
    let a = app
        .send(Method::PUT, &vault, r#"{"location":"westeurope"}"#)
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let img = app.dir().join("vm1.raw");
    std::fs::write(&img, vec![0x5a; 1 << 20]).expect("image");
    let vm = format!(
        "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{}",
        requests::VM
    );
    let body = serde_json::json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {
        "osType": "Linux", "vhd": {"uri": format!("file://{}", img.display())}}}}});
    let a = app.send(Method::PUT, &vm, body.to_string()).await;
    assert!(
        a.status.is_success(),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let item = format!(
        "{vault}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
        requests::CONTAINER.replace(';', "%3B"),
        requests::ITEM.replace(';', "%3B")
    );
    let body = serde_json::json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
        "policyId": format!("{vault}/backupPolicies/DefaultPolicy")}});
    let a = app.send(Method::PUT, &item, body.to_string()).await;
    assert_eq!(
        a.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
}

/// What is wrong with an answer, if anything.
fn fault(method: &str, a: &Answer) -> Option<String> {
    if a.status.is_server_error() {
        return Some(format!("status {}", a.status));
    }
    if a.status.is_success() || a.status.is_redirection() || a.status.is_informational() {
        return None;
    }
    if !a.content_type.starts_with("application/json") {
        return Some(format!(
            "status {} with content type '{}'",
            a.status, a.content_type
        ));
    }
    if method != "HEAD" && a.error_code().is_none() {
        let body = String::from_utf8_lossy(&a.body);
        return Some(format!(
            "status {} outside the envelope: {body:.200}",
            a.status
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_panic_and_errors_keep_the_envelope() {
    let app = App::new();
    populate(&app).await;
    let seed = env_u64("RSVAULT_HTTP_FUZZ_SEED", 0x5eed_0f_a22);
    let iters = env_u64("RSVAULT_HTTP_FUZZ_ITERS", 5000);
    let mut e = XorShift(seed);
    let mut faults = Vec::new();
    let mut seen = std::collections::BTreeMap::<(u16, String), usize>::new();
    for n in 0..iters {
        let g = requests::request(&mut e);
        let mut b = Request::builder().method(g.method).uri(&g.uri);
        if e.chance(95) {
            b = b.header(header::AUTHORIZATION, format!("Bearer {}", app.token));
        }
        if e.chance(80) {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        let req = b.body(Body::from(g.body.clone())).expect("a valid request");
        let a = app.send_request(req).await;
        let code = a.error_code().unwrap_or_default();
        *seen.entry((a.status.as_u16(), code)).or_default() += 1;
        if let Some(f) = fault(g.method, &a) {
            let body = String::from_utf8_lossy(&g.body);
            faults.push(format!(
                "#{n} {} {:.300} body {body:.200}: {f}",
                g.method, g.uri
            ));
        }
    }
    for ((status, code), n) in &seen {
        println!("{status} {code}: {n}");
    }
    assert!(
        faults.is_empty(),
        "{} fault(s):\n{}",
        faults.len(),
        faults.join("\n")
    );
}
