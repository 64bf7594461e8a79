//! The object-storage backends: the conformance suite on object_store's
//! in-memory store, on moto's S3 server and on Azurite (see
//! `rsvault_engine::backend::testing` for the variables that name them);
//! a store backed up and restored on each server; a server that ignores
//! conditional puts; a server that is down.

mod common;

use common::*;
use futures_util::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use rsvault_engine::backend::{
    Backend, ObjectBackend, OpenMode, PutMode, StorageOptions, conformance, open_url_with, testing,
};
use rsvault_engine::source::raw::RawImage;
use rsvault_engine::{
    BackupOptions, Error, MasterKey, NoProgress, RestoreOptions, Store, backup, restore, verify,
};
use std::sync::Arc;

fn in_memory(root: &str, service: &str, opts: &StorageOptions) -> ObjectBackend {
    ObjectBackend::new(
        Arc::new(InMemory::new()),
        root,
        format!("mem://{service}/{root}"),
        service.into(),
        opts,
    )
    .unwrap()
}

#[test]
fn the_object_backend_conforms_on_object_stores_in_memory() {
    conformance(&in_memory("", "conf-root", &Default::default()));
    conformance(&in_memory(
        "some/prefix",
        "conf-prefix",
        &Default::default(),
    ));
}

#[test]
fn keys_stay_under_the_prefix_and_destroy_removes_only_them() {
    let store = Arc::new(InMemory::new());
    let o = StorageOptions::default();
    let a = ObjectBackend::new(store.clone(), "a", "mem://a".into(), "shared".into(), &o).unwrap();
    let ab =
        ObjectBackend::new(store.clone(), "ab", "mem://ab".into(), "shared".into(), &o).unwrap();
    a.put("k/1", b"x", PutMode::Create).unwrap();
    ab.put("k/2", b"y", PutMode::Create).unwrap();
    let keys = |b: &ObjectBackend| -> Vec<String> {
        b.list("").unwrap().into_iter().map(|m| m.key).collect()
    };
    assert_eq!(
        keys(&a),
        ["k/1"],
        "the probe's scratch object is not listed"
    );
    assert_eq!(keys(&ab), ["k/2"], "a sibling prefix is another store");
    a.destroy().unwrap();
    assert!(keys(&a).is_empty());
    assert_eq!(ab.get("k/2").unwrap(), b"y", "destroy keeps other prefixes");
    for bad in ["", "/k", "a//b", "a/../b", "./a"] {
        assert!(
            matches!(
                a.put(bad, b"", PutMode::Create),
                Err(Error::InvalidInput(_))
            ),
            "{bad:?}"
        );
    }
}

/// An object store that takes every put as an overwrite, as a server that
/// ignores `If-None-Match: *` does.
#[derive(Debug)]
struct IgnoresConditions(InMemory);

impl std::fmt::Display for IgnoresConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IgnoresConditions")
    }
}

