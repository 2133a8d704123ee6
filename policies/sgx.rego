# Default appraisal policy for Intel SGX (strict).
#
# Refuses a debug enclave; requires TCB status UpToDate (SWHardeningNeeded only
# with the setting allow_sw_hardening_needed); requires MRENCLAVE and MRSIGNER
# among the reference values sgx.mr_enclave and sgx.mr_signer; every other
# stored sgx.* reference value (isv_prod_id, isv_svn...) must match too.
package rootline.appraisal

import data.rootline.lib
import rego.v1

required := {"sgx.mr_enclave", "sgx.mr_signer"}

component(k) := "executables" if {
	k in {"sgx.mr_enclave", "sgx.mr_signer"}
} else := "hardware" if {
	k in {"sgx.cpu_svn", "sgx.fmspc"}
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.debug("sgx.debug_allowed")

findings contains f if some f in lib.unverified

findings contains f if some f in lib.tcb

affirmed := {"hardware": lib.affirming, "executables": lib.affirming, "configuration": lib.affirming, "runtime_opaque": lib.affirming}

result := lib.result(findings, affirmed)
