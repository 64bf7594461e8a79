//! The router in-process, on a fresh data directory and a simulated clock,
//! and helpers to send it requests and read the answers.

#![allow(dead_code)]

pub mod requests;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use rsvault_engine::clock::ManualClock;
use rsvault_server::{AppState, SchedulerSettings};
use rsvault_service::Service;
use rsvault_service::identity::tokens::{self, Subject, TokenIssuer};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// A router over its own data directory.
pub struct App {
    pub router: Router,
    pub token: String,
    _dir: tempfile::TempDir,
}

/// An answer: status, content type and body.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The envelope's error code, if the answer is the envelope.
    pub fn error_code(&self) -> Option<String> {
        let v = self.json();
        let e = &v["error"];
        (self.content_type.starts_with("application/json") && e["message"].is_string())
            .then(|| e["code"].as_str().map(str::to_owned))
            .flatten()
    }
}

impl App {
    /// The data directory.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn new() -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let start = "2025-06-01T12:00:00Z".parse().expect("time");
        let clock = Arc::new(ManualClock::new(rsvault_engine::clock::system_time(start)));
        let service = Service::open_with_clock(dir.path(), clock.clone()).expect("service");
        let listen_url = "http://127.0.0.1:7431";
        let issuer =
            Arc::new(TokenIssuer::open(&dir.path().join("identity"), listen_url).expect("issuer"));
        service
            .ensure_host_owner(issuer.tenant())
            .expect("the host Owner");
        let owner = service
            .principals()
            .expect("principals")
            .into_iter()
            .next()
            .expect("the host Owner");
        let subject = Subject {
            object_id: owner.object_id.clone(),
            app_id: owner.app_id.clone(),
            user_name: None,
            display_name: owner.display_name.clone(),
            credential: service
                .credential_ids(&owner.object_id)
                .expect("credentials")
                .into_iter()
                .next(),
        };
        let token = issuer
            .issue(
                &subject,
                "https://management.azure.com/",
                3600,
                tokens::now(),
            )
            .expect("a token");
        let state = Arc::new(AppState {
            service: Arc::new(service),
            issuer,
            failed_logins: Default::default(),
            device_codes: Default::default(),
            clock: Some(clock),
            scheduler: SchedulerSettings::default(),
            page_size: 2,
            urls: rsvault_server::urls::PublicUrls {
                listen_url: listen_url.into(),
                ..Default::default()
            },
            certificate_sha256: None,
        });
        App {
            router: rsvault_server::app(state),
            token,
            _dir: dir,
        }
    }

    /// Sends a request with the admin token.
    pub async fn send(&self, method: Method, uri: &str, body: impl Into<Body>) -> Answer {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .expect("request");
        self.send_request(req).await
    }

    /// Sends a request as given.
    pub async fn send_request(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// A vault, a VM on a small raw image, and the VM protected by DefaultPolicy.
    pub async fn populate(&self) {
        let (s, g, v) = (requests::SUB, requests::RG, requests::VAULT);
        let vault = format!(
            "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}"
        );
        let a = self
            .send(Method::PUT, &vault, r#"{"location":"westeurope"}"#)
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
        let img = self.dir().join("images").join("vm1.raw");
        std::fs::write(&img, vec![0x5a; 1 << 20]).expect("image");
        let vm = format!(
            "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{}",
            requests::VM
        );
        let body = serde_json::json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {
            "osType": "Linux", "vhd": {"uri": format!("file://{}", img.display())}}}}});
        let a = self.send(Method::PUT, &vm, body.to_string()).await;
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
        let a = self.send(Method::PUT, &item, body.to_string()).await;
        assert_eq!(
            a.status,
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(&a.body)
        );
    }
}

/// What is wrong with an answer, if anything.
pub fn fault(method: &str, a: &Answer) -> Option<String> {
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
