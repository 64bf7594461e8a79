//! Every backend passes the one conformance suite; a broken one does not.

use rsvault_engine::backend::{
    Backend, LocalBackend, MemoryBackend, ObjectMeta, OpenMode, PutMode, conformance, open_url,
};
use rsvault_engine::{Error, Result};

#[test]
fn local_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&LocalBackend::new(&dir.path().join("s")).unwrap());
}

#[test]
fn memory_backend_conforms() {
    conformance(&MemoryBackend::new("t"));
}

#[test]
fn backends_opened_from_urls_conform() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("u").display());
    conformance(open_url(&url, OpenMode::Create).unwrap().as_ref());
    // The suite ends by destroying the location: it is gone.
    assert!(open_url(&url, OpenMode::Existing).is_err());
    conformance(
        open_url("memory://conf", OpenMode::Create)
            .unwrap()
            .as_ref(),
    );
    // The same name is the same backend.
    let a = open_url("memory://shared", OpenMode::Create).unwrap();
    a.put("k/1", b"x", PutMode::Create).unwrap();
    let b = open_url("memory://shared", OpenMode::Existing).unwrap();
    assert_eq!(b.get("k/1").unwrap(), b"x");
    for bad in [
        "",
        "gs://bucket/p",
        "s3:///no-bucket",
        "memory://",
        "memory://a/b",
        "file://relative/path",
    ] {
        assert!(open_url(bad, OpenMode::Create).is_err(), "{bad:?}");
    }
    assert!(matches!(
        open_url("memory://never-made", OpenMode::Existing),
        Err(Error::NotAStore(_))
    ));
}

/// A backend whose only-if-absent put silently overwrites, as an object
/// store without conditional writes would.
#[derive(Debug)]
struct NoConditionalPuts(MemoryBackend);

impl Backend for NoConditionalPuts {
    fn put(&self, key: &str, data: &[u8], _: PutMode) -> Result<()> {
        self.0.put(key, data, PutMode::Overwrite)
    }
    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.0.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.0.get_range(key, offset, len)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.0.list(prefix)
    }
    fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        self.0.head(key)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.0.delete(key)
    }
    fn location(&self) -> String {
        self.0.location()
    }
}

#[test]
fn a_backend_without_conditional_puts_fails_the_suite() {
    let broken = NoConditionalPuts(MemoryBackend::new("broken"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conformance(&broken)));
    let msg = r.expect_err("the suite must reject it");
    let msg = msg
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("AlreadyExists"), "{msg}");
}

#[test]
fn a_store_on_the_memory_backend_backs_up_restores_and_collects() {
    use rsvault_engine::source::raw::RawImage;
    use rsvault_engine::{
        BackupOptions, GcOptions, MasterKey, NoProgress, RestoreOptions, Store, backup, gc,
        restore, verify,
    };
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("d.raw");
    let data: Vec<u8> = (0..(5u32 << 20)).map(|i| (i / 4099) as u8).collect();
    std::fs::write(&img, &data).unwrap();
    let mut key = MasterKey::generate();
    let b = open_url("memory://store-e2e", OpenMode::Create).unwrap();
    let store = Store::init(b, &mut key, &Default::default()).unwrap();
    let o = BackupOptions {
        name: "d".into(),
        ..Default::default()
    };
    let m = backup(&store, &RawImage::open(&img).unwrap(), &o, &NoProgress).unwrap();
    let again = Store::open(
        open_url("memory://store-e2e", OpenMode::Existing).unwrap(),
        &key,
    )
    .unwrap();
    let out = dir.path().join("r.raw");
    restore(&again, &m, &out, &RestoreOptions::default(), &NoProgress).unwrap();
    assert!(std::fs::read(&out).unwrap() == data);
    assert!(verify(&again, 2, &NoProgress).unwrap().is_clean());
    again.forget("d", &m.id).unwrap();
    let st = gc(&again, &GcOptions::default(), &NoProgress).unwrap();
    assert_eq!(st.packs_after, 0, "{st:?}");
}
