//! TCB-level matching by Intel's rules, over dcap-qvl's parsed TCB info and
//! QE identity types.
//!
//! Intel's QVL (`TcbLevelCheck`, `QuoteVerifier::verify`): levels are sorted
//! by SGX components, then PCE SVN, then TDX components, highest first; the
//! first level that the PCK's CPUSVN/PCESVN (and for TDX the TEE_TCB_SVN,
//! components 0 and 1 left to the TDX module identity when the module major
//! version is non-zero) meet gives the platform status; the TDX module level
//! and the QE level converge into it (only OutOfDate and Revoked components
//! change it); a TD 1.5 is also judged on TEE_TCB_SVN2 (TDRelaunchAdvised).

use std::cmp::Ordering;

use dcap_qvl::{QeIdentity, TcbInfo, TcbLevel, TcbStatus, TcbStatusWithAdvisory};

use crate::Error;
use crate::quote::{EnclaveReport, TdReport};

/// The platform's position in a TCB info.
pub(crate) struct PlatformTcb {
    pub(crate) cpu_svn: [u8; 16],
    pub(crate) pce_svn: u16,
}

/// Sorts TCB levels as Intel's QVL does, whatever order the JSON had.
pub(crate) fn canonicalize(info: &mut TcbInfo) {
    let is_tdx = info.version >= 3 && info.id == "TDX";
    info.tcb_levels.sort_by(|a, b| {
        b.tcb
            .sgx_components
            .cmp(&a.tcb.sgx_components)
            .then_with(|| b.tcb.pce_svn.cmp(&a.tcb.pce_svn))
            .then_with(|| {
                if is_tdx {
                    b.tcb.tdx_components.cmp(&a.tcb.tdx_components)
                } else {
                    Ordering::Equal
                }
            })
    });
}

fn converge(platform: TcbStatus, component: TcbStatus) -> TcbStatus {
    TcbStatusWithAdvisory::new(platform, Vec::new())
        .merge(&TcbStatusWithAdvisory::new(component, Vec::new()))
        .status
}

/// Intel QVL `checkForRelaunch`.
fn check_for_relaunch(launch: TcbStatus, current: TcbStatus) -> TcbStatus {
    use TcbStatus::*;
    let cfg = |s| {
        matches!(
            s,
            ConfigurationNeeded
                | OutOfDateConfigurationNeeded
                | ConfigurationAndSWHardeningNeeded
                | TDRelaunchAdvisedConfigurationNeeded
        )
    };
    match (launch, current) {
        (
            OutOfDate | OutOfDateConfigurationNeeded,
            UpToDate | SWHardeningNeeded | ConfigurationNeeded | ConfigurationAndSWHardeningNeeded,
        ) => {
            if cfg(launch) || cfg(current) {
                TDRelaunchAdvisedConfigurationNeeded
            } else {
                TDRelaunchAdvised
            }
        }
        _ => launch,
    }
}

const TCB_INFO_STATUSES: &[TcbStatus] = &[
    TcbStatus::UpToDate,
    TcbStatus::OutOfDate,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::Revoked,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::SWHardeningNeeded,
    TcbStatus::ConfigurationAndSWHardeningNeeded,
];

fn find_level<'a>(
    info: &'a TcbInfo,
    p: &PlatformTcb,
    tee_tcb_svn: Option<&[u8; 16]>,
) -> Result<&'a TcbLevel, Error> {
    for level in &info.tcb_levels {
        let short = level
            .shortfalls(&p.cpu_svn, p.pce_svn, tee_tcb_svn)
            .map_err(|e| Error::Collateral(format!("tcb info level: {e}")))?;
        if short.is_empty() {
            if !TCB_INFO_STATUSES.contains(&level.tcb_status) {
                return Err(Error::Tcb(format!(
                    "unrecognised TCB status {} in TCB info",
                    level.tcb_status
                )));
            }
            return Ok(level);
        }
    }
    Err(Error::Tcb(format!(
        "no matching TCB level: the platform (CPUSVN {}, PCESVN {}{}) is below every level in the TCB info",
        hex::encode(p.cpu_svn),
        p.pce_svn,
        tee_tcb_svn
            .map(|t| format!(", TEE_TCB_SVN {}", hex::encode(t)))
            .unwrap_or_default()
    )))
}

