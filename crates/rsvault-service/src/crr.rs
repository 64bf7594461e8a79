//! Cross-region restore (Azure's CRR): a geo-redundant vault with
//! `crossRegionRestore` enabled shows its items and the recovery points
//! already replicated in its paired region, and restores them from the
//! secondary store alone, so a restore works while the primary region's
//! storage is down.
//!
//! The calls follow Azure's passive-stamp API: the client reads the
//! secondary's AAD properties, asks a recovery point for an access token,
//! and sends the token with the restore request to the secondary region;
//! the operation and the job are read back there. The token is a handle
//! the server signs (a keyed BLAKE3 MAC over the vault, item, point and
//! expiry, with a key kept in `keys/crr-token.key`, 0600), so a client can
//! restore only what it was allowed to read.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::records::Secondary;
use crate::protection::ItemName;
use crate::vault::{VaultRef, VaultRow};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsvault_arm::Resource;
use rsvault_arm::crr::{
    AadProperties, AadPropertiesResource, CrossRegionRestoreRequest, CrrAccessToken,
    CrrAccessTokenResource, CrrJobRequest,
};
use rsvault_arm::job::JobResource;
use rsvault_arm::operation::OperationStatus;
use rsvault_arm::recovery_point::{RecoveryPoint, RecoveryPointResource, RecoveryPointTierType};
use std::sync::Arc;

/// The operation name of a cross-region restore job.
pub const CRR_OPERATION: &str = "CrossRegionRestore";

/// How long an access token is good for.
const TOKEN_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_secs(3600);

/// The audience Azure's passive stamp names in its AAD properties.
const AUDIENCE: &str = "https://RecoveryServices/IaasCoord/aadmgmt/ecy";

/// What an access token grants: one recovery point of one item.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Grant {
    /// The vault's ARM id.
    vault: String,
    container: String,
    item: String,
    point: String,
    /// Expiry, in seconds since the epoch.
    exp: i64,
}

fn not_enabled(v: &VaultRef) -> ServiceError {
    ServiceError::bad_request(
        "BMSUserErrorCrossRegionRestoreNotEnabled",
        format!(
            "Cross-region restore is not enabled on vault '{}'. Make the vault GeoRedundant and set its crossRegionRestore to Enabled (az backup vault backup-properties set --cross-region-restore-flag true).",
            v.name
        ),
    )
}

fn bad_token(why: &str) -> ServiceError {
    ServiceError::bad_request(
        "BMSUserErrorInvalidCrrAccessToken",
        format!(
            "The cross-region restore access token is not valid ({why}); get a new one from the recovery point's accessToken."
        ),
    )
}

/// The vault an ARM id names.
fn vault_of_id(id: &str) -> Option<VaultRef> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [s, sub, g, rg, p, ns, t, name]
            if s.eq_ignore_ascii_case("subscriptions")
                && g.eq_ignore_ascii_case("resourceGroups")
                && p.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.RecoveryServices")
                && t.eq_ignore_ascii_case("vaults") =>
        {
            Some(VaultRef {
                subscription: (*sub).to_owned(),
                resource_group: (*rg).to_owned(),
                name: (*name).to_owned(),
            })
        }
        _ => None,
    }
}

impl Service {
    /// A vault whose secondary region may be read: geo-redundant, with
    /// cross-region restore enabled and a secondary store.
    fn crr_vault(&self, v: &VaultRef) -> Result<(VaultRow, Secondary)> {
        let row = self.vault_row(v)?;
        if row.redundancy != "GeoRedundant" || row.cross_region_restore != "Enabled" {
            return Err(not_enabled(v));
        }
        let secondary = row.secondary.clone().ok_or_else(|| not_enabled(v))?;
        Ok((row, secondary))
    }

