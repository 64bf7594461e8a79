//! HTTPS: the server's certificate (given with `--tls-cert/--tls-key`, or
//! made on first start under `<data-dir>/tls/`) and a listener that runs
//! TLS handshakes beside the accept loop, so a slow client never holds up
//! the next one.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// How the server speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with the certificate in `<data-dir>/tls/`, made on first start.
    Generated,
    /// HTTPS with this certificate chain and key (PEM files).
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP (`--insecure-http`): tests and demos on loopback only.
    InsecureHttp,
}

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("make the server's certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not go together: {0}")]
    Config(String),
}

/// The server's certificate, ready to serve.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The certificate file (what a client trusts: `REQUESTS_CA_BUNDLE`).
    pub cert_path: PathBuf,
    /// SHA-256 of the leaf certificate, as `AB:CD:…`.
    pub fingerprint: String,
    /// Whether this start made it.
    pub generated: bool,
    pub config: Arc<rustls::ServerConfig>,
}

/// Where the generated certificate lives.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("server.crt"), dir.join("server.key"))
}

/// The certificate for `transport` (`None` for plain HTTP).
pub fn load(
    transport: &Transport,
    data_dir: &Path,
    listen: SocketAddr,
) -> Result<Option<ServerCert>, TlsError> {
    let (cert, key, generated) = match transport {
        Transport::InsecureHttp => return Ok(None),
        Transport::Files { cert, key } => (cert.clone(), key.clone(), false),
        Transport::Generated => {
            let (cert, key) = generated_paths(data_dir);
            let generated = !(cert.exists() && key.exists());
            if generated {
                generate(&cert, &key, listen)?;
            }
            (cert, key, generated)
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| TlsError::Pem {
            path: cert.clone(),
            reason: e.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Pem {
            path: cert,
            reason: "holds no certificate".into(),
        });
    };
    let fingerprint = fingerprint(leaf);
    let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| TlsError::Pem {
        path: key.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(ServerCert {
        cert_path: cert,
        fingerprint,
        generated,
        config: Arc::new(config),
    }))
}

/// SHA-256 of a DER certificate as colon-separated hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = sha2::Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// The names a generated certificate holds: the listen address (unless it
/// is unspecified), the loopback addresses, `localhost` and the host name.
fn subject_names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    if let Ok(h) = rustix::system::uname().nodename().to_str()
        && !h.is_empty()
        && h.parse::<IpAddr>().is_err()
        && !names.iter().any(|n| n == h)
    {
        names.push(h.to_owned());
    }
    names
}

/// Makes a self-signed ECDSA P-256 certificate and its key, the key first
/// (0600), each written whole before it is renamed into place.
fn generate(cert: &Path, key: &Path, listen: SocketAddr) -> Result<(), TlsError> {
    let names = subject_names(listen);
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "rsvault server");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 12, 31);
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let certificate = params
        .self_signed(&pair)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let dir = cert.parent().unwrap_or(Path::new("."));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    .map_err(|cause| TlsError::Io {
        context: format!("create {}", dir.display()),
        cause,
    })?;
    write_whole(key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_whole(cert, certificate.pem().as_bytes(), 0o644)
}

fn write_whole(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let io = |context: String| move |cause| TlsError::Io { context, cause };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(format!("create {}", tmp.display())))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("rename to {}", path.display())))
}

/// Handshakes that may run at once; more wait for a free one.
const HANDSHAKES: usize = 256;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a plain-HTTP request to the HTTPS port gets before it is closed.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
Connection: close\r\nContent-Length: 53\r\n\r\nThis rsvault server speaks HTTPS: use an https:// URL\n";

/// A listener of TLS connections.
#[derive(Debug)]
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and hands out connections whose handshake is done.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Some(tls) = handshake(&acceptor, stream, peer).await
                        && tx.send((tls, peer)).await.is_err()
                    {
                        tracing::debug!("the server stopped before {peer} was served");
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

/// The handshake of one connection; a plain-HTTP request is answered 400.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await;
    match peeked {
        Ok(Ok(1..)) if first[0] != 0x16 => {
            tracing::info!("{peer} sent plain HTTP to the HTTPS port; refused");
            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
            let _ = stream.shutdown().await;
            return None;
        }
        Ok(Ok(1..)) => {}
        _ => return None,
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::info!("TLS handshake with {peer} failed: {e}");
            None
        }
        Err(_) => {
            tracing::info!("TLS handshake with {peer} timed out");
            None
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop never ends while the runtime runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_made_once_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "0.0.0.0:7431".parse().unwrap();
        let first = load(&Transport::Generated, d.path(), listen)
            .unwrap()
            .unwrap();
        assert!(first.generated);
        assert_eq!(first.cert_path, d.path().join("tls/server.crt"));
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&d.path().join("tls/server.key")), 0o600);
        assert_eq!(mode(&d.path().join("tls")), 0o700);
        let again = load(&Transport::Generated, d.path(), listen)
            .unwrap()
            .unwrap();
        assert!(!again.generated);
        assert_eq!(again.fingerprint, first.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn a_lost_key_makes_a_new_pair_and_bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:7431".parse().unwrap();
        let first = load(&Transport::Generated, d.path(), listen)
            .unwrap()
            .unwrap();
        std::fs::remove_file(d.path().join("tls/server.key")).unwrap();
        let second = load(&Transport::Generated, d.path(), listen)
            .unwrap()
            .unwrap();
        assert!(second.generated);
        assert_ne!(second.fingerprint, first.fingerprint);
        let bad = d.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let files = Transport::Files {
            cert: bad.clone(),
            key: d.path().join("tls/server.key"),
        };
        let e = load(&files, d.path(), listen).unwrap_err();
        assert!(e.to_string().contains("bad.pem"), "{e}");
        assert!(
            load(&Transport::InsecureHttp, d.path(), listen)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn names_cover_loopback_and_a_specific_listen_address() {
        let n = subject_names("10.1.2.3:7431".parse().unwrap());
        for want in ["localhost", "127.0.0.1", "::1", "10.1.2.3"] {
            assert!(n.iter().any(|x| x == want), "{n:?}");
        }
        let n = subject_names("0.0.0.0:7431".parse().unwrap());
        assert!(!n.iter().any(|x| x == "0.0.0.0"), "{n:?}");
    }
}
