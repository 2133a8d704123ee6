# Default appraisal policy for AMD SEV-SNP (strict).
#
# Refuses a guest policy that allows debugging; requires the launch
# measurement among the reference values snp.measurement; every other stored
# snp.* reference value (host_data, chip_id, family_id...) must match too.
# Settings (data.settings): allow_debug, snp_min_tcb {bootloader, tee, snp,
# microcode}: the reported TCB must be at least this.
package rootline.appraisal

import data.rootline.lib
import rego.v1

required := {"snp.measurement"}

component(k) := "executables" if k == "snp.measurement"

else := "instance_identity" if k == "snp.chip_id"

else := "hardware" if startswith(k, "snp.reported_tcb.")

else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.debug("snp.debug_allowed")

findings contains f if some f in lib.unverified

findings contains f if {
	some part, min in object.get(data.settings, "snp_min_tcb", {})
	have := object.get(input.claims, sprintf("snp.reported_tcb.%s", [part]), -1)
	have < min
	f := {
		"component": "hardware",
		"key": sprintf("snp.reported_tcb.%s", [part]),
		"value": lib.contraindicated,
		"message": sprintf("reported TCB %s is %v, below the minimum %v of the setting snp_min_tcb", [part, have, min]),
	}
}

# What a clean, verified report affirms: genuine AMD hardware, the launch
# measurement, the guest configuration, encrypted memory. Instance identity is
# only judged when snp.chip_id reference values are stored.
affirmed := object.union(
	{"hardware": lib.affirming, "executables": lib.affirming, "configuration": lib.affirming, "runtime_opaque": lib.affirming},
	{"instance_identity": lib.affirming | count(lib.accepted("snp.chip_id")) > 0},
)

result := lib.result(findings, affirmed)
