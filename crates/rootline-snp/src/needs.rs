//! What collateral a report still needs, and the fields to ask AMD KDS for it.
//!
//! The verifier never fetches; a caller that can (the `rootline` binary)
//! asks [`needs`] which of the VEK, the intermediate chain and AMD's CRL are
//! absent from the collateral and the evidence's own certificate table, and
//! gets the product, chip ID and TCB that KDS URLs are made of.

use crate::certtable::CertEntry;
use crate::error::Result;
use crate::evidence::{Evidence, Raw};
use crate::pki::{self, Collateral, TrustAnchors, VekKind};
use crate::report::{Product, Report, Tcb};

/// What is missing for one report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Which key signed the report (`None` when the report names neither).
    pub signer: Option<VekKind>,
    /// The products the report may come from, most likely first: one when
    /// the report names it (CPUID, version 3 and later), else those whose
    /// collateral was given, else Milan then Genoa (version-2 reports do
    /// not tell them apart).
    pub products: Vec<Product>,
    /// CHIP_ID as reported.
    pub chip_id: [u8; 64],
    /// REPORTED_TCB as reported.
    pub reported_tcb: u64,
    /// The signing certificate (VCEK or VLEK) is absent.
    pub vek: bool,
    /// No intermediate (ASK or ASVK) was supplied for any candidate product.
    pub chain: bool,
    /// The pinned anchors hold that intermediate, so a missing chain does
    /// not stop verification.
    pub chain_pinned: bool,
    /// No CRL was supplied.
    pub crl: bool,
}

impl Needs {
    /// True when the VCEK cannot be asked for by chip ID (MASK_CHIP_ID).
    pub fn chip_id_masked(&self) -> bool {
        self.chip_id.iter().all(|b| *b == 0)
    }

    /// The hwID KDS expects for `product`: the whole 64-byte chip ID, or its
    /// first 8 bytes on Turin, in lower-case hex.
    pub fn hw_id_hex(&self, product: Product) -> String {
        let n = if product.has_fmc() { 8 } else { 64 };
        hex::encode(self.chip_id.get(..n).unwrap_or(&self.chip_id))
    }

    /// The KDS TCB query parameters for `product`, in KDS order.
    pub fn kds_tcb(&self, product: Product) -> Vec<(&'static str, u8)> {
        let t = Tcb::decode(self.reported_tcb, product);
        let mut v = Vec::with_capacity(5);
        if let Some(fmc) = t.fmc {
            v.push(("fmcSPL", fmc));
        }
        v.extend([
            ("blSPL", t.bootloader),
            ("teeSPL", t.tee),
            ("snpSPL", t.snp),
            ("ucodeSPL", t.microcode),
        ]);
        v
    }
}

fn cn_products(coll: &Collateral) -> Vec<Product> {
    let mut out = Vec::new();
    for c in &coll.certs {
        let Ok(x) = c.parse() else { continue };
        // A VCEK's own name (SEV-VCEK) names no product; its issuer's does.
        for name in [x.subject(), x.issuer()] {
            if let Some(p) = pki::common_name(name)
                .as_deref()
                .and_then(Product::from_common_name)
                && !out.contains(&p)
            {
                out.push(p);
            }
        }
    }
    out
}

fn has_intermediate<'a>(
    certs: impl Iterator<Item = &'a pki::CertDer>,
    signer: VekKind,
    products: &[Product],
) -> bool {
    let names: Vec<String> = products
        .iter()
        .map(|p| match signer {
            VekKind::Vlek => format!("SEV-VLEK-{p}"),
            VekKind::Vcek => format!("SEV-{p}"),
        })
        .collect();
    certs.into_iter().any(|c| {
        c.parse()
            .ok()
            .and_then(|x| pki::common_name(x.subject()))
            .is_some_and(|cn| names.contains(&cn))
    })
}

/// What `evidence` (any form [`Evidence::decode`] takes) still needs beyond
/// `collateral` and its own certificate table.
pub fn needs(evidence: &[u8], collateral: &Collateral) -> Result<Needs> {
    let ev = Evidence::decode(evidence)?;
    needs_for(&ev.report, &ev.cert_table, collateral)
}

/// [`needs`] for evidence whose wrapper was removed already.
pub fn needs_raw(raw: &Raw, collateral: &Collateral) -> Result<Needs> {
    let ev = Evidence::from_raw(raw)?;
    needs_for(&ev.report, &ev.cert_table, collateral)
}

