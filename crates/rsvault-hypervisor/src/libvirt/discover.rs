//! Discovery over libvirt: every domain of a connection, running or shut
//! off, with its disks from the domain XML (the live one of a running
//! domain, which also names the backing chain).

use super::{hv_err, xml};
use crate::discovery::{Discovery, HostVm};
use crate::error::HvError;
use crate::port::PowerState;
use virt::connect::Connect;
use virt::domain::Domain;

/// `VIR_DOMAIN_XML_INACTIVE`: the persistent definition.
const XML_INACTIVE: u32 = 2;
/// `VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM`:
/// the checkpoints and NVRAM file of the domain go with its definition.
const UNDEFINE_FLAGS: u32 = 16 | 4;

/// The domains of one libvirt connection.
#[derive(Debug, Clone)]
pub struct LibvirtDiscovery {
    uri: String,
}

impl LibvirtDiscovery {
    pub fn new(uri: impl Into<String>) -> Self {
        LibvirtDiscovery { uri: uri.into() }
    }
}

/// Whether libvirt's error says there is no such domain.
fn no_domain(e: &virt::error::Error) -> bool {
    matches!(
        e.code(),
        virt::enumutil::Enum::Known(virt::error::ErrorNumber::NoDomain)
    )
}

/// A domain's state as the port's power state.
pub(super) fn power(dom: &Domain) -> Result<PowerState, HvError> {
    use virt::domain::DomainState as S;
    use virt::enumutil::Enum;
    let (state, _) = dom
        .state()
        .map_err(|e| hv_err("reading the domain state", e))?;
    Ok(match state {
        Enum::Known(S::Running | S::Blocked) => PowerState::Running,
        Enum::Known(S::Paused | S::PMSuspended) => PowerState::Paused,
        _ => PowerState::Stopped,
    })
}

impl LibvirtDiscovery {
    fn connect(&self) -> Result<Connect, HvError> {
        virt::error::clear_error_callback();
        Connect::open(Some(&self.uri))
            .map_err(|e| hv_err(&format!("connecting to {}", self.uri), e))
    }

    fn describe(&self, dom: &Domain) -> Result<HostVm, HvError> {
        let power = power(dom)?;
        let live = dom
            .xml_desc(0)
            .map_err(|e| hv_err("reading the domain XML", e))?;
        // A transient domain has no inactive definition: its live XML is
        // all there is.
        let config = dom.xml_desc(XML_INACTIVE).unwrap_or_else(|_| live.clone());
        let info = xml::parse_domain(&live).map_err(HvError::Protocol)?;
        Ok(HostVm::of_domain(&self.uri, info, power, config))
    }
}

impl Discovery for LibvirtDiscovery {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn list(&self) -> Result<Vec<HostVm>, HvError> {
        let conn = self.connect()?;
        let doms = conn
            .list_all_domains(0)
            .map_err(|e| hv_err("listing domains", e))?;
        let mut out = Vec::new();
        for d in &doms {
            match self.describe(d) {
                Ok(vm) => out.push(vm),
                // A domain undefined while it was listed is gone.
                Err(e) if !d.is_persistent().unwrap_or(true) => {
                    tracing::debug!(error = %e, "a transient domain went away while listed");
                }
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn get(&self, uuid: &str) -> Result<Option<HostVm>, HvError> {
        let conn = self.connect()?;
        match conn.lookup_domain_by_uuid_string(uuid) {
            Ok(d) => self.describe(&d).map(Some),
            Err(e) if no_domain(&e) => Ok(None),
            Err(e) => Err(hv_err(&format!("looking up domain {uuid}"), e)),
        }
    }

    fn has_name(&self, name: &str) -> Result<bool, HvError> {
        let conn = self.connect()?;
        match conn.lookup_domain_by_name(name) {
            Ok(_) => Ok(true),
            Err(e) if no_domain(&e) => Ok(false),
            Err(e) => Err(hv_err(&format!("looking up domain '{name}'"), e)),
        }
    }

    fn define(&self, config: &str) -> Result<HostVm, HvError> {
        let conn = self.connect()?;
        // A definition that names a UUID would replace that domain's.
        let info = xml::parse_domain(config).map_err(HvError::Protocol)?;
        if !info.uuid.is_empty() {
            return Err(HvError::Protocol(format!(
                "a new domain's definition names uuid {}",
                info.uuid
            )));
        }
        if conn.lookup_domain_by_name(&info.name).is_ok() {
            return Err(HvError::Libvirt(format!(
                "domain '{}' already exists",
                info.name
            )));
        }
        let dom = conn
            .define_domain_xml(config)
            .map_err(|e| hv_err("defining the domain", e))?;
        self.describe(&dom)
    }

    fn undefine(&self, uuid: &str) -> Result<(), HvError> {
        let conn = self.connect()?;
        let dom = conn
            .lookup_domain_by_uuid_string(uuid)
            .map_err(|e| hv_err(&format!("looking up domain {uuid}"), e))?;
        dom.undefine_flags(UNDEFINE_FLAGS)
            .map_err(|e| hv_err("undefining the domain", e))
    }
}
