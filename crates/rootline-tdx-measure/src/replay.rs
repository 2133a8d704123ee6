//! Replays the TDX module's MRTD computation over the sections a VMM adds.
//!
//! MRTD is one SHA-384 context that TDH.MNG.INIT starts and TDH.MR.FINALIZE
//! closes (Intel TDX Module Base Architecture Specification, "MRTD"; the
//! Linux `tdh_mr_extend()` wrapper's description). In between:
//! - TDH.MEM.PAGE.ADD hashes a 128-byte buffer: `"MEM.PAGE.ADD"` in ASCII,
//!   zero-padded to 16 bytes, the page's GPA as a little-endian `u64`, then
//!   zeros;
//! - TDH.MR.EXTEND hashes a 128-byte buffer, `"MR.EXTEND"` zero-padded to
//!   16 bytes, the chunk's GPA, zeros, followed by the 256 bytes of the
//!   chunk.
//!
//! The order of those calls is the VMM's; see [`PageOrder`].

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use serde::Serialize;

use crate::Error;
use crate::tdvf::{PAGE_SIZE, Section, TdvfLayout, Treatment};

/// TDH.MR.EXTEND measures 256 bytes per call.
pub const MR_EXTEND_CHUNK: usize = 256;
/// Size of the header buffer each call hashes.
const BUFFER: usize = 128;

/// The order in which a VMM issues TDH.MEM.PAGE.ADD and TDH.MR.EXTEND within
/// a section (sections are always replayed in metadata order). Both orders
/// are in use; they give different MRTDs for the same image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PageOrder {
    /// For each page: TDH.MEM.PAGE.ADD, then (MR_EXTEND sections) the
    /// page's 16 TDH.MR.EXTEND calls. Upstream QEMU (10.1, `tdx.c`
    /// `tdx_init_fw_mem_region()`: one KVM_TDX_INIT_MEM_REGION per section)
    /// on upstream KVM (Linux 6.16, `tdx_gmem_post_populate()`: add the
    /// page, then extend it): the default.
    #[default]
    PerPage,
    /// For each section: TDH.MEM.PAGE.ADD of every page, then
    /// TDH.MR.EXTEND over every page. The pre-upstream TDX stacks as two
    /// other predictors model them: dstack-mr (`two_pass_add_pages`, its
    /// default for QEMU 8.x) and mosaik 0.4 (its only order, used for the
    /// Ubuntu 24.04 TDX release's OVMF). Not checked against a TD here:
    /// pick it when quotes from such a host match it.
    PerSection,
}

impl PageOrder {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::PerPage => "per-page",
            Self::PerSection => "per-section",
        }
    }
}

impl fmt::Display for PageOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PageOrder {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "per-page" | "upstream" => Ok(Self::PerPage),
            "per-section" | "two-pass" => Ok(Self::PerSection),
            _ => Err(Error::Input {
                field: "page order",
                reason: format!("{s:?} is not per-page (upstream QEMU/KVM) or per-section"),
            }),
        }
    }
}

/// The running MRTD context.
struct Mrtd(digest::Context);

impl Mrtd {
    fn new() -> Self {
        Self(digest::Context::new(&digest::SHA384))
    }

    fn page_add(&mut self, gpa: u64) {
        self.0.update(&header(b"MEM.PAGE.ADD", gpa));
    }

    fn mr_extend(&mut self, gpa: u64, chunk: &[u8]) {
        self.0.update(&header(b"MR.EXTEND", gpa));
        self.0.update(chunk);
    }

    fn finish(self) -> Result<[u8; 48], Error> {
        self.0
            .finish()
            .as_ref()
            .try_into()
            .map_err(|_| Error::Internal("SHA-384 did not give 48 bytes".into()))
    }
}

/// The 128-byte buffer a SEAMCALL hashes: operation name zero-padded to 16
/// bytes, GPA little-endian, zeros.
fn header(op: &[u8], gpa: u64) -> [u8; BUFFER] {
    let mut buf = [0u8; BUFFER];
    for (b, o) in buf.iter_mut().zip(op.iter().take(16)) {
        *b = *o;
    }
    for (b, g) in buf.iter_mut().skip(16).zip(gpa.to_le_bytes()) {
        *b = g;
    }
    buf
}

/// The page `page` of an MR_EXTEND section's bytes.
fn page_bytes<'a>(image: &'a [u8], s: &Section, page: u64) -> Result<&'a [u8], Error> {
    let at = page
        .checked_mul(PAGE_SIZE)
        .and_then(|o| o.checked_add(u64::from(s.data_offset)))
        .and_then(|o| usize::try_from(o).ok());
    at.and_then(|a| image.get(a..a.checked_add(PAGE_SIZE as usize)?))
        .ok_or_else(|| Error::Section {
            index: s.index,
            reason: format!("page {page} lies outside the image"),
        })
}

fn extend_page(m: &mut Mrtd, image: &[u8], s: &Section, page: u64) -> Result<(), Error> {
    let bytes = page_bytes(image, s, page)?;
    let gpa = s.memory_address + page * PAGE_SIZE;
    for (i, chunk) in bytes.chunks_exact(MR_EXTEND_CHUNK).enumerate() {
        m.mr_extend(gpa + (i * MR_EXTEND_CHUNK) as u64, chunk);
    }
    Ok(())
}

/// Replays `layout` (parsed from `image`) in `order`.
///
/// `layout` must come from [`TdvfLayout::parse`] on the same `image`; a
/// layout that does not fit the image gives an error, never a panic.
pub fn replay(image: &[u8], layout: &TdvfLayout, order: PageOrder) -> Result<[u8; 48], Error> {
    let mut m = Mrtd::new();
    for s in &layout.sections {
        let extend = match s.treatment {
            Treatment::NotAdded => continue,
            Treatment::Add => false,
            Treatment::AddAndExtend => true,
        };
        // Checked by the parser: address + size does not overflow.
        let gpa = |page: u64| s.memory_address + page * PAGE_SIZE;
        match order {
            PageOrder::PerPage => {
                for page in 0..s.pages() {
                    m.page_add(gpa(page));
                    if extend {
                        extend_page(&mut m, image, s, page)?;
                    }
                }
            }
            PageOrder::PerSection => {
                for page in 0..s.pages() {
                    m.page_add(gpa(page));
                }
                if extend {
                    for page in 0..s.pages() {
                        extend_page(&mut m, image, s, page)?;
                    }
                }
            }
        }
    }
    m.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let h = header(b"MEM.PAGE.ADD", 0xffe2_0000);
        assert_eq!(&h[..12], b"MEM.PAGE.ADD");
        assert_eq!(&h[12..16], &[0; 4]);
        assert_eq!(&h[16..24], &0xffe2_0000u64.to_le_bytes());
        assert!(h[24..].iter().all(|b| *b == 0));
        let h = header(b"MR.EXTEND", 1);
        assert_eq!(&h[..16], b"MR.EXTEND\0\0\0\0\0\0\0");
    }

    #[test]
    fn page_order_names_round_trip() {
        for o in [PageOrder::PerPage, PageOrder::PerSection] {
            assert_eq!(o.name().parse::<PageOrder>().unwrap(), o);
        }
        assert!("sideways".parse::<PageOrder>().is_err());
    }
}