#[async_trait::async_trait]
impl ObjectStore for IgnoresConditions {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.0
            .put_opts(location, payload, PutOptions::default())
            .await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.0.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.0.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

#[test]
fn a_server_that_ignores_conditional_puts_is_refused_for_writing() {
    let lax = |single_writer: bool, service: &str| {
        ObjectBackend::new(
            Arc::new(IgnoresConditions(InMemory::new())),
            "s",
            format!("lax://{service}"),
            service.into(),
            &StorageOptions {
                single_writer,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let b = lax(false, "lax-refused");
    assert!(!b.conditional_puts().unwrap(), "the probe notices");
    match b.put("points/p", b"x", PutMode::Create) {
        Err(e @ Error::NoConditionalPuts(_)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("lax://lax-refused") && msg.contains("RSVAULT_STORAGE_SINGLE_WRITER"),
                "{msg}"
            );
        }
        other => panic!("a Create on such a server must be refused, got {other:?}"),
    }
    assert!(b.list("").unwrap().is_empty(), "nothing was written");
    // A store cannot be made there, nor written to.
    let mut key = MasterKey::generate();
    assert!(matches!(
        Store::init(Arc::new(b), &mut key, &Default::default()),
        Err(Error::NoConditionalPuts(_))
    ));
    // One writer, by the options' word: Create checks first.
    let one = lax(true, "lax-single");
    one.put("k", b"1", PutMode::Create).unwrap();
    assert!(matches!(
        one.put("k", b"2", PutMode::Create),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(one.get("k").unwrap(), b"1");
}

/// The conformance suite on a fresh bucket or container, then what opening
/// says about it once it is destroyed.
fn conforms_on(fresh: Option<(String, StorageOptions)>) {
    let Some((url, o)) = fresh else { return };
    let b = open_url_with(&url, OpenMode::Create, &o).unwrap();
    assert!(
        b.conditional_puts().unwrap(),
        "{url}: the server honours If-None-Match: *"
    );
    conformance(b.as_ref());
    assert!(matches!(
        open_url_with(&url, OpenMode::Existing, &o),
        Err(Error::NotAStore(_))
    ));
    let missing = url.replacen("://rsv-", "://none-", 1);
    match open_url_with(&missing, OpenMode::Create, &o) {
        Err(Error::Storage { location, reason }) => {
            assert!(missing.starts_with(&location), "{location}");
            assert!(reason.contains("does not exist"), "{reason}");
        }
        other => panic!("a missing bucket: {other:?}"),
    }
}

#[test]
fn the_s3_backend_conforms_on_moto() {
    conforms_on(testing::fresh_s3());
}

#[test]
fn the_s3_backend_conforms_on_moto_with_object_lock() {
    let Some((url, o)) = testing::fresh_locked_s3() else {
        return;
    };
    let b = open_url_with(&url, OpenMode::Create, &o).unwrap();
    assert!(b.object_lock().unwrap().enabled().unwrap());
    conformance(b.as_ref());
}

#[test]
fn object_lock_is_off_in_an_ordinary_bucket_and_absent_on_azure() {
    if let Some((url, o)) = testing::fresh_s3() {
        let b = open_url_with(&url, OpenMode::Create, &o).unwrap();
        assert!(!b.object_lock().unwrap().enabled().unwrap());
        let e = rsvault_engine::backend::lock::usable(b.as_ref()).unwrap_err();
        assert!(e.to_string().contains("object lock enabled"), "{e}");
    }
    if let Some((url, o)) = testing::fresh_azurite() {
        let b = open_url_with(&url, OpenMode::Create, &o).unwrap();
        assert!(b.object_lock().is_none());
    }
}

#[test]
fn the_azure_backend_conforms_on_azurite() {
    conforms_on(testing::fresh_azurite());
}

/// Init, a full and an incremental backup, restores of both bit-identical
/// from a fresh open, and a clean verify.
fn round_trip_on(fresh: Option<(String, StorageOptions)>) {
    let Some((url, o)) = fresh else { return };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d.raw");
    let mut data = make_image(&img, 24 << 20, 7);
    let mut key = MasterKey::generate();
    let store = Store::init(
        open_url_with(&url, OpenMode::Create, &o).unwrap(),
        &mut key,
        &Default::default(),
    )
    .unwrap();
    let opts = BackupOptions {
        name: "d".into(),
        ..Default::default()
    };
    let full = backup(&store, &RawImage::open(&img).unwrap(), &opts, &NoProgress).unwrap();
    let first = data.clone();
    mutate(&img, &mut data, 3, 40);
    let incr = backup(&store, &RawImage::open(&img).unwrap(), &opts, &NoProgress).unwrap();
    assert!(
        incr.stats.bytes_new < full.stats.bytes_new,
        "{:?}",
        incr.stats
    );
    let again = Store::open(open_url_with(&url, OpenMode::Existing, &o).unwrap(), &key).unwrap();
    for (m, want) in [(&full, &first), (&incr, &data)] {
        let out = dir.path().join(format!("{}.raw", m.id));
        restore(&again, m, &out, &RestoreOptions::default(), &NoProgress).unwrap();
        assert_same(&read(&out), want, &format!("{url}: restore of {}", m.id));
    }
    let report = verify(&again, 2, &NoProgress).unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn a_store_on_moto_backs_up_and_restores_bit_identically() {
    round_trip_on(testing::fresh_s3());
}

#[test]
fn a_store_on_azurite_backs_up_and_restores_bit_identically() {
    round_trip_on(testing::fresh_azurite());
}

#[test]
fn a_server_that_is_down_is_a_storage_error_naming_it_without_secrets() {
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = testing::s3_options(&format!("http://127.0.0.1:{port}"));
    o.secret_access_key = Some(rsvault_engine::backend::Secret::new("very-secret-key"));
    o.retry.max_retries = 2;
    o.retry.retry_timeout = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    match open_url_with("s3://bucket/vault", OpenMode::Create, &o) {
        Err(e @ Error::Storage { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("s3://bucket/vault"), "{msg}");
            assert!(
                !msg.contains("very-secret-key") && !msg.contains("testing"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed().as_secs() < 30, "retries are bounded");
    let mut o = testing::azurite_options(&format!("http://127.0.0.1:{port}"));
    o.retry.max_retries = 1;
    assert!(matches!(
        open_url_with("az://container/vault", OpenMode::Existing, &o),
        Err(Error::Storage { .. })
    ));
}
