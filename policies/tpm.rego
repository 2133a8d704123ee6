# Default appraisal policy for TPM 2.0 quotes (strict).
#
# Requires PCRs 0-7 of the sha256 bank among the reference values
# tpm.pcr.sha256.0..7 (settings tpm_pcr_bank and tpm_required_pcrs change
# which); every other stored tpm.* reference value (more PCRs, other banks,
# tpm.ak_fingerprint) must match too. A TPM says nothing about memory
# encryption, so runtime_opaque is left unset.
package rootline.appraisal

import data.rootline.lib
import rego.v1

bank := object.get(data.settings, "tpm_pcr_bank", "sha256")

required := {sprintf("tpm.pcr.%s.%d", [bank, i]) |
	some i in object.get(data.settings, "tpm_required_pcrs", [0, 1, 2, 3, 4, 5, 6, 7])
}

component(k) := "executables" if {
	startswith(k, "tpm.pcr.")
} else := "instance_identity" if {
	k == "tpm.ak_fingerprint"
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.unverified

affirmed := object.union(
	{"hardware": lib.affirming, "executables": lib.affirming},
	{"instance_identity": lib.affirming | count(lib.accepted("tpm.ak_fingerprint")) > 0},
)

result := lib.result(findings, affirmed)