    /// The vault a secondary-region call names by id (`resourceId`), which
    /// must be in the path's subscription and have `location` as its pair.
    fn crr_vault_in(
        &self,
        subscription: &str,
        location: &str,
        vault_id: &str,
    ) -> Result<(VaultRef, VaultRow, Secondary)> {
        let v = vault_of_id(vault_id)
            .filter(|v| v.subscription.eq_ignore_ascii_case(subscription))
            .ok_or_else(|| {
                ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "resourceId: '{vault_id}' is not the id of a Recovery Services vault in subscription '{subscription}'"
                    ),
                )
            })?;
        let (row, secondary) = self.crr_vault(&v)?;
        if crate::regions::normalize(location) != secondary.region {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!(
                    "Vault '{}' replicates to region '{}', not '{location}'.",
                    v.name, secondary.region
                ),
            ));
        }
        Ok((v, row, secondary))
    }

    /// `GET …/locations/{region}/backupAadProperties`.
    pub fn aad_properties(&self, subscription: &str) -> AadPropertiesResource {
        Resource {
            id: Some(format!("/subscriptions/{subscription}")),
            ..Resource::with_properties(AadProperties {
                tenant_id: Some("00000000-0000-0000-0000-000000000000".into()),
                audience: Some(AUDIENCE.into()),
                service_principal_object_id: Some("00000000-0000-0000-0000-000000000000".into()),
                ..Default::default()
            })
        }
    }

    /// The protected items as the secondary region shows them.
    pub fn list_protected_items_secondary(
        &self,
        v: &VaultRef,
        filter: &str,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<rsvault_arm::item::ProtectedItemResource>> {
        self.crr_vault(v)?;
        Ok(self.list_protected_items(v, filter, page)?.map(|mut item| {
            // Without `sourceResourceId`: az 2.91 writes a field into each
            // item the passive client reads, which works on the backup
            // client's dict-like models only and fails on the passive
            // stamp's when that id is set. The restore does not need it.
            if let rsvault_arm::item::ProtectedItem::Compute(p)
            | rsvault_arm::item::ProtectedItem::ClassicCompute(p) = &mut item.properties
            {
                p.source_resource_id = None;
            }
            item
        }))
    }

    /// An item's recovery points in the secondary region: those replicated
    /// there, newest first, each a vault-tier point only.
    pub fn list_recovery_points_secondary(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        filter: &str,
    ) -> Result<Vec<RecoveryPointResource>> {
        self.crr_vault(v)?;
        let (base, rows) = self.item_point_rows(v, container, item, filter)?;
        Ok(rows
            .into_iter()
            .filter(|p| p.replicated.is_some())
            .map(|p| secondary_view(crate::jobs::point_view(&base, p)))
            .collect())
    }

    /// One recovery point in the secondary region.
    pub fn get_recovery_point_secondary(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        rp: &str,
    ) -> Result<RecoveryPointResource> {
        crate::jobs::pick_point(
            self.list_recovery_points_secondary(v, container, item, "")?,
            rp,
            " in the secondary region (yet): replication is asynchronous; see the vault's backupstorageconfig for its lag",
        )
    }

    /// `POST …/recoveryPoints/{rp}/accessToken`: a token that lets the
    /// secondary region restore this point.
    pub fn crr_access_token(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        rp: &str,
    ) -> Result<CrrAccessTokenResource> {
        let (row, secondary) = self.crr_vault(v)?;
        let point = self.get_recovery_point_secondary(v, container, item, rp)?;
        let n = ItemName::parse(container, item)?;
        let grant = Grant {
            vault: v.id(),
            container: container.to_owned(),
            item: item.to_owned(),
            point: rp.to_owned(),
            exp: self
                .now()
                .checked_add(TOKEN_LIFETIME)
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .as_second(),
        };
        let time = match &point.properties {
            RecoveryPoint::IaasVm(p) => p.recovery_point_time.clone(),
            _ => None,
        };
        let pi = self.get_protected_item(v, container, item)?;
        Ok(Resource {
            id: point.id.clone(),
            name: Some(rp.to_owned()),
            kind: Some(
                "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints"
                    .into(),
            ),
            ..Resource::with_properties(CrrAccessToken {
                object_type: Some("WorkloadCrrAccessToken".into()),
                access_token_string: Some(self.sign(&grant)?),
                subscription_id: Some(v.subscription.clone()),
                resource_group_name: Some(v.resource_group.clone()),
                resource_name: Some(v.name.clone()),
                resource_id: Some(v.id()),
                recovery_point_id: Some(rp.to_owned()),
                recovery_point_time: time,
                container_name: Some(container.to_owned()),
                container_type: Some("IaasVMContainer".into()),
                backup_management_type: Some("AzureIaasVM".into()),
                datasource_type: Some("VM".into()),
                datasource_name: Some(n.vm.clone()),
                datasource_id: pi
                    .properties
                    .as_iaas_vm()
                    .and_then(|p| p.virtual_machine_id.clone()),
                datasource_container_name: Some(container.to_owned()),
                bms_active_region: Some(row.location.clone()),
                extra: [("secondaryRegion".to_owned(), secondary.region.into())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            })
        })
    }

    /// `POST …/locations/{region}/backupCrossRegionRestore`: starts a
    /// restore from the secondary store; returns the secondary region's
    /// operation id.
    pub fn cross_region_restore(
        self: &Arc<Self>,
        subscription: &str,
        location: &str,
        req: &CrossRegionRestoreRequest,
    ) -> Result<String> {
        let token = req
            .cross_region_restore_access_details
            .as_ref()
            .and_then(|t| t.access_token_string.as_deref())
            .ok_or_else(|| {
                bad_token("crossRegionRestoreAccessDetails.accessTokenString is missing")
            })?;
        let grant = self.verify(token)?;
        let restore = req.restore_request.as_ref().ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                "restoreRequest is required: the restore to run in the secondary region",
            )
        })?;
        if let Some(id) = restore.recovery_point_id.as_deref()
            && id != grant.point
        {
            return Err(bad_token("it was issued for another recovery point"));
        }
        let (v, row, secondary) = self.crr_vault_in(subscription, location, &grant.vault)?;
        // The point must be on the secondary still.
        self.get_recovery_point_secondary(&v, &grant.container, &grant.item, &grant.point)?;
        let op = self.restore(
            &v,
            &grant.container,
            &grant.item,
            &grant.point,
            restore,
            crate::restore::RestoreSource::Secondary(secondary),
        )?;
        Ok(URL_SAFE_NO_PAD.encode(format!("{}\n{op}", row.rowid)))
    }

    /// `GET …/locations/{region}/backupCrrOperationsStatus/{op}`.
    pub fn crr_operation_status(&self, subscription: &str, op: &str) -> Result<OperationStatus> {
        let not_found = || {
            ServiceError::not_found(
                "BMSUserErrorOperationNotFound",
                format!("Cross-region restore operation {op} was not found."),
            )
        };
        let decoded = URL_SAFE_NO_PAD
            .decode(op)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(not_found)?;
        let (rowid, inner) = decoded.split_once('\n').ok_or_else(not_found)?;
        let vault = rowid
            .parse::<i64>()
            .ok()
            .and_then(|id| self.meta.vault_by_id(id).ok().flatten())
            .filter(|v| v.vref.subscription.eq_ignore_ascii_case(subscription))
            .ok_or_else(not_found)?;
        let mut status = self.operation_status(&vault.vref, inner)?;
        status.id = Some(op.to_owned());
        status.name = Some(op.to_owned());
        Ok(status)
    }

    /// `POST …/locations/{region}/backupCrrJob`: a cross-region restore job.
    pub fn crr_job(
        &self,
        subscription: &str,
        location: &str,
        req: &CrrJobRequest,
    ) -> Result<JobResource> {
        let (v, ..) = self.crr_vault_in(
            subscription,
            location,
            req.resource_id.as_deref().unwrap_or(""),
        )?;
        let name = req.job_name.as_deref().unwrap_or("");
        let job = self.get_job(&v, name)?;
        let is_crr = job
            .properties
            .as_iaas_vm()
            .and_then(|j| j.operation.as_ref())
            .is_some_and(|o| o.as_str() == CRR_OPERATION);
        if !is_crr {
            return Err(ServiceError::not_found(
                "BMSUserErrorJobNotFound",
                format!(
                    "Job {name} is not a cross-region restore job of vault '{}'.",
                    v.name
                ),
            ));
        }
        Ok(secondary_job(subscription, location, job))
    }

    /// `POST …/locations/{region}/backupCrrJobs`: the vault's cross-region
    /// restore jobs that match the `$filter` (one page).
    pub fn crr_jobs(
        &self,
        subscription: &str,
        location: &str,
        req: &CrrJobRequest,
        filter: &str,
    ) -> Result<Vec<JobResource>> {
        let (v, ..) = self.crr_vault_in(
            subscription,
            location,
            req.resource_id.as_deref().unwrap_or(""),
        )?;
        let f = crate::filter::Filter::parse(filter)?;
        if f.get("operation")
            .is_some_and(|o| !o.eq_ignore_ascii_case(CRR_OPERATION))
        {
            return Ok(Vec::new());
        }
        let filter = match filter.trim() {
            "" => format!("operation eq '{CRR_OPERATION}'"),
            f => format!("{f} and operation eq '{CRR_OPERATION}'"),
        };
        let page = self.list_jobs(
            &v,
            &filter,
            &crate::PageRequest {
                token: None,
                size: 1000,
            },
        )?;
        Ok(page
            .items
            .into_iter()
            .map(|j| secondary_job(subscription, location, j))
            .collect())
    }

    /// The key that signs access tokens, made on first use.
    fn token_key(&self) -> Result<[u8; 32]> {
        let path = self.data_dir().join("keys").join("crr-token.key");
        match std::fs::read(&path) {
            Ok(k) if k.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&k);
                return Ok(key);
            }
            Ok(_) => {
                return Err(ServiceError::Internal(format!(
                    "{} is not a 32-byte key",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ServiceError::Internal(format!("{}: {e}", path.display()))),
        }
        let key: [u8; 32] = rand::random();
        match crate::images::write_private_new(&path, &key) {
            Ok(()) => Ok(key),
            // Another thread made it first.
            Err(_) if path.is_file() => self.token_key(),
            Err(e) => Err(e),
        }
    }

    fn sign(&self, grant: &Grant) -> Result<String> {
        let body = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(grant).map_err(|e| ServiceError::Internal(e.to_string()))?);
        let mac = blake3::keyed_hash(&self.token_key()?, body.as_bytes());
        Ok(format!("{body}.{}", mac.to_hex()))
    }

    fn verify(&self, token: &str) -> Result<Grant> {
        let (body, mac) = token
            .split_once('.')
            .ok_or_else(|| bad_token("malformed"))?;
        let mac = blake3::Hash::from_hex(mac).map_err(|_| bad_token("malformed"))?;
        // `Hash` compares in constant time.
        if blake3::keyed_hash(&self.token_key()?, body.as_bytes()) != mac {
            return Err(bad_token("its signature does not match"));
        }
        let grant: Grant = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad_token("malformed"))?;
        if grant.exp < self.now().as_second() {
            return Err(bad_token("it has expired"));
        }
        Ok(grant)
    }
}

