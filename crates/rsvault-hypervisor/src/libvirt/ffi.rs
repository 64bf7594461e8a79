#![allow(unsafe_code)]
//! Safe wrappers of the libvirt calls the `virt` crate leaves out (backup
//! jobs, checkpoints, file-system freeze, job abort, taint messages),
//! called through `virt-sys` on the crate's own handles.

use std::ffi::{CStr, CString, c_char, c_uint};
use std::ptr;
use virt::domain::Domain;
use virt::error::Error as VirtError;
use virt_sys as sys;

/// A failed libvirt call: libvirt's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// libvirt's error codes this crate tells apart.
pub mod code {
    pub const NO_DOMAIN: i32 = virt_sys::VIR_ERR_NO_DOMAIN as i32;
    pub const ARGUMENT_UNSUPPORTED: i32 = virt_sys::VIR_ERR_ARGUMENT_UNSUPPORTED as i32;
    pub const OPERATION_INVALID: i32 = virt_sys::VIR_ERR_OPERATION_INVALID as i32;
    pub const AGENT_UNRESPONSIVE: i32 = virt_sys::VIR_ERR_AGENT_UNRESPONSIVE as i32;
    pub const NO_CHECKPOINT: i32 = virt_sys::VIR_ERR_NO_DOMAIN_CHECKPOINT as i32;
    pub const NO_BACKUP: i32 = virt_sys::VIR_ERR_NO_DOMAIN_BACKUP as i32;
}