/// [`needs`] for a parsed report and certificate table.
pub fn needs_for(report: &Report, table: &[CertEntry], collateral: &Collateral) -> Result<Needs> {
    let mut all = collateral.clone();
    all.add_cert_table(table)?;
    let signer = match report.signing_key() {
        crate::report::SigningKey::VCEK => Some(VekKind::Vcek),
        crate::report::SigningKey::VLEK => Some(VekKind::Vlek),
        _ => None,
    };
    let products = match report.product_hint() {
        Some(p) => vec![p],
        None => {
            let given = cn_products(&all);
            if given.is_empty() {
                vec![Product::Milan, Product::Genoa]
            } else {
                given
            }
        }
    };
    let kind = signer.unwrap_or(VekKind::Vcek);
    let vek = signer.is_some() && pki::find_vek(&all, kind, &report.chip_id).is_err();
    let chain = !has_intermediate(all.certs.iter(), kind, &products);
    let pinned = TrustAnchors::amd();
    let chain_pinned = has_intermediate(pinned.intermediates.iter(), kind, &products);
    Ok(Needs {
        signer,
        products,
        chip_id: report.chip_id,
        reported_tcb: report.reported_tcb,
        vek,
        chain,
        chain_pinned,
        crl: all.crls.is_empty(),
    })
}

/// The public key (uncompressed P-384 point) of the certificate that
/// `report` names as its signer, found among `collateral` and the
/// certificate table. Nothing is verified: this serves to measure the raw
/// signature floor beside a full verification, never to trust anything.
pub fn signing_key_point(
    report: &Report,
    table: &[CertEntry],
    collateral: &Collateral,
) -> Result<Vec<u8>> {
    let mut all = collateral.clone();
    all.add_cert_table(table)?;
    let kind = match report.signing_key() {
        crate::report::SigningKey::VLEK => VekKind::Vlek,
        _ => VekKind::Vcek,
    };
    let vek = pki::find_vek(&all, kind, &report.chip_id)?;
    let x = vek.parse()?;
    Ok(x.public_key().subject_public_key.data.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn read(rel: &str) -> Option<Vec<u8>> {
        Some(std::fs::read(rootline_testkit::vector(rel)?).unwrap())
    }

    #[test]
    fn milan_report_alone_needs_vcek_chain_and_crl_with_kds_fields() {
        let Some(r) = read("snp/go-sev-guest/attestation.bin") else {
            return;
        };
        let n = needs(&r, &Collateral::new()).unwrap();
        assert_eq!(n.signer, Some(VekKind::Vcek));
        assert!(n.vek && n.chain && n.crl && n.chain_pinned);
        // Version 2: Milan or Genoa, Milan first.
        assert_eq!(n.products, vec![Product::Milan, Product::Genoa]);
        assert_eq!(
            n.hw_id_hex(Product::Milan),
            "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"
        );
        // reported_tcb 0x4405000000000002 (expected.json): bl 2, tee 0, snp 5, ucode 68.
        assert_eq!(
            n.kds_tcb(Product::Milan),
            vec![("blSPL", 2), ("teeSPL", 0), ("snpSPL", 5), ("ucodeSPL", 68)]
        );
        let mut c = Collateral::new();
        c.add("vcek", &read("snp/go-sev-guest/vcek.der").unwrap())
            .unwrap();
        c.add(
            "chain",
            &read("snp/go-sev-guest/ask_ark_milan.pem").unwrap(),
        )
        .unwrap();
        let n = needs(&r, &c).unwrap();
        assert!(!n.vek && !n.chain && n.crl);
        assert_eq!(n.products, vec![Product::Milan]);
    }

    #[test]
    fn turin_report_asks_with_an_eight_byte_hwid_and_fmc() {
        let Some(r) = read("snp/oak/turin_oc_report.bin") else {
            return;
        };
        let n = needs(&r, &Collateral::new()).unwrap();
        assert_eq!(n.products, vec![Product::Turin]);
        assert_eq!(n.hw_id_hex(Product::Turin).len(), 16);
        let tcb = n.kds_tcb(Product::Turin);
        assert_eq!(tcb.len(), 5);
        assert_eq!(tcb[0].0, "fmcSPL");
    }

    #[test]
    fn certificate_table_supplies_the_vek() {
        let Some(r) = read("snp/veraison-services/sevsnp-tsm-report.cbor") else {
            return;
        };
        let n = needs(&r, &Collateral::new()).unwrap();
        assert!(!n.vek, "{n:?}");
    }
}
