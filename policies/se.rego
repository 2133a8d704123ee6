# Default appraisal policy for IBM Z Secure Execution guests (strict).
#
# The measurement (an HMAC only the Ultravisor and the relying party can
# compute) proves which image runs; this policy says which images are good:
# the SE header tag se.tag must be among the reference values (it names the
# image; the page, address and tweak list digests are bound to it by the
# header). Every other stored se.* reference value (the image or
# attestation host-key hashes se.image_phkh / se.attestation_phkh, which
# say which machines may run it; the configuration UID se.cuid; the list
# digests) must match too.
package rootline.appraisal

import data.rootline.lib
import rego.v1

required := {"se.tag"}

component(k) := "executables" if {
	k in {"se.tag", "se.page_list_digest", "se.address_list_digest", "se.tweak_list_digest"}
} else := "hardware" if {
	k in {"se.image_phkh", "se.attestation_phkh", "se.firmware_state"}
} else := "configuration"

findings contains object.union(f, {"component": component(f.key)}) if {
	some f in lib.mismatches | lib.missing(required)
}

findings contains f if some f in lib.unverified

affirmed := {"hardware": lib.affirming, "executables": lib.affirming, "configuration": lib.affirming, "runtime_opaque": lib.affirming}

result := lib.result(findings, affirmed)
