# Default appraisal policy for Arm CCA realms (strict).
#
# Requires the platform to be in a secured lifecycle state (0x3000-0x30ff,
# RMM A7.2.3.2); requires the realm initial measurement among the reference
# values cca.realm.initial_measurement; every other stored cca.* reference
# value (the extensible measurements cca.realm.rem0..3, the personalization
# value, the platform implementation ID and configuration...) must match too.
package rootline.appraisal

import data.rootline.lib
import rego.v1

required := {"cca.realm.initial_measurement"}

component(k) := "executables" if {
	k in {"cca.realm.initial_measurement", "cca.realm.rem0", "cca.realm.rem1", "cca.realm.rem2", "cca.realm.rem3"}
} else := "hardware" if {
	startswith(k, "cca.platform.")
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

# A platform outside the secured lifecycle states (not yet provisioned,
# debug, decommissioned) does not protect the realm.
findings contains f if {
	lc := input.claims["cca.platform.lifecycle"]
	not secured(lc)
	not object.get(data.settings, "allow_cca_lifecycle_not_secured", false) == true
	f := {
		"component": "hardware",
		"key": "cca.platform.lifecycle",
		"value": lib.unsafe_hw,
		"message": sprintf("the platform lifecycle is 0x%x, not a secured state (0x3000-0x30ff); set allow_cca_lifecycle_not_secured to accept it", [lc]),
	}
}

secured(lc) if {
	lc >= 12288
	lc <= 12543
}

findings contains f if some f in lib.unverified

affirmed := {"hardware": lib.affirming, "executables": lib.affirming, "configuration": lib.affirming, "runtime_opaque": lib.affirming}

result := lib.result(findings, affirmed)
