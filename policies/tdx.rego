# Default appraisal policy for Intel TDX (strict).
#
# Refuses a TD with the DEBUG attribute; requires TCB status UpToDate
# (SWHardeningNeeded only with the setting allow_sw_hardening_needed); requires
# MRTD and RTMR0-2 among the reference values tdx.mr_td, tdx.rtmr0..2; every
# other stored tdx.* reference value (rtmr3, mr_config_id, mr_owner,
# td_attributes, xfam, mr_seam...) must match too.
package rootline.appraisal

import data.rootline.lib
import rego.v1

required := {"tdx.mr_td", "tdx.rtmr0", "tdx.rtmr1", "tdx.rtmr2"}

component(k) := "executables" if {
	k in {"tdx.mr_td", "tdx.rtmr0", "tdx.rtmr1", "tdx.rtmr2", "tdx.rtmr3"}
} else := "hardware" if {
	k in {"tdx.mr_seam", "tdx.mr_signer_seam", "tdx.tee_tcb_svn", "tdx.fmspc"}
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.debug("tdx.debug_allowed")

findings contains f if some f in lib.unverified

findings contains f if some f in lib.tcb

affirmed := {"hardware": lib.affirming, "executables": lib.affirming, "configuration": lib.affirming, "runtime_opaque": lib.affirming}

result := lib.result(findings, affirmed)
