//! The parts of libvirt's XML documents a backup needs: a domain's disks
//! and checkpoints read, the `<domainbackup>` and `<domaincheckpoint>`
//! documents of a pull-mode backup written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A disk of a domain, as its live XML describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainDisk {
    /// The target device (`vda`), libvirt's name of the disk.
    pub target: String,
    /// The image file or block device.
    pub source: PathBuf,
    /// `qcow2`, `raw`, ...
    pub format: String,
    /// A block device (`type='block'`) rather than a file.
    pub block: bool,
    /// The backing chain libvirt reports (`<backingStore>`, nearest
    /// first; in the live XML of a running domain).
    pub backing: Vec<PathBuf>,
}

/// What a domain's XML says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainInfo {
    pub name: String,
    pub uuid: String,
    /// The OS type libvirt knows (`hvm`).
    pub os_type: Option<String>,
    pub vcpus: u32,
    pub memory_kib: u64,
    /// The disks a backup can read: file- or block-backed `device='disk'`
    /// disks that are not read-only; CD-ROMs, floppies, network disks and
    /// read-only disks are left out.
    pub disks: Vec<DomainDisk>,
    /// The domain's metadata declares that the guest's fsfreeze hook
    /// quiesces its applications (`<rsvault:backup quiesce="application"/>`
    /// in namespace [`BACKUP_NS`]): a frozen snapshot is then
    /// application-consistent.
    pub app_quiesce: bool,
}

/// The XML namespace of rsvault's domain metadata.
pub const BACKUP_NS: &str = "urn:rsvault:backup:1";

/// Whether `<metadata>` holds rsvault's element saying that the guest's
/// fsfreeze hook quiesces applications.
fn declares_app_quiesce(root: roxmltree::Node<'_, '_>) -> bool {
    child(root, "metadata").is_some_and(|m| {
        m.children().any(|c| {
            c.is_element()
                && c.tag_name().namespace() == Some(BACKUP_NS)
                && c.tag_name().name() == "backup"
                && c.attribute("quiesce") == Some("application")
        })
    })
}

fn child<'a>(n: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn text<'a>(n: Option<roxmltree::Node<'a, '_>>) -> Option<&'a str> {
    n.and_then(|n| n.text()).map(str::trim)
}

/// The files of a disk's `<backingStore>` chain, nearest first.
fn backing_chain<'a>(disk: roxmltree::Node<'a, 'a>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut at = child(disk, "backingStore");
    while let Some(b) = at {
        let Some(src) = child(b, "source").and_then(|s| s.attribute("file").or(s.attribute("dev")))
        else {
            break;
        };
        out.push(PathBuf::from(src));
        at = child(b, "backingStore");
    }
    out
}

/// Reads a domain's XML (`virDomainGetXMLDesc`).
pub fn parse_domain(xml: &str) -> Result<DomainInfo, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("domain XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("domain") {
        return Err(format!(
            "domain XML: the root is <{}>",
            root.tag_name().name()
        ));
    }
    let name = text(child(root, "name")).unwrap_or_default().to_owned();
    let uuid = text(child(root, "uuid")).unwrap_or_default().to_owned();
    let os_type = text(child(root, "os").and_then(|o| child(o, "type"))).map(str::to_owned);
    let vcpus = text(child(root, "vcpu"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let memory_kib = child(root, "memory")
        .and_then(|m| {
            let v: u64 = m.text()?.trim().parse().ok()?;
            Some(match m.attribute("unit").unwrap_or("KiB") {
                "b" | "bytes" => v / 1024,
                "KB" => v * 1000 / 1024,
                "MiB" | "M" => v << 10,
                "MB" => v * 1_000_000 / 1024,
                "GiB" | "G" => v << 20,
                "GB" => v * 1_000_000_000 / 1024,
                _ => v,
            })
        })
        .unwrap_or(0);
    let mut disks = Vec::new();
    if let Some(devices) = child(root, "devices") {
        for d in devices.children().filter(|c| c.has_tag_name("disk")) {
            if d.attribute("device").unwrap_or("disk") != "disk" || child(d, "readonly").is_some() {
                continue;
            }
            let (block, attr) = match d.attribute("type") {
                Some("file") => (false, "file"),
                Some("block") => (true, "dev"),
                _ => continue,
            };
            let Some(source) = child(d, "source").and_then(|s| s.attribute(attr)) else {
                continue;
            };
            let Some(target) = child(d, "target").and_then(|t| t.attribute("dev")) else {
                continue;
            };
            let format = child(d, "driver")
                .and_then(|x| x.attribute("type"))
                .unwrap_or("raw");
            disks.push(DomainDisk {
                target: target.to_owned(),
                source: PathBuf::from(source),
                format: format.to_owned(),
                block,
                backing: backing_chain(d),
            });
        }
    }
    Ok(DomainInfo {
        name,
        uuid,
        os_type,
        vcpus,
        memory_kib,
        disks,
        app_quiesce: declares_app_quiesce(root),
    })
}

/// The disks a checkpoint's XML covers with a bitmap
/// (`virDomainCheckpointGetXMLDesc`).
pub fn checkpoint_disks(xml: &str) -> Result<Vec<String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("checkpoint XML: {e}"))?;
    let Some(disks) = child(doc.root_element(), "disks") else {
        return Ok(Vec::new());
    };
    Ok(disks
        .children()
        .filter(|d| d.has_tag_name("disk") && d.attribute("checkpoint") == Some("bitmap"))
        .filter_map(|d| d.attribute("name").map(str::to_owned))
        .collect())
}

