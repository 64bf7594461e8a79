//! Enums shared by several models.

crate::arm_enum! {
    /// `backupManagementType`: who manages the backup (rsvault: Azure IaaS VMs).
    pub enum BackupManagementType {
        Invalid,
        AzureIaasVm = "AzureIaasVM",
        Mab = "MAB",
        Dpm = "DPM",
        AzureBackupServer,
        AzureSql = "AzureSql",
        AzureStorage,
        AzureWorkload,
        DefaultBackup,
    }
}

crate::arm_enum! {
    /// `workloadType`: what is backed up.
    pub enum WorkloadType {
        Invalid,
        Vm = "VM",
        FileFolder,
        AzureSqlDb = "AzureSqlDb",
        SqlDb = "SQLDB",
        Exchange,
        Sharepoint,
        VMwareVm = "VMwareVM",
        SystemState,
        Client,
        GenericDataSource,
        SqlDataBase = "SQLDataBase",
        AzureFileShare,
        SapHanaDatabase = "SAPHanaDatabase",
        SapAseDatabase = "SAPAseDatabase",
    }
}

crate::arm_enum! {
    /// A day of the week, as policies name them.
    pub enum DayOfWeek { Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday }
}

crate::arm_enum! {
    /// A week of a month, for monthly and yearly retention.
    pub enum WeekOfMonth { First, Second, Third, Fourth, Last, Invalid }
}

crate::arm_enum! {
    /// A month, for yearly retention.
    pub enum MonthOfYear {
        Invalid, January, February, March, April, May, June, July, August, September,
        October, November, December,
    }
}

crate::arm_enum! {
    /// `healthStatus` of a protected item.
    pub enum HealthStatus { Passed, ActionRequired, ActionSuggested, Invalid }
}

crate::arm_enum! {
    /// `protectionState` of a protected item.
    pub enum ProtectionState {
        Invalid,
        IrPending = "IRPending",
        Protected,
        ProtectionError,
        ProtectionStopped,
        ProtectionPaused,
        BackupsSuspended,
    }
}

crate::arm_enum! {
    /// `protectionState` of a protectable item (whether some vault protects it).
    pub enum ProtectionStatus { Invalid, NotProtected, Protecting, Protected, ProtectionFailed }
}

crate::arm_enum! {
    /// The kind of VM an item or container is: the discriminator of
    /// protected items, protectable items and containers.
    pub enum VmKind {
        Compute = "Microsoft.Compute/virtualMachines",
        ClassicCompute = "Microsoft.ClassicCompute/virtualMachines",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_spellings_table() {
        for (wire, want) in [
            ("AzureIaasVM", BackupManagementType::AzureIaasVm),
            ("azureiaasvm", BackupManagementType::AzureIaasVm),
            ("AzureIaaSVM", BackupManagementType::AzureIaasVm),
        ] {
            assert_eq!(wire.parse::<BackupManagementType>().unwrap(), want);
        }
        assert_eq!(WorkloadType::Vm.as_str(), "VM");
        assert_eq!(
            ProtectionState::from("irpending"),
            ProtectionState::IrPending
        );
        assert_eq!(ProtectionState::IrPending.as_str(), "IRPending");
        assert_eq!(
            VmKind::from("microsoft.compute/VIRTUALMACHINES").as_str(),
            "Microsoft.Compute/virtualMachines"
        );
        assert_eq!(DayOfWeek::from("sunday"), DayOfWeek::Sunday);
        assert!(!MonthOfYear::from("Smarch").is_known());
    }
}