/// TDX: platform level for one TEE_TCB_SVN, converged with the module level.
fn tdx_level(
    info: &TcbInfo,
    p: &PlatformTcb,
    tee_tcb_svn: &[u8; 16],
) -> Result<TcbStatusWithAdvisory, Error> {
    let level = find_level(info, p, Some(tee_tcb_svn))?;
    let mut out = TcbStatusWithAdvisory::new(level.tcb_status, level.advisory_ids.clone());
    let identity = info
        .tdx_module_identity(tee_tcb_svn)
        .map_err(|e| Error::Mismatch(format!("{e}")))?;
    if let Some(identity) = identity {
        let module = identity
            .tcb_levels
            .iter()
            .find(|l| l.shortfall(tee_tcb_svn).is_none())
            .ok_or_else(|| {
                Error::Tcb(format!(
                    "TDX module ISVSVN {} is below every level of {}",
                    tee_tcb_svn[0], identity.id
                ))
            })?;
        if !matches!(
            module.tcb_status,
            TcbStatus::UpToDate | TcbStatus::OutOfDate | TcbStatus::Revoked
        ) {
            return Err(Error::Tcb(format!(
                "unrecognised TCB status {} in {}",
                module.tcb_status, identity.id
            )));
        }
        out = out.merge(&TcbStatusWithAdvisory::new(
            module.tcb_status,
            module.advisory_ids.clone(),
        ));
    }
    Ok(out)
}

fn decode_fixed<const N: usize>(s: &str, what: &str) -> Result<[u8; N], Error> {
    let v = hex::decode(s).map_err(|e| Error::Collateral(format!("{what}: {e}")))?;
    v.try_into()
        .map_err(|_| Error::Collateral(format!("{what}: expected {N} bytes")))
}

/// Checks MRSIGNERSEAM and SEAMATTRIBUTES against the TCB info's TDX module
/// (or the module identity for the module's major version).
fn tdx_module_identity(info: &TcbInfo, td: &TdReport) -> Result<(), Error> {
    let base = info
        .tdx_module
        .as_ref()
        .ok_or_else(|| Error::Collateral("TDX TCB info has no tdxModule".into()))?;
    let (mut signer, mut attrs, mut mask) =
        (&base.mrsigner, &base.attributes, &base.attributes_mask);
    if let Some(id) = info
        .tdx_module_identity(&td.tee_tcb_svn)
        .map_err(|e| Error::Mismatch(format!("{e}")))?
    {
        signer = &id.mrsigner;
        attrs = &id.attributes;
        mask = &id.attributes_mask;
    }
    let signer: [u8; 48] = decode_fixed(signer, "tdxModule mrsigner")?;
    let attrs: [u8; 8] = decode_fixed(attrs, "tdxModule attributes")?;
    let mask: [u8; 8] = decode_fixed(mask, "tdxModule attributesMask")?;
    if td.mr_signer_seam != signer {
        return Err(Error::Mismatch(format!(
            "mr_signer_seam {} is not the TDX module signer {} of the TCB info",
            hex::encode(td.mr_signer_seam),
            hex::encode(signer)
        )));
    }
    for ((a, m), have) in attrs.iter().zip(mask.iter()).zip(td.seam_attributes.iter()) {
        if a & m != have & m || have & !m != 0 {
            return Err(Error::Mismatch(format!(
                "seam_attributes {} do not match the TDX module's {} under mask {}",
                hex::encode(td.seam_attributes),
                hex::encode(attrs),
                hex::encode(mask)
            )));
        }
    }
    Ok(())
}