/// Escapes text for an XML attribute.
fn attr(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// A restored disk of a domain defined anew.
#[derive(Debug, Clone)]
pub struct RestoredDisk<'a> {
    /// The target device (`vda`) it replaces.
    pub target: &'a str,
    /// The restored image (qcow2).
    pub image: &'a Path,
}

/// The definition of a VM restored from a domain's inactive XML
/// `config`: named `name`, without the UUID and MAC addresses (libvirt
/// gives the new domain its own), with each restored disk a qcow2 file
/// at its new image and every other writable disk left out (the copy must
/// never share a disk with the original); CD-ROMs and read-only disks
/// stay. The NVRAM file is dropped too, so libvirt makes the copy one of
/// its own.
pub fn restored_domain(
    config: &str,
    name: &str,
    disks: &[RestoredDisk<'_>],
) -> Result<String, String> {
    let doc = roxmltree::Document::parse(config).map_err(|e| format!("domain XML: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name("domain") {
        return Err(format!(
            "domain XML: the root is <{}>",
            root.tag_name().name()
        ));
    }
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let name_el = child(root, "name").ok_or("domain XML: no <name>")?;
    edits.push((name_el.range(), format!("<name>{}</name>", attr(name))));
    if let Some(u) = child(root, "uuid") {
        edits.push((u.range(), String::new()));
    }
    if let Some(nv) = child(root, "os").and_then(|o| child(o, "nvram")) {
        edits.push((nv.range(), String::new()));
    }
    let devices = child(root, "devices").ok_or("domain XML: no <devices>")?;
    let mut placed = Vec::new();
    for dev in devices.children().filter(roxmltree::Node::is_element) {
        if dev.has_tag_name("interface") {
            for m in dev.children().filter(|c| c.has_tag_name("mac")) {
                edits.push((m.range(), String::new()));
            }
            continue;
        }
        if !dev.has_tag_name("disk")
            || dev.attribute("device").unwrap_or("disk") != "disk"
            || child(dev, "readonly").is_some()
        {
            continue;
        }
        let target = child(dev, "target")
            .and_then(|t| t.attribute("dev"))
            .unwrap_or("");
        let Some(r) = disks.iter().find(|d| d.target == target) else {
            edits.push((dev.range(), String::new()));
            continue;
        };
        placed.push(target);
        let mut x = format!(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{}'/>",
            attr(&r.image.to_string_lossy())
        );
        // What places the disk in the guest stays as it was.
        for c in dev.children().filter(|c| {
            ["target", "address", "boot", "serial", "wwn", "blockio"]
                .iter()
                .any(|t| c.has_tag_name(*t))
        }) {
            x.push_str(&config[c.range()]);
        }
        x.push_str("</disk>");
        edits.push((dev.range(), x));
    }
    if let Some(missing) = disks.iter().find(|d| !placed.contains(&d.target)) {
        return Err(format!(
            "domain XML: the saved definition has no writable disk '{}'",
            missing.target
        ));
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = config.to_owned();
    for (r, text) in edits {
        out.replace_range(r, &text);
    }
    Ok(out)
}

/// One disk of a pull backup.
#[derive(Debug, Clone)]
pub struct BackupDisk<'a> {
    pub target: &'a str,
    /// The checkpoint whose changes to export; `None` for a full export.
    pub incremental: Option<&'a str>,
    /// The qcow2 scratch file libvirt creates for the fleece.
    pub scratch: &'a Path,
    /// The disk gets a bitmap in the new checkpoint (qcow2 only).
    pub checkpoint: bool,
}

/// The `<domainbackup mode='pull'>` document: the named disks exported on
/// a Unix socket, every other disk of `all_targets` left out.
pub fn backup_xml(socket: &Path, disks: &[BackupDisk<'_>], all_targets: &[&str]) -> String {
    let mut x = String::from("<domainbackup mode='pull'>");
    let _ = write!(
        x,
        "<server transport='unix' socket='{}'/><disks>",
        attr(&socket.to_string_lossy())
    );
    for t in all_targets {
        match disks.iter().find(|d| d.target == *t) {
            Some(d) => {
                let _ = write!(x, "<disk name='{}' backup='yes' type='file'", attr(t));
                match d.incremental {
                    Some(c) => {
                        let _ = write!(x, " backupmode='incremental' incremental='{}'", attr(c));
                    }
                    None => x.push_str(" backupmode='full'"),
                }
                let _ = write!(
                    x,
                    "><scratch file='{}'/></disk>",
                    attr(&d.scratch.to_string_lossy())
                );
            }
            None => {
                let _ = write!(x, "<disk name='{}' backup='no'/>", attr(t));
            }
        }
    }
    x.push_str("</disks></domainbackup>");
    x
}

/// The `<domaincheckpoint>` started with the backup: a bitmap on each
/// disk that takes one, none on the others.
pub fn checkpoint_xml(name: &str, disks: &[BackupDisk<'_>], all_targets: &[&str]) -> String {
    let mut x = format!("<domaincheckpoint><name>{}</name><disks>", attr(name));
    for t in all_targets {
        let on = disks.iter().any(|d| d.target == *t && d.checkpoint);
        let _ = write!(
            x,
            "<disk name='{}' checkpoint='{}'/>",
            attr(t),
            if on { "bitmap" } else { "no" }
        );
    }
    x.push_str("</disks></domaincheckpoint>");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = r#"<domain type='kvm' id='3'>
  <name>db-01</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <memory unit='KiB'>2097152</memory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/db-01.qcow2' index='2'/>
      <backingStore type='file' index='3'>
        <format type='qcow2'/>
        <source file='/var/lib/libvirt/images/base.qcow2'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='/dev/vg0/db-data'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/iso/debian.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/shared.img'/>
      <target dev='vdc' bus='virtio'/>
      <readonly/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/img'/>
      <target dev='vdd' bus='virtio'/>
    </disk>
  </devices>
</domain>"#;

    #[test]
    fn a_domain_lists_its_backed_up_disks_only() {
        let d = parse_domain(DOMAIN).unwrap();
        assert_eq!(d.name, "db-01");
        assert_eq!(d.uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
        assert_eq!(d.os_type.as_deref(), Some("hvm"));
        assert_eq!((d.vcpus, d.memory_kib), (2, 2 << 20));
        assert_eq!(
            d.disks,
            [
                DomainDisk {
                    target: "vda".into(),
                    source: "/var/lib/libvirt/images/db-01.qcow2".into(),
                    format: "qcow2".into(),
                    block: false,
                    backing: vec!["/var/lib/libvirt/images/base.qcow2".into()],
                },
                DomainDisk {
                    target: "vdb".into(),
                    source: "/dev/vg0/db-data".into(),
                    format: "raw".into(),
                    block: true,
                    backing: Vec::new(),
                },
            ]
        );
        assert!(parse_domain("<network/>").is_err());
        assert!(parse_domain("<domain").is_err());
        let m = parse_domain("<domain><memory unit='MiB'>128</memory></domain>").unwrap();
        assert_eq!(m.memory_kib, 128 << 10);
    }

    #[test]
    fn only_rsvaults_metadata_element_declares_application_quiescing() {
        assert!(!parse_domain(DOMAIN).unwrap().app_quiesce);
        let with = |m: &str| {
            parse_domain(&format!(
                "<domain><name>a</name><metadata>{m}</metadata></domain>"
            ))
            .unwrap()
            .app_quiesce
        };
        assert!(with(&format!(
            "<rsvault:backup xmlns:rsvault='{BACKUP_NS}' quiesce='application'/>"
        )));
        assert!(with(&format!(
            "<x:other xmlns:x='urn:x'/><b:backup xmlns:b='{BACKUP_NS}' quiesce='application'/>"
        )));
        assert!(!with(&format!(
            "<rsvault:backup xmlns:rsvault='{BACKUP_NS}' quiesce='filesystem'/>"
        )));
        assert!(!with(
            "<rsvault:backup xmlns:rsvault='urn:not-ours' quiesce='application'/>"
        ));
        assert!(!with("<backup quiesce='application'/>"));
    }

    #[test]
    fn a_restored_domain_is_a_new_one_on_its_own_disks() {
        let config = DOMAIN
            .replace(
                "<devices>",
                "<devices><interface type='network'><mac address='52:54:00:aa:bb:cc'/>\
             <source network='default'/></interface>",
            )
            .replace(
                "<os>",
                "<os><nvram>/var/lib/libvirt/qemu/nvram/db-01_VARS.fd</nvram>",
            );
        let os = Path::new("/var/lib/libvirt/images/db-02-vda.qcow2");
        let x = restored_domain(
            &config,
            "db-02 & co",
            &[RestoredDisk {
                target: "vda",
                image: os,
            }],
        )
        .unwrap();
        let d = parse_domain(&x).unwrap();
        assert_eq!(d.name, "db-02 & co");
        assert_eq!(d.uuid, "", "libvirt gives the copy its own UUID");
        assert!(
            !x.contains("52:54:00:aa:bb:cc") && !x.contains("<mac"),
            "{x}"
        );
        assert!(!x.contains("nvram"), "{x}");
        assert!(x.contains("<source network='default'/>"), "{x}");
        // The OS disk is the restored qcow2 with no backing chain; the block
        // data disk, not restored, is left out; the CD-ROM stays.
        assert_eq!(
            d.disks,
            [DomainDisk {
                target: "vda".into(),
                source: os.into(),
                format: "qcow2".into(),
                block: false,
                backing: Vec::new(),
            }]
        );
        assert!(
            x.contains("debian.iso") && !x.contains("/dev/vg0/db-data"),
            "{x}"
        );
        assert!(x.contains("<target dev='vda' bus='virtio'/>"), "{x}");
        // A disk the definition does not have is an error.
        let e = restored_domain(
            &config,
            "x",
            &[RestoredDisk {
                target: "vdz",
                image: os,
            }],
        );
        assert!(e.unwrap_err().contains("vdz"));
        assert!(restored_domain("<network/>", "x", &[]).is_err());
    }

    #[test]
    fn backup_and_checkpoint_documents() {
        let scratch = Path::new("/run/rsvault/j1.vda.scratch");
        let disks = [BackupDisk {
            target: "vda",
            incremental: Some("rsvault-j0"),
            scratch,
            checkpoint: true,
        }];
        let b = backup_xml(Path::new("/run/rsvault/j1.sock"), &disks, &["vda", "vdb"]);
        assert_eq!(
            b,
            "<domainbackup mode='pull'><server transport='unix' socket='/run/rsvault/j1.sock'/><disks>\
             <disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='rsvault-j0'>\
             <scratch file='/run/rsvault/j1.vda.scratch'/></disk><disk name='vdb' backup='no'/>\
             </disks></domainbackup>"
        );
        roxmltree::Document::parse(&b).unwrap();
        let c = checkpoint_xml("rsvault-j1", &disks, &["vda", "vdb"]);
        assert_eq!(
            c,
            "<domaincheckpoint><name>rsvault-j1</name><disks><disk name='vda' checkpoint='bitmap'/>\
             <disk name='vdb' checkpoint='no'/></disks></domaincheckpoint>"
        );
        assert_eq!(checkpoint_disks(&c).unwrap(), ["vda"]);
        assert_eq!(attr("a'<&>\""), "a&apos;&lt;&amp;&gt;&quot;");
    }
}
