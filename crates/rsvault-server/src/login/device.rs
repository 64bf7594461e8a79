//! The device-code flow (`az login --use-device-code`): a client asks
//! `/{tenant}/oauth2/v2.0/devicecode` for a code, the user opens
//! `/devicelogin` in a browser, enters the code with their user name and
//! password, and the client's polling of the token endpoint (grant
//! `urn:ietf:params:oauth:grant-type:device_code`) gets the user's tokens.
//! Codes live 15 minutes, in memory (a restart asks the user again).

use super::{FailedLogins, MAX_FAILURES, audience_of, audiences, oauth_error};
use crate::AppState;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use rsvault_service::identity::directory::Authenticated;
use rsvault_service::metastore::PrincipalKind;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a device code waits for its user.
pub const CODE_LIFETIME: Duration = Duration::from_secs(900);
/// How often clients poll, in seconds.
pub const INTERVAL: u64 = 5;

#[derive(Debug)]
struct Pending {
    user_code: String,
    client_id: String,
    audience: String,
    expires: Instant,
    approved: Option<Authenticated>,
}

/// What polling a device code finds.
#[derive(Debug)]
pub enum Poll {
    Waiting,
    Expired,
    Approved {
        who: Authenticated,
        audience: String,
        client_id: String,
    },
}

/// The device codes waiting for their users.
#[derive(Debug, Default)]
pub struct DeviceCodes(Mutex<HashMap<String, Pending>>);

/// A code a person types: 8 letters in two groups, without look-alikes.
fn user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let b: [u8; 8] = rand::random();
    let s: String = b
        .iter()
        .map(|x| LETTERS[usize::from(*x) % LETTERS.len()] as char)
        .collect();
    format!("{}-{}", &s[..4], &s[4..])
}

impl DeviceCodes {
    fn start(&self, client_id: &str, audience: &str) -> (String, String) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        m.retain(|_, p| p.expires > now);
        let device = hex::encode(rand::random::<[u8; 32]>());
        let user = user_code();
        m.insert(
            device.clone(),
            Pending {
                user_code: user.clone(),
                client_id: client_id.to_owned(),
                audience: audience.to_owned(),
                expires: now + CODE_LIFETIME,
                approved: None,
            },
        );
        (device, user)
    }

    /// Approves the code a user typed; false when no code waits with it.
    fn approve(&self, code: &str, who: Authenticated) -> bool {
        let code = code.trim().to_ascii_uppercase();
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match m
            .values_mut()
            .find(|p| p.user_code == code && p.expires > now && p.approved.is_none())
        {
            Some(p) => {
                p.approved = Some(who);
                true
            }
            None => false,
        }
    }

    /// Whether a code waits, expired, or was approved (then it is used up).
    pub fn poll(&self, device_code: &str) -> Poll {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(device_code) {
            None => Poll::Expired,
            Some(p) if p.expires <= Instant::now() => {
                m.remove(device_code);
                Poll::Expired
            }
            Some(p) if p.approved.is_none() => Poll::Waiting,
            Some(_) => {
                let p = m.remove(device_code).expect("present");
                Poll::Approved {
                    who: p.approved.expect("approved"),
                    audience: p.audience,
                    client_id: p.client_id,
                }
            }
        }
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub fn start(state: &AppState, base: &str, body: &[u8], v2: bool) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must be application/x-www-form-urlencoded.",
        );
    };
    let Some(client_id) = form.get("client_id") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(audience) = audience_of(&form, v2)
        .filter(|a| audiences(base).iter().any(|x| x.eq_ignore_ascii_case(a)))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            &format!(
                "The scope must name one of this server's resources: {}.",
                audiences(base).join(", ")
            ),
        );
    };
    let (device, user) = state.device_codes.start(client_id, &audience);
    let uri = format!("{base}/devicelogin");
    let mut r = Json(json!({
        "device_code": device,
        "user_code": user,
        "verification_uri": uri,
        "expires_in": CODE_LIFETIME.as_secs(),
        "interval": INTERVAL,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user} to authenticate."),
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The page's words, in Japanese or English.
struct Words {
    lang: &'static str,
    title: &'static str,
    intro: &'static str,
    code: &'static str,
    user: &'static str,
    password: &'static str,
    submit: &'static str,
    done: &'static str,
    wrong: &'static str,
    no_code: &'static str,
    too_many: &'static str,
}

const EN: Words = Words {
    lang: "en",
    title: "Sign in on another device",
    intro: "Enter the code your device shows, and sign in with your rsvault user name and password.",
    code: "Code",
    user: "User name",
    password: "Password",
    submit: "Sign in",
    done: "You have signed in on your device. You can close this window.",
    wrong: "The user name or the password is wrong.",
    no_code: "That code is not waiting for a sign-in (it may have expired). Ask your device for a new one.",
    too_many: "Too many failed sign-ins from this address. Wait a minute and try again.",
};

const JA: Words = Words {
    lang: "ja",
    title: "別のデバイスでサインイン",
    intro: "デバイスに表示されたコードを入力し、rsvault のユーザー名とパスワードでサインインしてください。",
    code: "コード",
    user: "ユーザー名",
    password: "パスワード",
    submit: "サインイン",
    done: "デバイスでサインインしました。このウィンドウは閉じてかまいません。",
    wrong: "ユーザー名またはパスワードが正しくありません。",
    no_code: "このコードはサインインを待っていません (有効期限が切れた可能性があります)。デバイスで新しいコードを取得してください。",
    too_many: "このアドレスからのサインインの失敗が多すぎます。1 分待ってからもう一度お試しください。",
};

fn words(headers: &axum::http::HeaderMap) -> &'static Words {
    let ja = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|l| l.trim().to_ascii_lowercase().starts_with("ja"));
    if ja { &JA } else { &EN }
}

