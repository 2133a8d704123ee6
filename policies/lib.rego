# Helpers shared by the default appraisal policies (package rootline.lib).
#
# rootline compiles this module beside every appraisal policy, default or
# custom, so a policy may `import data.rootline.lib`. It turns reference-value
# checks into findings: each finding names the AR4SI trust-vector component it
# lowers, the AR4SI value it sets, the reference key concerned and a sentence a
# person can act on. A component's value is the worst finding for it, or the
# policy's affirming value when nothing was found; a component that no rule
# judged stays unset (AR4SI 0, "no claim"), so an unknown claim never affirms.
package rootline.lib

import rego.v1

# The eight AR4SI trustworthiness claims, in snake_case.
components := [
	"instance_identity",
	"configuration",
	"executables",
	"file_system",
	"hardware",
	"runtime_opaque",
	"storage_opaque",
	"sourced_data",
]

# AR4SI values used below (draft-ietf-rats-ar4si section 2.3).
affirming := 2

unrecognized_rt := 33

unsafe_hw := 32

contraindicated := 96

unrecognized_hw := 97

crypto_failed := 99

# The accepted values of reference key k: an empty array when none is stored.
accepted(k) := object.get(data.reference, k, [])

# Reference keys stored for this device's kind ("snp." for SNP...) and the
# claims it carries: complete rules, computed once per evaluation.
own_keys := {k |
	some k, _ in data.reference
	startswith(k, sprintf("%s.", [input.tee]))
	not contains(k, "tpm.event.")
}

# A PCR reference key split into [prefix, bank, index]: tpm.pcr.BANK.N (TPM
# and GCP, prefix "") or KIND.tpm.pcrs.BANK.N (the vTPM of an Azure
# confidential VM, prefix "KIND."). Undefined for any other key.
pcr_key(k) := ["", parts[2], parts[3]] if {
	parts := split(k, ".")
	count(parts) == 4
	parts[0] == "tpm"
	parts[1] == "pcr"
} else := [sprintf("%s.", [parts[0]]), parts[3], parts[4]] if {
	parts := split(k, ".")
	count(parts) == 5
	parts[1] == "tpm"
	parts[2] == "pcrs"
}

# For a PCR reference key whose value does not match: the first event
# extending that PCR whose digest is not among the accepted events
# [KIND.]tpm.event.BANK.N, as a clause to append to the reason; empty when
# no accepted events are stored or every event is accepted.
first_difference(k) := msg if {
	[prefix, bank, idx] := pcr_key(k)
	acc := accepted(sprintf("%stpm.event.%s.%s", [prefix, bank, idx]))
	count(acc) > 0
	evs := object.get(input.claims, sprintf("%stpm.events.%s.%s", [prefix, bank, idx]), [])
	bad := [e | some e in evs; not e.digest in acc]
	count(bad) > 0
	e := bad[0]
	msg := sprintf("; the first differing event is #%d, %s %s", [e.index, e.type, e.event])
} else := ""

claim_keys := {k | some k, _ in input.claims}

# A readable name for a reference key: "PCR 4 sha256" for tpm.pcr.sha256.4
# and azure-snp.tpm.pcrs.sha256.4.
describe(k) := sprintf("PCR %s %s", [idx, bank]) if {
	[_, bank, idx] := pcr_key(k)
} else := k

# Stored reference values of this kind that the evidence does not match, or
# whose claim the evidence does not carry at all. Findings carry no component
# yet: the calling policy adds it (Rego has no function arguments that are
# functions).
mismatches := {f |
	some k in own_keys
	vals := accepted(k)
	count(vals) > 0
	observed := input.claims[k]
	not observed in vals
	f := {
		"key": k,
		"value": contraindicated,
		"message": sprintf("%s is %v, not one of the %d accepted values of %s%s", [describe(k), observed, count(vals), k, first_difference(k)]),
	}
} | {f |
	some k in own_keys
	count(accepted(k)) > 0
	not k in claim_keys
	f := {
		"key": k,
		"value": contraindicated,
		"message": sprintf("the evidence carries no %s claim, but %d accepted values of %s are stored", [describe(k), count(accepted(k)), k]),
	}
}

# Required reference keys with no accepted value stored: the measurement cannot
# be recognised, and the reason says how to fix it.
missing(required) := {f |
	some k in required
	count(accepted(k)) == 0
	observed := object.get(input.claims, k, "absent from the evidence")
	f := {
		"key": k,
		"value": unrecognized_rt,
		"message": sprintf("no reference value %s is stored, so %s (%v) cannot be recognised; accept it with `rootline reference add %s %v`", [k, describe(k), observed, k, observed]),
	}
}

# Evidence that failed verification: nothing in it can be trusted.
unverified contains f if {
	not input.verified
	f := {
		"component": "hardware",
		"value": crypto_failed,
		"message": sprintf("the evidence failed verification: %v", [object.get(input, "error", "no reason given")]),
	}
}

# Debugging lets the host read the guest's memory: refused unless a setting
# says otherwise.
debug(key) := {f |
	input.claims[key] == true
	not object.get(data.settings, "allow_debug", false) == true
	f := {
		"component": "configuration",
		"key": key,
		"value": contraindicated,
		"message": sprintf("%s is true: the TEE allows debugging, so the host can read its memory (set allow_debug in the settings to accept it)", [key]),
	}
}

# Intel TCB status: UpToDate is required; SWHardeningNeeded only when the
# setting allow_sw_hardening_needed is true.
tcb contains f if {
	status := object.get(input, "tcb_status", null)
	status != "UpToDate"
	not sw_hardening_accepted(status)
	f := {
		"component": "hardware",
		"value": contraindicated,
		"message": sprintf("TCB status is %v (advisories: %v); only UpToDate is accepted%s", [status, concat(", ", object.get(input, "advisory_ids", [])), sw_hint(status)]),
	}
}

sw_hardening_accepted(status) if {
	status == "SWHardeningNeeded"
	object.get(data.settings, "allow_sw_hardening_needed", false) == true
}

sw_hint(status) := ", or SWHardeningNeeded with the setting allow_sw_hardening_needed" if {
	status == "SWHardeningNeeded"
} else := ""

# The worst value found for a component, or its affirming value, or 0.
value_of(findings, affirmed, c) := max(vs) if {
	vs := {f.value | some f in findings; f.component == c}
	count(vs) > 0
} else := object.get(affirmed, c, 0)

# The result every appraisal policy returns.
result(findings, affirmed) := {
	"trust_vector": {c: v |
		some c in components
		v := value_of(findings, affirmed, c)
		v != 0
	},
	"reasons": [r |
		some f in findings
		r := object.remove(f, ["value"])
	],
}
