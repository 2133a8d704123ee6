//! The LAUNCH_MEASURE check: the PSP's HMAC over the launch digest, under
//! the TIK only the PSP and the guest owner hold.
//!
//! SEV API specification (AMD pub. 55766), "LAUNCH_MEASURE", for API 0.17
//! and later (AMD's `sev-tool` `calculate_measurement`, the `sev` crate's
//! `Session::verify`, `sevctl measurement build`):
//!
//! `MEASURE = HMAC-SHA256(TIK, 0x04 || API_MAJOR || API_MINOR || BUILD ||
//! POLICY (u32 LE) || DIGEST (32) || MNONCE (16))`
//!
//! The host reports API_MAJOR, API_MINOR and BUILD (QEMU `query-sev`) and
//! MEASURE || MNONCE (QEMU `query-sev-launch-measure`, base64); it cannot
//! lie about any of them without the HMAC failing. DIGEST is SHA-256 over
//! everything LAUNCH_UPDATE_DATA and LAUNCH_UPDATE_VMSA encrypted, which the
//! guest owner predicts from the firmware, kernel, initrd, command line and
//! (SEV-ES) vCPUs: `rootline measure sev|sev-es`.
//!
//! A match yields [`VerifiedLaunch`], the only value from which a
//! LAUNCH_SECRET packet can be built ([`crate::secret`]).

use std::fmt;

use aws_lc_rs::hmac;
use rootline_core::Reader;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::session::{GuestPolicy, LaunchSession};

/// The firmware version the host reports for the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformVersion {
    /// API major version.
    pub api_major: u8,
    /// API minor version.
    pub api_minor: u8,
    /// Firmware build.
    pub build: u8,
}

impl fmt::Display for PlatformVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} build {}",
            self.api_major, self.api_minor, self.build
        )
    }
}

/// The LAUNCH_MEASURE result: MEASURE (the HMAC) and MNONCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchMeasurement {
    /// The HMAC the PSP computed.
    pub measure: [u8; 32],
    /// The PSP's nonce, part of the HMAC input.
    pub mnonce: [u8; 16],
}

impl LaunchMeasurement {
    /// Parses the 48 bytes QEMU reports (after base64 decoding):
    /// MEASURE || MNONCE.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let m = || Error::malformed("LAUNCH_MEASURE blob");
        let mut r = Reader::new(bytes);
        let measure = r.array::<32>("MEASURE").map_err(m())?;
        let mnonce = r.array::<16>("MNONCE").map_err(m())?;
        r.finish("LAUNCH_MEASURE blob").map_err(m())?;
        Ok(LaunchMeasurement { measure, mnonce })
    }

    /// MEASURE || MNONCE.
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        for (o, b) in out
            .iter_mut()
            .zip(self.measure.iter().chain(self.mnonce.iter()))
        {
            *o = *b;
        }
        out
    }
}

/// The first API version whose measurement has the layout above; earlier
/// Naples firmware measured `POLICY || DIGEST || MNONCE` only.
const MIN_API: (u8, u8) = (0, 17);

/// The bytes the LAUNCH_MEASURE HMAC covers, in the layout above: for a
/// caller that computes or checks the HMAC itself (a PSP model, `rootline
/// bench verify`'s raw floor beside [`LaunchSession::verify_measurement`]).
pub fn measurement_input(
    version: PlatformVersion,
    policy: GuestPolicy,
    digest: &[u8; 32],
    mnonce: &[u8; 16],
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(4 + 4 + 32 + 16);
    msg.extend_from_slice(&[0x04, version.api_major, version.api_minor, version.build]);
    msg.extend_from_slice(&policy.0.to_le_bytes());
    msg.extend_from_slice(digest);
    msg.extend_from_slice(mnonce);
    msg
}

