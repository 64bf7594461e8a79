//! Enrolment, heartbeats, health and backups through the board, with a
//! fake hypervisor on the "agent" side.

use super::wire::*;
use super::*;
use crate::inventory::{ResourceRef, VmProvider};

const CERT: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

fn service() -> (tempfile::TempDir, std::sync::Arc<Service>) {
    let dir = tempfile::tempdir().unwrap();
    let svc = std::sync::Arc::new(Service::open(dir.path()).unwrap());
    (dir, svc)
}

fn token(svc: &Service, rg: &str, location: &str) -> String {
    svc.create_enroll_token("sub-1", rg, location, Some(5), "oid-owner", CERT)
        .unwrap()
        .token
}

#[test]
fn tokens_parse_and_carry_the_pin() {
    let (_d, svc) = service();
    let t = svc
        .create_enroll_token("sub-1", "rg-kvm1", "Japan East", None, "o", CERT)
        .unwrap();
    assert_eq!(t.location, "japaneast");
    let p = parse_token(&t.token).expect("parses");
    assert_eq!(p.certificate_sha256, CERT);
    assert!(parse_token("rsv1.short.ab").is_none());
    assert!(parse_token(&t.token.replace("rsv1", "rsv2")).is_none());
    let e = svc
        .create_enroll_token("sub-1", "rg", "mars", None, "o", CERT)
        .unwrap_err();
    assert_eq!(e.code(), "LocationNotAvailableForResourceType");
    let e = svc
        .create_enroll_token("sub-1", "rg", "japaneast", Some(0), "o", CERT)
        .unwrap_err();
    assert!(e.to_string().contains("expiresInMinutes"), "{e}");
}

#[test]
fn a_token_enrols_one_host_once_with_the_agent_role() {
    let (_d, svc) = service();
    let t = token(&svc, "rg-kvm1", "japaneast");
    let (host, client, secret) = svc.enroll_host(&t, "kvm-a", "9.9.9").unwrap();
    assert!(!client.is_empty() && !secret.is_empty());
    let e = svc.enroll_host(&t, "kvm-b", "9.9.9").unwrap_err();
    assert_eq!(e.code(), "InvalidEnrollmentToken", "used once");
    let access = svc.access_of(&host.principal).unwrap();
    let scope = "/subscriptions/sub-1/resourceGroups/rg-kvm1";
    assert!(access.allows("Microsoft.Compute/virtualMachines/write", scope));
    assert!(!access.allows("Microsoft.RecoveryServices/vaults/delete", scope));
    assert!(
        !access.allows(
            "Microsoft.Compute/virtualMachines/write",
            "/subscriptions/sub-1/resourceGroups/rg-other"
        ),
        "only its own group"
    );
    // The same name again in the group is refused, and no principal is left.
    let before = svc.principals().unwrap().len();
    let e = svc
        .enroll_host(&token(&svc, "rg-kvm1", "japaneast"), "kvm-a", "1")
        .unwrap_err();
    assert_eq!(e.code(), "MachineAlreadyEnrolled");
    assert_eq!(svc.principals().unwrap().len(), before);
    // Another principal cannot speak for the host.
    assert!(svc.agent_host(&host.id, "someone-else").is_err());
}

fn reported(name: &str, uuid: &str, disk: &str) -> ReportedVm {
    ReportedVm {
        name: name.into(),
        uuid: uuid.into(),
        power: "running".into(),
        os_type: Some("hvm".into()),
        vcpus: 1,
        memory_mib: 256,
        disks: vec![ReportedDisk {
            device: "vda".into(),
            path: disk.into(),
            format: "qcow2".into(),
            block: false,
            backing: Vec::new(),
        }],
        config: "<domain/>".into(),
    }
}

#[test]
fn heartbeats_list_the_hosts_vms_and_health_follows_them() {
    let (_d, svc) = service();
    let (host, _, _) = svc
        .enroll_host(&token(&svc, "rg-kvm1", "japaneast"), "kvm-a", "1.0")
        .unwrap();
    let hb = Heartbeat {
        agent_version: "1.1".into(),
        vms: Some(vec![reported("web", "u-1", "/etc/shadow")]),
        error: None,
    };
    let reply = svc.host_heartbeat(&host.id, &host.principal, &hb).unwrap();
    assert!(reply.tasks.is_empty());
    let rr = ResourceRef {
        subscription: "sub-1".into(),
        resource_group: "rg-kvm1".into(),
        name: "web".into(),
    };
    let vm = svc.get_vm(VmProvider::Compute, &rr, false).unwrap();
    assert_eq!(vm.location.as_deref(), Some("japaneast"));
    let link = vm.properties.libvirt.unwrap();
    assert_eq!(link.uri.as_deref(), Some(agent_uri(&host.id).as_str()));
    // A host's paths are never the server's to read, nor to sweep.
    assert!(svc.all_disk_images().unwrap().is_empty());
    assert!(
        svc.host_files(&rsvault_hypervisor::VmAddress::libvirt(
            agent_uri(&host.id),
            "u-1"
        ))
        .is_empty()
    );
    let m = svc.get_machine("sub-1", "rg-kvm1", "KVM-A").unwrap();
    assert_eq!(m.properties.status.as_deref(), Some("Connected"));
    assert_eq!(m.properties.agent_version.as_deref(), Some("1.1"));
    assert_eq!(
        m.properties
            .detected_properties
            .unwrap()
            .vm_count
            .as_deref(),
        Some("1")
    );
    // A hypervisor that does not answer: Error; silence: Disconnected.
    let down = Heartbeat {
        agent_version: "1.1".into(),
        vms: None,
        error: Some("libvirtd is down".into()),
    };
    svc.host_heartbeat(&host.id, &host.principal, &down)
        .unwrap();
    let m = svc.get_machine("sub-1", "rg-kvm1", "kvm-a").unwrap();
    assert_eq!(m.properties.status.as_deref(), Some("Error"));
    svc.set_agent_settings(AgentSettings {
        heartbeat: Duration::from_secs(1),
        stale_after: Duration::ZERO,
    });
    std::thread::sleep(Duration::from_millis(5));
    let m = svc.get_machine("sub-1", "rg-kvm1", "kvm-a").unwrap();
    assert_eq!(m.properties.status.as_deref(), Some("Disconnected"));
    let e = svc.check_host_connected(&host.id).unwrap_err();
    assert_eq!(e.code(), "UserErrorGuestAgentStatusUnavailable");
    assert_eq!(svc.list_machines("sub-1", None).unwrap().len(), 1);
    // Deleting the host removes its principal and marks its VMs removed.
    svc.delete_machine("sub-1", "rg-kvm1", "kvm-a").unwrap();
    assert!(svc.find_principal(&host.principal).unwrap().is_none());
    let vm = svc.get_vm(VmProvider::Compute, &rr, false).unwrap();
    assert_eq!(
        vm.properties.libvirt.unwrap().state.as_deref(),
        Some(crate::hosts::REMOVED)
    );
}
