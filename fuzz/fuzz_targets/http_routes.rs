#![no_main]
//! The HTTP layer: each input drives the request generator of the seeded
//! test (`crates/rsvault-server/tests/common/requests.rs`) as its entropy,
//! against one router with a vault, a VM and a protected item in place.
//! A panic, a 5xx or an error answer outside ARM's envelope is a crash.

use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "../../crates/rsvault-server/tests/common/mod.rs"]
mod common;

use common::requests::{self, Entropy, FromBytes};

fn harness() -> &'static (tokio::runtime::Runtime, common::App) {
    static H: OnceLock<(tokio::runtime::Runtime, common::App)> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let app = rt.block_on(async {
            let app = common::App::new();
            app.populate().await;
            app
        });
        (rt, app)
    })
}

fuzz_target!(|data: &[u8]| {
    let (rt, app) = harness();
    let mut e = FromBytes(data);
    let g = requests::request(&mut e);
    let mut b = Request::builder().method(g.method).uri(&g.uri);
    if !e.chance(5) {
        b = b.header(header::AUTHORIZATION, format!("Bearer {}", app.token));
    }
    if !e.chance(20) {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    let Ok(req) = b.body(Body::from(g.body)) else {
        return;
    };
    let a = rt.block_on(app.send_request(req));
    if let Some(f) = common::fault(g.method, &a) {
        panic!("{} {}: {f}", g.method, g.uri);
    }
});