impl LaunchSession {
    /// Checks the PSP's measurement against each acceptable launch digest
    /// (the reference values), consuming the session: on a match its TEK and
    /// TIK move into the [`VerifiedLaunch`]; on a mismatch they are wiped.
    pub fn verify_measurement(
        self,
        version: PlatformVersion,
        measurement: &LaunchMeasurement,
        expected_digests: &[[u8; 32]],
    ) -> Result<VerifiedLaunch> {
        if (version.api_major, version.api_minor) < MIN_API {
            return Err(Error::unsupported(
                "SEV API version",
                format!(
                    "{}.{}: LAUNCH_MEASURE before 0.17 does not cover the firmware version",
                    version.api_major, version.api_minor
                ),
            ));
        }
        if expected_digests.is_empty() {
            return Err(Error::invalid("expected launch digests", "none given"));
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.tik.as_slice());
        let matched = expected_digests.iter().find(|d| {
            let msg = measurement_input(version, self.policy, d, &measurement.mnonce);
            hmac::verify(&key, &msg, &measurement.measure).is_ok()
        });
        let Some(digest) = matched else {
            return Err(Error::Measurement(format!(
                "the LAUNCH_MEASURE HMAC matches none of the {} expected launch digests for policy {} on firmware {version}",
                expected_digests.len(),
                self.policy
            )));
        };
        Ok(VerifiedLaunch {
            policy: self.policy,
            version,
            digest: *digest,
            measurement: *measurement,
            tek: self.tek,
            tik: self.tik,
        })
    }
}

/// A launch whose measurement matched an expected digest under this
/// session's TIK. Only [`LaunchSession::verify_measurement`] makes one, and
/// only a `VerifiedLaunch` builds a LAUNCH_SECRET packet.
pub struct VerifiedLaunch {
    pub(crate) policy: GuestPolicy,
    pub(crate) version: PlatformVersion,
    pub(crate) digest: [u8; 32],
    pub(crate) measurement: LaunchMeasurement,
    pub(crate) tek: Zeroizing<[u8; 16]>,
    pub(crate) tik: Zeroizing<[u8; 16]>,
}

impl fmt::Debug for VerifiedLaunch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedLaunch")
            .field("policy", &self.policy)
            .field("version", &self.version)
            .field("digest", &hex::encode(self.digest))
            .finish_non_exhaustive()
    }
}

impl VerifiedLaunch {
    /// The policy the guest was launched with.
    pub fn policy(&self) -> GuestPolicy {
        self.policy
    }

    /// The firmware version the measurement covers.
    pub fn version(&self) -> PlatformVersion {
        self.version
    }

