//! How a VM is reached, as its VM resource says (`properties.qemu`, an
//! rsvault extension of Azure's VM resource). The service passes a
//! [`VmAddress`] around without knowing what is inside.

use serde_json::Value;
use std::path::PathBuf;

/// Where a VM's hypervisor is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VmAddress {
    /// A QEMU process: its QMP monitor and the host end of its guest
    /// agent's virtio-serial port.
    Qemu(QemuAddress),
    /// A libvirt domain: the connection's URI and the domain's UUID (which,
    /// unlike its name, survives renames).
    Libvirt(LibvirtAddress),
}

/// A libvirt domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LibvirtAddress {
    /// `qemu:///system`, ...
    pub uri: String,
    pub uuid: String,
}

/// The sockets of a QEMU process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QemuAddress {
    pub qmp_socket: PathBuf,
    pub agent_socket: Option<PathBuf>,
}

/// A VM resource's address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AddressError {
    /// The property at fault, e.g. `properties.qemu.qmpSocket`.
    pub field: String,
    pub message: String,
}

impl VmAddress {
    /// A QEMU address.
    pub fn qemu(qmp_socket: impl Into<PathBuf>, agent_socket: Option<PathBuf>) -> Self {
        VmAddress::Qemu(QemuAddress {
            qmp_socket: qmp_socket.into(),
            agent_socket,
        })
    }

    /// A libvirt domain's address.
    pub fn libvirt(uri: impl Into<String>, uuid: impl Into<String>) -> Self {
        VmAddress::Libvirt(LibvirtAddress {
            uri: uri.into(),
            uuid: uuid.into(),
        })
    }

    /// Reads and checks the address in a VM resource's body; `None` when
    /// the resource names no hypervisor (its disks are read as files).
    pub fn from_vm_body(body: &Value) -> Result<Option<Self>, AddressError> {
        let l = &body["properties"]["libvirt"];
        if !l.is_null() {
            let text = |field: &str| match &l[field] {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(AddressError {
                    field: format!("properties.libvirt.{field}"),
                    message: "is required (discovery sets it)".into(),
                }),
            };
            if !body["properties"]["qemu"].is_null() {
                return Err(AddressError {
                    field: "properties.qemu".into(),
                    message: "a libvirt domain is reached through libvirt, not QMP".into(),
                });
            }
            return Ok(Some(VmAddress::libvirt(text("uri")?, text("domainUuid")?)));
        }
        let q = &body["properties"]["qemu"];
        if q.is_null() {
            return Ok(None);
        }
        if !q.is_object() {
            return Err(AddressError {
                field: "properties.qemu".into(),
                message: "must be an object with qmpSocket (and optionally guestAgentSocket)"
                    .into(),
            });
        }
        let path = |field: &str, required: bool| -> Result<Option<PathBuf>, AddressError> {
            match &q[field] {
                Value::Null if !required => Ok(None),
                Value::String(s) if s.starts_with('/') => Ok(Some(PathBuf::from(s))),
                _ => Err(AddressError {
                    field: format!("properties.qemu.{field}"),
                    message: "must be the absolute path of a Unix socket".into(),
                }),
            }
        };
        Ok(Some(VmAddress::qemu(
            path("qmpSocket", true)?.unwrap_or_default(),
            path("guestAgentSocket", false)?,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qemu_addresses_are_read_and_checked() {
        let body = |q: Value| json!({"properties": {"qemu": q}});
        assert_eq!(
            VmAddress::from_vm_body(&json!({"properties": {}})),
            Ok(None)
        );
        assert_eq!(
            VmAddress::from_vm_body(&body(json!({"qmpSocket": "/run/a.qmp"}))),
            Ok(Some(VmAddress::qemu("/run/a.qmp", None)))
        );
        assert_eq!(
            VmAddress::from_vm_body(&body(
                json!({"qmpSocket": "/run/a.qmp", "guestAgentSocket": "/run/a.qga"})
            )),
            Ok(Some(VmAddress::qemu(
                "/run/a.qmp",
                Some("/run/a.qga".into())
            )))
        );
        let e = VmAddress::from_vm_body(&body(json!("x"))).unwrap_err();
        assert_eq!(e.field, "properties.qemu");
        let e = VmAddress::from_vm_body(&body(json!({"guestAgentSocket": "/a"}))).unwrap_err();
        assert_eq!(e.field, "properties.qemu.qmpSocket");
        let e =
            VmAddress::from_vm_body(&body(json!({"qmpSocket": "/a", "guestAgentSocket": "rel"})))
                .unwrap_err();
        assert_eq!(e.field, "properties.qemu.guestAgentSocket");
    }

    #[test]
    fn libvirt_addresses_are_read_and_checked() {
        let body = |l: Value| json!({"properties": {"libvirt": l}});
        assert_eq!(
            VmAddress::from_vm_body(&body(
                json!({"uri": "qemu:///system", "domainUuid": "u1", "domainName": "a"})
            )),
            Ok(Some(VmAddress::libvirt("qemu:///system", "u1")))
        );
        let e = VmAddress::from_vm_body(&body(json!({"uri": "qemu:///system"}))).unwrap_err();
        assert_eq!(e.field, "properties.libvirt.domainUuid");
        let both = json!({"properties": {"libvirt": {"uri": "u", "domainUuid": "d"}, "qemu": {"qmpSocket": "/a"}}});
        assert_eq!(
            VmAddress::from_vm_body(&both).unwrap_err().field,
            "properties.qemu"
        );
    }
}
