# Default appraisal policy for TPM 2.0 quotes (strict).
#
# Requires PCRs 0-7 of the sha256 bank among the reference values
# tpm.pcr.sha256.0..7 (settings tpm_pcr_bank and tpm_required_pcrs change
# which); every other stored tpm.* reference value (more PCRs, other banks,
# tpm.ak_fingerprint, the Confidential Space image tpm.cel.cos.*) must
# match too. A TPM says nothing about memory encryption, so runtime_opaque
# is left unset, also beside a TEE report: only the nonce links the two, and
# a nonce can be relayed (docs/gcp.md). An SEV-SNP report or TD quote
# carried beside the quotes (GCP) must not allow debugging and must have an
# UpToDate TCB status where its TEE defines one.
package rootline.appraisal

import data.rootline.lib
import rego.v1

bank := object.get(data.settings, "tpm_pcr_bank", "sha256")

required := {sprintf("tpm.pcr.%s.%d", [bank, i]) |
	some i in object.get(data.settings, "tpm_required_pcrs", [0, 1, 2, 3, 4, 5, 6, 7])
}

component(k) := "executables" if {
	startswith(k, "tpm.pcr.")
} else := "executables" if {
	# GCP Confidential Space: the container the launcher measured
	# (tpm.cel.cos.image_digest, ...), from its replayed canonical event log.
	startswith(k, "tpm.cel.")
} else := "instance_identity" if {
	k == "tpm.ak_fingerprint"
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.unverified

# GCP: an SEV-SNP report or TD quote verified beside the quotes (claims
# tpm.snp.*, tpm.tdx.*; its TCB status is the verdict's) is held to the
# rules of its own policy: no debug, TCB status UpToDate where the TEE
# defines one.
findings contains f if some f in lib.debug("tpm.snp.debug_allowed")

findings contains f if some f in lib.debug("tpm.tdx.debug_allowed")

findings contains f if {
	object.get(input, "tcb_status", null) != null
	some f in lib.tcb
}

affirmed := object.union(
	{"hardware": lib.affirming, "executables": lib.affirming},
	{"instance_identity": lib.affirming | count(lib.accepted("tpm.ak_fingerprint")) > 0},
)

result := lib.result(findings, affirmed)