    /// The expected launch digest that matched.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// The measurement that was checked.
    pub fn measurement(&self) -> &LaunchMeasurement {
        &self.measurement
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(tik: [u8; 16], policy: u32) -> LaunchSession {
        LaunchSession {
            policy: GuestPolicy(policy),
            tek: Zeroizing::new([0; 16]),
            tik: Zeroizing::new(tik),
        }
    }

    /// `sev` 8.0.0, src/session/mod.rs, test `initialized::verify`: API
    /// 0.18 build 15, policy 0, the digest of nothing.
    #[test]
    fn matches_the_sev_crate() {
        let tik: [u8; 16] = hex::decode("66320db73158a35a255d051758e95ed4")
            .unwrap()
            .try_into()
            .unwrap();
        let m = LaunchMeasurement {
            measure: hex::decode(
                "6faab2daae389bcd3405a05d6cafe33c0414f7bedd0bae19ba5f38b7fd1664ea",
            )
            .unwrap()
            .try_into()
            .unwrap(),
            mnonce: hex::decode("4fbe0bedbad6c86ae8f68971d103e554")
                .unwrap()
                .try_into()
                .unwrap(),
        };
        let digest: [u8; 32] =
            hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .unwrap()
                .try_into()
                .unwrap();
        let v = PlatformVersion {
            api_major: 0,
            api_minor: 0x12,
            build: 0x0f,
        };
        let ok = session(tik, 0)
            .verify_measurement(v, &m, &[[1; 32], digest])
            .unwrap();
        assert_eq!(ok.digest(), digest);
        // Another build, policy or nonce: refused.
        let e = session(tik, 0)
            .verify_measurement(PlatformVersion { build: 0x10, ..v }, &m, &[digest])
            .unwrap_err();
        assert!(matches!(e, Error::Measurement(_)), "{e}");
        assert!(
            session(tik, 1)
                .verify_measurement(v, &m, &[digest])
                .is_err()
        );
        let mut m2 = m;
        m2.mnonce[0] ^= 1;
        assert!(
            session(tik, 0)
                .verify_measurement(v, &m2, &[digest])
                .is_err()
        );
    }

    /// `sevctl` tests/measurementbuild.rs (virtee/sevctl 8b47f3a6): the
    /// `--launch-digest` case (API 1.40 build 40, policy 3), then two cases
    /// whose digests come from `rootline-snp-measure`.
    #[test]
    fn matches_sevctl_measurement_build() {
        let tik: [u8; 16] = include_bytes!("../tests/data/sevctl/measurement-tik1.bin").to_owned();
        // base64 "lswbxWxI9gckya16JQvdFtpYmNO4b+3inAPpqsgoBI7DE/q1EcIWsVBbGy6pkDxA"
        let blob = hex::decode(
            "96cc1bc56c48f60724c9ad7a250bdd16da5898d3b86fede29c03e9aac828048ec313fab511c216b1505b1b2ea9903c40",
        )
        .unwrap();
        let m = LaunchMeasurement::parse(&blob).unwrap();
        // base64 "xkvRAfyaSizgonxAjZIAkR8TmolUabBKQKb6KJCDDSM="
        let digest: [u8; 32] =
            hex::decode("c64bd101fc9a4a2ce0a27c408d9200911f139a895469b04a40a6fa2890830d23")
                .unwrap()
                .try_into()
                .unwrap();
        let v = PlatformVersion {
            api_major: 1,
            api_minor: 40,
            build: 40,
        };
        session(tik, 3)
            .verify_measurement(v, &m, &[digest])
            .unwrap();

        // The `--firmware --kernel --initrd --cmdline` case (sevctl's trimmed
        // OVMF and fake kernel): its HMAC verifies with the digest
        // `rootline-snp-measure` (and sev-snp-measure) predicts for it, in
        // that crate's tests/sev_modes.rs. "h3auYbWQ...PwvDE/q1...kDxA".
        let blob = hex::decode(
            "8776ae61b5909d55bb1062d63781dff52374a0460c3d4dac2b86cb9de7d63f0bc313fab511c216b1505b1b2ea9903c40",
        )
        .unwrap();
        let m = LaunchMeasurement::parse(&blob).unwrap();
        let kernel_digest: [u8; 32] =
            hex::decode("4b47fec6f851487c33714c8a00a832a1b705ad0a7cac4a647388eccfa9f0c570")
                .unwrap()
                .try_into()
                .unwrap();
        session(tik, 3)
            .verify_measurement(v, &m, &[kernel_digest])
            .unwrap();

        // The SEV-ES case (API 1.49 build 6, policy 5, 4 vCPUs with sevctl's
        // VMSAs): the digest is rootline-snp-measure's SEV-ES prediction for
        // 4 EPYC-Milan vCPUs with `VmsaFpu::Zero`. "/o0nzDKE...hQny".
        let blob = hex::decode(
            "fe8d27cc3284e5782d56751958f85479afd6658ad328b13147b282c2e31d6c072dbe959f5d3164db528c6480008509f2",
        )
        .unwrap();
        let m = LaunchMeasurement::parse(&blob).unwrap();
        let es_digest: [u8; 32] =
            hex::decode("847b5ab6db136ea67dc5a95478ebe7e5ebbe93e9e74bdb1284165f9007a4e367")
                .unwrap()
                .try_into()
                .unwrap();
        let v = PlatformVersion {
            api_major: 1,
            api_minor: 49,
            build: 6,
        };
        session(tik, 5)
            .verify_measurement(v, &m, &[es_digest])
            .unwrap();
        // The same launch predicted with the FPU reset state in the VMSAs
        // (sev-snp-measure's model) is another digest: refused.
        let reset: [u8; 32] =
            hex::decode("e30a6bf3bddc6ff62ebc65fe8d10ce71fd920b03c769bd70528c2c606881beb8")
                .unwrap()
                .try_into()
                .unwrap();
        assert!(session(tik, 5).verify_measurement(v, &m, &[reset]).is_err());
    }

    #[test]
    fn old_api_and_empty_expectations_are_refused() {
        let m = LaunchMeasurement::parse(&[0u8; 48]).unwrap();
        let old = PlatformVersion {
            api_major: 0,
            api_minor: 16,
            build: 1,
        };
        assert!(matches!(
            session([0; 16], 0).verify_measurement(old, &m, &[[0; 32]]),
            Err(Error::Unsupported { .. })
        ));
        let v = PlatformVersion {
            api_minor: 17,
            ..old
        };
        assert!(matches!(
            session([0; 16], 0).verify_measurement(v, &m, &[]),
            Err(Error::Invalid { .. })
        ));
        assert!(LaunchMeasurement::parse(&[0u8; 47]).is_err());
        assert!(LaunchMeasurement::parse(&[0u8; 49]).is_err());
    }
}
