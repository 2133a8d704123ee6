//! RTMR arithmetic, for callers that know the event list of a boot: which
//! register a firmware measurement lands in, one extend, and the replay of
//! a list of event digests. No RTMR value is predicted from files here;
//! the crate docs say why.
//!
//! An RTMR starts as 48 zero bytes; TDG.MR.RTMR.EXTEND sets it to
//! SHA-384(RTMR || digest) (Intel TDX Module ABI, TDG.MR.RTMR.EXTEND).
//! Firmware measures with SHA-384 of the event data, like a TPM's SHA-384
//! bank, into the register edk2's `MapPcrToMrIndex` picks for the PCR it
//! would have used (OvmfPkg `TdTcg2Dxe`, MdePkg `TdxMeasurementLib`).

use aws_lc_rs::digest;

/// An RTMR's or an event digest's 48 bytes.
pub type Digest384 = [u8; 48];

/// The RTMR index (0..=2) that edk2's EFI_CC_MEASUREMENT_PROTOCOL uses for
/// a TPM PCR, or `None` for PCR 0 (MRTD, which firmware cannot extend) and
/// PCRs above 15. The table (edk2 `MapPcrToMrIndex`): PCR 1 and 7 to
/// RTMR\[0\], PCR 2 to 6 to RTMR\[1\], PCR 8 to 15 to RTMR\[2\] (the CC MR index
/// is the RTMR index plus one).
pub fn rtmr_for_pcr(pcr: u32) -> Option<usize> {
    match pcr {
        1 | 7 => Some(0),
        2..=6 => Some(1),
        8..=15 => Some(2),
        _ => None,
    }
}

/// SHA-384 of `data`: the digest an event over `data` extends.
pub fn event_digest(data: &[u8]) -> Digest384 {
    let d = digest::digest(&digest::SHA384, data);
    let mut out = [0u8; 48];
    for (o, b) in out.iter_mut().zip(d.as_ref()) {
        *o = *b;
    }
    out
}

/// One TDG.MR.RTMR.EXTEND: SHA-384(`register` || `digest`).
pub fn extend(register: &Digest384, digest: &Digest384) -> Digest384 {
    let mut ctx = digest::Context::new(&digest::SHA384);
    ctx.update(register);
    ctx.update(digest);
    let d = ctx.finish();
    let mut out = [0u8; 48];
    for (o, b) in out.iter_mut().zip(d.as_ref()) {
        *o = *b;
    }
    out
}

/// The value of an RTMR after extending each of `digests`, in order, from
/// its reset value (48 zero bytes).
pub fn replay<'a>(digests: impl IntoIterator<Item = &'a Digest384>) -> Digest384 {
    digests
        .into_iter()
        .fold([0u8; 48], |register, d| extend(&register, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_replay_is_the_reset_value() {
        assert_eq!(replay([]), [0u8; 48]);
    }

    #[test]
    fn replay_is_repeated_extend() {
        let a = event_digest(b"a");
        let b = event_digest(b"b");
        assert_eq!(replay([&a, &b]), extend(&extend(&[0; 48], &a), &b));
        let mut cat = [0u8; 96];
        cat[48..].copy_from_slice(&a);
        assert_eq!(replay([&a]), event_digest(&cat));
    }

    #[test]
    fn pcr_mapping_follows_edk2() {
        let got: Vec<Option<usize>> = (0..17).map(rtmr_for_pcr).collect();
        let mut want = vec![
            None,
            Some(0),
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(0),
        ];
        want.extend([Some(2); 8]);
        want.push(None);
        assert_eq!(got, want);
    }
}