/// The platform status (TCB info side) for a quote body.
pub(crate) fn platform_status(
    info: &TcbInfo,
    p: &PlatformTcb,
    td: Option<&TdReport>,
) -> Result<(TcbStatusWithAdvisory, Option<TcbStatus>), Error> {
    match td {
        None => {
            if info.id != "SGX" || info.version < 2 {
                return Err(Error::Mismatch(format!(
                    "SGX quote with {} TCB info version {}",
                    info.id, info.version
                )));
            }
            let l = find_level(info, p, None)?;
            Ok((
                TcbStatusWithAdvisory::new(l.tcb_status, l.advisory_ids.clone()),
                None,
            ))
        }
        Some(td) => {
            if info.id != "TDX" || info.version < 3 {
                return Err(Error::Mismatch(format!(
                    "TDX quote with {} TCB info version {}",
                    info.id, info.version
                )));
            }
            let launch = tdx_level(info, p, &td.tee_tcb_svn)?;
            tdx_module_identity(info, td)?;
            let current = match &td.tee_tcb_svn2 {
                Some(svn2) => Some(tdx_level(info, p, svn2)?.status),
                None => None,
            };
            Ok((launch, current))
        }
    }
}

/// Matches the QE report against the QE identity; returns the QE level's status.
pub(crate) fn qe_status(
    qe: &EnclaveReport,
    id: &QeIdentity,
    tdx: bool,
) -> Result<TcbStatusWithAdvisory, Error> {
    let (want_id, versions): (&str, &[u8]) = if tdx {
        ("TD_QE", &[2, 3])
    } else {
        ("QE", &[2])
    };
    if id.id != want_id || !versions.contains(&id.version) {
        return Err(Error::Mismatch(format!(
            "QE identity is {} version {}, the quote needs {want_id} version {versions:?}",
            id.id, id.version
        )));
    }
    if qe.mr_signer != id.mrsigner {
        return Err(Error::Mismatch(format!(
            "QE mr_signer {} is not the QE identity's {}",
            hex::encode(qe.mr_signer),
            hex::encode(id.mrsigner)
        )));
    }
    if qe.isv_prod_id != id.isvprodid {
        return Err(Error::Mismatch(format!(
            "QE isv_prod_id {} is not the QE identity's {}",
            qe.isv_prod_id, id.isvprodid
        )));
    }
    let mask = u32::from_le_bytes(id.miscselect_mask);
    if qe.misc_select & mask != u32::from_le_bytes(id.miscselect) & mask {
        return Err(Error::Mismatch(format!(
            "QE misc_select {:08x} does not match the QE identity under its mask",
            qe.misc_select
        )));
    }
    for ((a, m), have) in id
        .attributes
        .iter()
        .zip(id.attributes_mask.iter())
        .zip(qe.attributes.iter())
    {
        if a & m != have & m {
            return Err(Error::Mismatch(format!(
                "QE attributes {} do not match the QE identity under its mask",
                hex::encode(qe.attributes)
            )));
        }
    }
    // A debug QE could sign anything: never accept one, whatever the mask says.
    if qe.debug() {
        return Err(Error::Mismatch("the QE runs in debug mode".into()));
    }
    for l in &id.tcb_levels {
        if qe.isv_svn >= l.tcb.isvsvn {
            if !matches!(
                l.tcb_status,
                TcbStatus::UpToDate
                    | TcbStatus::OutOfDate
                    | TcbStatus::ConfigurationNeeded
                    | TcbStatus::Revoked
                    | TcbStatus::OutOfDateConfigurationNeeded
            ) {
                return Err(Error::Tcb(format!(
                    "unrecognised TCB status {} in QE identity",
                    l.tcb_status
                )));
            }
            return Ok(TcbStatusWithAdvisory::new(
                l.tcb_status,
                l.advisory_ids.clone(),
            ));
        }
    }
    Err(Error::Tcb(format!(
        "QE isv_svn {} is below every level of the QE identity",
        qe.isv_svn
    )))
}

/// Final status: platform merged with QE, then the TD 1.5 relaunch rule.
pub(crate) fn final_status(
    platform: TcbStatusWithAdvisory,
    current: Option<TcbStatus>,
    qe: &TcbStatusWithAdvisory,
) -> (TcbStatusWithAdvisory, Option<TcbStatus>) {
    let mut f = platform.merge(qe);
    let current = current.map(|c| converge(c, qe.status));
    if let Some(c) = current {
        if f.status != TcbStatus::Revoked && c != TcbStatus::Revoked {
            f.status = check_for_relaunch(f.status, c);
        }
    }
    (f, current)
}
