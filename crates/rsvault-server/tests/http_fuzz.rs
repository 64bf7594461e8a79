//! A seeded, bounded fuzz of the HTTP layer: thousands of generated
//! requests over every route family (see `common/requests.rs`) against the
//! router in-process, with a vault, a policy, a VM and a protected item in
//! place. No request may panic, none may get a 5xx, and every error answer
//! is ARM's envelope. `RSVAULT_HTTP_FUZZ_SEED` and `_ITERS` change the run.

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::requests::{self, Entropy, XorShift};
use common::{App, fault};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_panic_and_errors_keep_the_envelope() {
    let app = App::new();
    app.populate().await;
    let seed = env_u64("RSVAULT_HTTP_FUZZ_SEED", 0x5eed_f022);
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