/// A point as the secondary region shows it: its vault tier only (the
/// snapshots stay in the primary region), integrity as verify of the
/// primary found it.
fn secondary_view(mut p: RecoveryPointResource) -> RecoveryPointResource {
    if let RecoveryPoint::IaasVm(props) = &mut p.properties
        && let Some(tiers) = props.recovery_point_tier_details.as_mut()
    {
        tiers.retain(|t| t.kind == Some(RecoveryPointTierType::HardenedRp));
    }
    p
}

/// A job as the secondary region's API names it.
fn secondary_job(subscription: &str, location: &str, mut job: JobResource) -> JobResource {
    if let Some(name) = &job.name {
        job.id = Some(format!(
            "/subscriptions/{subscription}/providers/Microsoft.RecoveryServices/locations/{location}/backupJobs/{name}"
        ));
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_ids_read_back() {
        let v = VaultRef {
            subscription: "s".into(),
            resource_group: "Rg".into(),
            name: "v1".into(),
        };
        assert_eq!(vault_of_id(&v.id()), Some(v.clone()));
        assert_eq!(
            vault_of_id(&v.id().to_lowercase()).map(|v| v.name),
            Some("v1".into())
        );
        for bad in [
            "",
            "/subscriptions/s",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/v",
        ] {
            assert_eq!(vault_of_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_are_signed_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::open(dir.path()).unwrap();
        let grant = Grant {
            vault:
                "/subscriptions/s/resourceGroups/r/providers/Microsoft.RecoveryServices/vaults/v"
                    .into(),
            container: "c".into(),
            item: "i".into(),
            point: "1".into(),
            exp: s.now().as_second() + 60,
        };
        let t = s.sign(&grant).unwrap();
        assert_eq!(s.verify(&t).unwrap(), grant);
        let key = dir.path().join("keys/crr-token.key");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (body, mac) = t.split_once('.').unwrap();
        let other = Grant {
            point: "2".into(),
            ..grant
        };
        let forged = format!(
            "{}.{mac}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap())
        );
        assert_eq!(
            s.verify(&forged).unwrap_err().code(),
            "BMSUserErrorInvalidCrrAccessToken"
        );
        assert!(s.verify(body).is_err() && s.verify("x.y").is_err());
        let old = Grant {
            exp: s.now().as_second() - 1,
            ..other
        };
        let expired = s.sign(&old).unwrap();
        assert!(
            s.verify(&expired)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
    }
}