/// The thread's last libvirt error (read right after the failed call).
pub fn last_error() -> CallError {
    // SAFETY: virGetLastError returns NULL or a pointer to the calling
    // thread's error, valid until the next libvirt call on this thread.
    let p = unsafe { sys::virGetLastError() };
    if p.is_null() {
        return CallError {
            code: 0,
            message: "an unknown libvirt error occurred".into(),
        };
    }
    // SAFETY: p is non-null and points at a virError.
    let (code, msg) = unsafe { ((*p).code, (*p).message) };
    let message = if msg.is_null() {
        "an unknown libvirt error occurred".to_owned()
    } else {
        // SAFETY: libvirt's messages are NUL-terminated C strings.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    };
    CallError { code, message }
}

impl From<VirtError> for CallError {
    fn from(e: VirtError) -> Self {
        // The crate keeps no raw code; what matters here is told by
        // message or by the calls below.
        CallError {
            code: match e.code() {
                virt::enumutil::Enum::Known(virt::error::ErrorNumber::NoDomain) => code::NO_DOMAIN,
                _ => -1,
            },
            message: e.message().to_owned(),
        }
    }
}

fn cstring(s: &str) -> Result<CString, CallError> {
    CString::new(s).map_err(|_| CallError {
        code: -1,
        message: "a NUL byte in a libvirt argument".into(),
    })
}

fn check(rc: i32) -> Result<i32, CallError> {
    if rc < 0 { Err(last_error()) } else { Ok(rc) }
}

/// Takes ownership of a libvirt-allocated C string.
fn owned_string(p: *mut c_char) -> Result<String, CallError> {
    if p.is_null() {
        return Err(last_error());
    }
    // SAFETY: p is a NUL-terminated string libvirt allocated for us.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: the caller frees libvirt's strings with free().
    unsafe { libc_free(p.cast()) };
    Ok(s)
}

unsafe extern "C" {
    #[link_name = "free"]
    fn libc_free(p: *mut std::ffi::c_void);
}

/// `virDomainBackupBegin` (pull mode, with a checkpoint).
pub fn backup_begin(dom: &Domain, backup: &str, checkpoint: Option<&str>) -> Result<(), CallError> {
    let b = cstring(backup)?;
    let c = checkpoint.map(cstring).transpose()?;
    let cp = c.as_ref().map_or(ptr::null(), |c| c.as_ptr());
    // SAFETY: valid domain handle, NUL-terminated documents (or NULL).
    check(unsafe { sys::virDomainBackupBegin(dom.as_ptr(), b.as_ptr(), cp, 0) })?;
    Ok(())
}

/// The running backup job's XML, `None` when there is none.
pub fn backup_job(dom: &Domain) -> Result<Option<String>, CallError> {
    // SAFETY: valid domain handle.
    let p = unsafe { sys::virDomainBackupGetXMLDesc(dom.as_ptr(), 0) };
    match owned_string(p) {
        Ok(x) => Ok(Some(x)),
        Err(e) if e.code == code::NO_BACKUP || e.code == code::OPERATION_INVALID => Ok(None),
        Err(e) => Err(e),
    }
}

/// Ends the domain's job (a pull backup's normal end).
pub fn abort_job(dom: &Domain) -> Result<(), CallError> {
    // SAFETY: valid domain handle.
    check(unsafe { sys::virDomainAbortJob(dom.as_ptr()) })?;
    Ok(())
}

/// Freezes every file system of the guest through its agent; how many.
pub fn fs_freeze(dom: &Domain) -> Result<u32, CallError> {
    // SAFETY: valid domain handle; NULL/0 mountpoints mean all.
    let n = check(unsafe { sys::virDomainFSFreeze(dom.as_ptr(), ptr::null_mut(), 0, 0) })?;
    Ok(n as u32)
}

/// Thaws every file system of the guest.
pub fn fs_thaw(dom: &Domain) -> Result<u32, CallError> {
    // SAFETY: as for fs_freeze.
    let n = check(unsafe { sys::virDomainFSThaw(dom.as_ptr(), ptr::null_mut(), 0, 0) })?;
    Ok(n as u32)
}

/// How long libvirt waits for the guest agent, in seconds.
pub fn set_agent_timeout(dom: &Domain, seconds: i32) -> Result<(), CallError> {
    // SAFETY: valid domain handle.
    check(unsafe { sys::virDomainAgentSetResponseTimeout(dom.as_ptr(), seconds, 0) })?;
    Ok(())
}

/// The domain's checkpoints: (name, XML without the domain).
pub fn checkpoints(dom: &Domain) -> Result<Vec<(String, String)>, CallError> {
    let mut list: *mut sys::virDomainCheckpointPtr = ptr::null_mut();
    // SAFETY: valid domain handle; libvirt allocates the array.
    let n = check(unsafe { sys::virDomainListAllCheckpoints(dom.as_ptr(), &mut list, 0) })?;
    let mut out = Vec::with_capacity(n as usize);
    let mut first_err = None;
    for i in 0..n as usize {
        // SAFETY: the array holds n checkpoint handles.
        let cp = unsafe { *list.add(i) };
        // SAFETY: cp is a valid handle; the name lives as long as it.
        let name = unsafe { CStr::from_ptr(sys::virDomainCheckpointGetName(cp)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: cp is valid; NO_DOMAIN leaves the domain XML out.
        let xml = owned_string(unsafe {
            sys::virDomainCheckpointGetXMLDesc(cp, sys::VIR_DOMAIN_CHECKPOINT_XML_NO_DOMAIN)
        });
        match xml {
            Ok(x) => out.push((name, x)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        // SAFETY: each handle is freed once.
        unsafe { sys::virDomainCheckpointFree(cp) };
    }
    // SAFETY: the array was allocated by libvirt.
    unsafe { libc_free(list.cast()) };
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Deletes a checkpoint (its bitmaps too, unless `metadata_only`).
/// `Ok(false)` when there is no such checkpoint.
pub fn delete_checkpoint(dom: &Domain, name: &str, metadata_only: bool) -> Result<bool, CallError> {
    let n = cstring(name)?;
    // SAFETY: valid domain handle and name.
    let cp = unsafe { sys::virDomainCheckpointLookupByName(dom.as_ptr(), n.as_ptr(), 0) };
    if cp.is_null() {
        let e = last_error();
        return if e.code == code::NO_CHECKPOINT {
            Ok(false)
        } else {
            Err(e)
        };
    }
    let flags: c_uint = if metadata_only {
        sys::VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY
    } else {
        0
    };
    // SAFETY: cp is valid.
    let rc = unsafe { sys::virDomainCheckpointDelete(cp, flags) };
    let r = if rc < 0 { Err(last_error()) } else { Ok(true) };
    // SAFETY: freed once.
    unsafe { sys::virDomainCheckpointFree(cp) };
    r
}

/// The domain's taint messages (`virsh dominfo`'s "tainted: ...").
pub fn taint_messages(dom: &Domain) -> Result<Vec<String>, CallError> {
    let mut msgs: *mut *mut c_char = ptr::null_mut();
    // SAFETY: valid domain handle; libvirt allocates the array.
    let n = check(unsafe {
        sys::virDomainGetMessages(dom.as_ptr(), &mut msgs, sys::VIR_DOMAIN_MESSAGE_TAINTING)
    })?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        // SAFETY: n strings, each ours to free.
        out.push(owned_string(unsafe { *msgs.add(i) })?);
    }
    if !msgs.is_null() {
        // SAFETY: the array was allocated by libvirt.
        unsafe { libc_free(msgs.cast()) };
    }
    Ok(out)
}
