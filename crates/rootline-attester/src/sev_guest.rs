//! SEV-SNP evidence through `/dev/sev-guest` (the SNP_GET_REPORT ioctl), the
//! fallback for kernels without configfs-tsm.
//!
//! The ioctl itself is the only unsafe code in the workspace; it lives in
//! [`ioctl`] with a SAFETY comment on its one block, behind the
//! [`SevGuestDevice`] trait so the response handling is tested against
//! recorded responses. Structures are the kernel's `include/uapi/linux/sev-guest.h`
//! and the SNP firmware ABI's MSG_REPORT_RSP (status, report size, 24
//! reserved bytes, the report).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{Attester, Error};

/// The device node.
pub const DEVICE: &str = "/dev/sev-guest";
/// The response buffer the kernel fills (`struct snp_report_resp`).
pub const RESP_LEN: usize = 4000;

/// An ioctl failure: the errno and what firmware and hypervisor said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlError {
    /// errno of the ioctl.
    pub errno: i32,
    /// `exitinfo2`: firmware error (low 32 bits) and VMM error (high 32 bits).
    pub exitinfo2: u64,
}

/// Something that answers SNP_GET_REPORT.
pub trait SevGuestDevice: Send {
    /// Asks for a report over `user_data` at `vmpl`; returns the raw
    /// 4000-byte response.
    fn get_report(&mut self, user_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, IoctlError>;
}

/// Extracts the report from a MSG_REPORT_RSP, checking the status and size.
pub fn parse_response(resp: &[u8]) -> Result<Vec<u8>, Error> {
    let bad =
        |e: rootline_core::CodecError| Error::malformed("sev-guest report response", e.to_string());
    let mut r = rootline_core::Reader::new(resp);
    let status = r.u32_le("status").map_err(bad)?;
    if status != 0 {
        return Err(Error::malformed(
            "sev-guest report response",
            format!("firmware status {status:#x}"),
        ));
    }
    let size = r.u32_le("report_size").map_err(bad)?;
    r.reserved_zero(24, "reserved").map_err(bad)?;
    let size = usize::try_from(size).map_err(|_| Error::malformed("report_size", "too large"))?;
    if size < 1184 {
        return Err(Error::malformed(
            "sev-guest report response",
            format!("report_size {size}; an SNP report is at least 1184 bytes"),
        ));
    }
    Ok(r.take(size, "report").map_err(bad)?.to_vec())
}

/// `/dev/sev-guest` as an evidence source.
pub struct SevGuestAttester {
    /// The device.
    pub device: Box<dyn SevGuestDevice>,
    /// The VMPL to request the report at (0 for a guest without SVSM).
    pub vmpl: u32,
}

impl std::fmt::Debug for SevGuestAttester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SevGuestAttester")
            .field("vmpl", &self.vmpl)
            .finish_non_exhaustive()
    }
}

impl SevGuestAttester {
    /// Opens `/dev/sev-guest`.
    pub fn open() -> Result<Self, Error> {
        Ok(Self {
            device: Box::new(ioctl::DevSevGuest::open(std::path::Path::new(DEVICE))?),
            vmpl: 0,
        })
    }
}

impl SevGuestAttester {
    /// The raw report for `report_data` (at most 64 bytes, zero-padded).
    fn report(&mut self, report_data: &[u8]) -> Result<Vec<u8>, Error> {
        if report_data.len() > 64 {
            return Err(Error::malformed("report data", "longer than 64 bytes"));
        }
        let mut user = [0u8; 64];
        user.iter_mut().zip(report_data).for_each(|(d, s)| *d = *s);
        let resp = self.device.get_report(&user, self.vmpl).map_err(|e| {
            Error::malformed(
                "SNP_GET_REPORT",
                format!(
                    "errno {}, firmware error {:#x}, vmm error {:#x}",
                    e.errno,
                    e.exitinfo2 & 0xffff_ffff,
                    e.exitinfo2 >> 32
                ),
            )
        })?;
        parse_response(&resp)
    }
}

impl Attester for SevGuestAttester {
    fn tee(&self) -> &str {
        "snp"
    }

    fn evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        let report = self.report(report_data)?;
        // The same JSON form as a configfs-tsm capture, without certificates
        // (the verifier takes the VCEK from its collateral).
        Ok(json!({"provider": "sev_guest", "outblob": STANDARD.encode(report)}))
    }

    fn guest_components_evidence(&mut self, report_data: &[u8]) -> Result<Value, Error> {
        let report = self.report(report_data)?;
        crate::tsm::snp_guest_components(&report, None)
    }
}

#[allow(unsafe_code)]
pub mod ioctl {
    //! The SNP_GET_REPORT ioctl on `/dev/sev-guest`.

    use std::fs::{File, OpenOptions};
    use std::os::fd::AsRawFd as _;
    use std::path::Path;

    use super::{IoctlError, RESP_LEN, SevGuestDevice};
    use crate::Error;

    /// `struct snp_report_req`.
    #[repr(C)]
    struct ReportReq {
        user_data: [u8; 64],
        vmpl: u32,
        rsvd: [u8; 28],
    }

    /// `struct snp_guest_request_ioctl`.
    #[repr(C)]
    struct GuestRequest {
        msg_version: u8,
        req_data: u64,
        resp_data: u64,
        exitinfo2: u64,
    }

    /// `_IOWR('S', 0x0, struct snp_guest_request_ioctl)`.
    const SNP_GET_REPORT: u64 =
        (3 << 30) | ((size_of::<GuestRequest>() as u64) << 16) | (0x53 << 8);

    /// The open device.
    #[derive(Debug)]
    pub struct DevSevGuest {
        file: File,
    }

    impl DevSevGuest {
        /// Opens the device read-write.
        pub fn open(path: &Path) -> Result<Self, Error> {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(Error::io(path.display()))?;
            Ok(Self { file })
        }
    }

    impl SevGuestDevice for DevSevGuest {
        fn get_report(&mut self, user_data: &[u8; 64], vmpl: u32) -> Result<Vec<u8>, IoctlError> {
            let req = ReportReq {
                user_data: *user_data,
                vmpl,
                rsvd: [0; 28],
            };
            let mut resp = vec![0u8; RESP_LEN];
            let mut io = GuestRequest {
                msg_version: 1,
                req_data: std::ptr::from_ref(&req) as u64,
                resp_data: resp.as_mut_ptr() as u64,
                exitinfo2: 0,
            };
            // SAFETY: the fd is an open /dev/sev-guest; `io` is a properly
            // laid out `snp_guest_request_ioctl` whose req_data points at a
            // live `snp_report_req` and resp_data at a writable buffer of
            // RESP_LEN (4000) bytes, the size of `snp_report_resp`; all three
            // outlive the call, and the kernel writes only within them.
            let rc = unsafe {
                libc::ioctl(
                    self.file.as_raw_fd(),
                    SNP_GET_REPORT as libc::c_ulong,
                    &mut io as *mut GuestRequest,
                )
            };
            if rc < 0 {
                return Err(IoctlError {
                    errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
                    exitinfo2: io.exitinfo2,
                });
            }
            Ok(resp)
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn ioctl_number_matches_the_kernel_header() {
            // _IOWR('S', 0, 32 bytes) as linux/sev-guest.h defines it.
            assert_eq!(super::SNP_GET_REPORT, 0xC020_5300);
            assert_eq!(size_of::<super::ReportReq>(), 96);
        }
    }
}