fn page(w: &Words, status: StatusCode, message: Option<&str>, done: bool, code: &str) -> Response {
    let note = message
        .map(|m| format!("<p class=\"error-box\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = if done {
        format!("<p role=\"status\">{}</p>", escape(w.done))
    } else {
        format!(
            "<p>{intro}</p>{note}<form method=\"post\" action=\"/devicelogin\" class=\"signin-form\">\
             <label>{c}<input name=\"code\" value=\"{code}\" required autocomplete=\"one-time-code\" class=\"wide\"></label>\
             <label>{u}<input name=\"username\" required autocomplete=\"username\" class=\"wide\"></label>\
             <label>{p}<input name=\"password\" type=\"password\" required autocomplete=\"current-password\" class=\"wide\"></label>\
             <div class=\"form-actions\"><button type=\"submit\" class=\"primary\">{s}</button></div></form>",
            intro = escape(w.intro),
            c = escape(w.code),
            u = escape(w.user),
            p = escape(w.password),
            s = escape(w.submit),
            code = escape(code)
        )
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} - rsvault</title><link rel=\"stylesheet\" href=\"/portal/style.css\"></head>\
         <body><main class=\"page signin\"><div class=\"card signin-card\"><h1>{t}</h1>{body}</div></main></body></html>",
        lang = w.lang,
        t = escape(w.title)
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::portal::CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /devicelogin`: the form.
pub fn form(headers: &axum::http::HeaderMap) -> Response {
    page(words(headers), StatusCode::OK, None, false, "")
}

/// `POST /devicelogin`: checks the user and approves the code.
pub async fn submit(
    state: &Arc<AppState>,
    headers: &axum::http::HeaderMap,
    peer: Option<IpAddr>,
    body: &[u8],
    failed: &FailedLogins,
) -> Response {
    let w = words(headers);
    let ip = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let code = field("code");
    if failed.recent(ip) >= MAX_FAILURES {
        return page(
            w,
            StatusCode::TOO_MANY_REQUESTS,
            Some(w.too_many),
            false,
            &code,
        );
    }
    let (user, password) = (field("username"), field("password"));
    let found = crate::handlers::reply::blocking(state, move |s| {
        s.authenticate(&user, &password, PrincipalKind::User)
    })
    .await;
    let who = match found {
        Ok(Some(a)) => a,
        Ok(None) => {
            failed.record(ip);
            return page(w, StatusCode::UNAUTHORIZED, Some(w.wrong), false, &code);
        }
        Err(e) => {
            return page(
                w,
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&e.message),
                false,
                &code,
            );
        }
    };
    if state.device_codes.approve(&code, who) {
        page(w, StatusCode::OK, None, true, "")
    } else {
        page(w, StatusCode::BAD_REQUEST, Some(w.no_code), false, &code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsvault_service::metastore::PrincipalRecord;

    fn who() -> Authenticated {
        Authenticated {
            principal: PrincipalRecord {
                object_id: "o".into(),
                kind: PrincipalKind::User,
                app_id: None,
                user_name: Some("u@x".into()),
                display_name: "u".into(),
                created: "2026-01-01T00:00:00Z".into(),
            },
            credential: "k".into(),
        }
    }

    #[test]
    fn a_code_waits_is_approved_once_and_is_used_once() {
        let codes = DeviceCodes::default();
        let (device, user) = codes.start("client", "https://management.azure.com/");
        assert!(user.len() == 9 && user.as_bytes()[4] == b'-', "{user}");
        assert!(matches!(codes.poll(&device), Poll::Waiting));
        assert!(!codes.approve("XXXX-XXXX", who()), "another code");
        assert!(codes.approve(&user.to_ascii_lowercase(), who()), "any case");
        assert!(!codes.approve(&user, who()), "approved once");
        match codes.poll(&device) {
            Poll::Approved {
                audience,
                client_id,
                ..
            } => {
                assert_eq!(
                    (audience.as_str(), client_id.as_str()),
                    ("https://management.azure.com/", "client")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(codes.poll(&device), Poll::Expired), "used up");
        assert!(matches!(codes.poll("unknown"), Poll::Expired));
    }

    #[test]
    fn pages_escape_what_they_echo() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
