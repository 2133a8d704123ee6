# Default appraisal policy for Azure confidential VMs on SEV-SNP (strict).
#
# The hardware report vouches for the paravisor's vTPM; the guest's boot is
# in the vTPM's PCRs. Requires PCRs 4 (boot loader and kernel) and 7 (Secure
# Boot policy) of the sha256 bank among the reference values
# azure-snp.tpm.pcrs.sha256.N (settings tpm_pcr_bank and azure_required_pcrs
# change which); every other stored azure-snp.* reference value (more PCRs,
# the hardware report's measurement, which changes with Azure's paravisor
# releases) must match too. Debug is refused (setting allow_debug).
package rootline.appraisal

import data.rootline.lib
import rego.v1

bank := object.get(data.settings, "tpm_pcr_bank", "sha256")

required := {sprintf("azure-snp.tpm.pcrs.%s.%d", [bank, i]) |
	some i in object.get(data.settings, "azure_required_pcrs", [4, 7])
}

component(k) := "executables" if {
	startswith(k, "azure-snp.tpm.pcrs.")
} else := "hardware" if {
	startswith(k, "azure-snp.reported_tcb.")
} else := "executables" if {
	k in {"azure-snp.measurement", "azure-snp.mr_td"}
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.debug("azure-snp.debug_allowed")

findings contains f if some f in lib.unverified

affirmed := {"hardware": lib.affirming, "executables": lib.affirming, "configuration": lib.affirming, "runtime_opaque": lib.affirming}

result := lib.result(findings, affirmed)
