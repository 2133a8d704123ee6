//! The collateral source behind `rootline verify` and `rootline serve`:
//! the evidence, as the verifier decoded it, is asked what it still needs (`rootline_snp::needs`,
//! `rootline_dcap::needs`; for NVIDIA GPUs, an OCSP response for each
//! certificate of the device chains and of the given RIMs' signing chains
//! that NVIDIA's verifier asks about), and each missing artifact is taken
//! from the cache (on disk, then shared), else from AMD KDS, Intel PCS/PCCS
//! or NVIDIA's OCSP responder when the owner consented, and handed to the
//! verifier as one more collateral file.
//!
//! OCSP requests go to the configured responder URL only (NVIDIA's by
//! default), never to the URL a certificate's authorityInfoAccess names:
//! the certificates come with the evidence, untrusted, and following their
//! URLs would let any guest make the verifier contact an address of its
//! choosing (NVIDIA's chains name `http://ocsp.ndis.nvidia.com`, the host
//! nvtrust asks over https). With NVIDIA's responder, only chains that end
//! at the pinned NVIDIA device or RIM root are asked about. A failure to obtain an artifact is never fatal here: the verifier
//! judges what it has, and the failure is named beside its verdict.

use rootline_core::TeeKind;
use rootline_verifier::{Collateral, CollateralSource, Decoded, Gathered};

use crate::{Artifact, Client, Error, Source, Stats, kds, nvidia, pcs};

/// Where missing collateral comes from: one client per vendor (each with
/// its own consent to use the network) over one cache.
#[derive(Debug)]
pub struct Fetcher {
    amd: Client,
    intel: Client,
    kds_url: String,
    pcs_url: String,
    /// NVIDIA's OCSP client and responder URL, when added.
    nvidia: Option<(Client, String)>,
}

impl Fetcher {
    /// A source asking `amd` for KDS artifacts under `kds_url` and `intel`
    /// for PCS/PCCS artifacts under `pcs_url`. Consent is each client's
    /// (`Config::offline`).
    pub fn new(amd: Client, intel: Client, kds_url: &str, pcs_url: &str) -> Self {
        Self {
            amd,
            intel,
            kds_url: kds_url.to_owned(),
            pcs_url: pcs_url.to_owned(),
            nvidia: None,
        }
    }

    /// Also obtains OCSP responses for NVIDIA GPU evidence with `client`
    /// from the responder at `ocsp_url` ([`nvidia::DEFAULT_OCSP_URL`], or
    /// the owner's). Consent is the client's (`Config::offline`).
    pub fn with_nvidia(self, client: Client, ocsp_url: &str) -> Self {
        Self {
            nvidia: Some((client, ocsp_url.to_owned())),
            ..self
        }
    }

    /// The clients' counters, summed.
    pub fn stats(&self) -> Stats {
        let mut all = vec![self.amd.stats(), self.intel.stats()];
        if let Some((c, _)) = &self.nvidia {
            all.push(c.stats());
        }
        all.iter().fold(Stats::default(), |t, s| Stats {
            disk_hits: t.disk_hits + s.disk_hits,
            shared_hits: t.shared_hits + s.shared_hits,
            fetched: t.fetched + s.fetched,
            fetch_failures: t.fetch_failures + s.fetch_failures,
            stale_used: t.stale_used + s.stale_used,
        })
    }

    /// The client used for evidence of `kind`.
    pub fn client(&self, kind: TeeKind) -> &Client {
        match (kind, &self.nvidia) {
            (TeeKind::Tdx | TeeKind::Sgx, _) => &self.intel,
            (TeeKind::Nvidia, Some((c, _))) => c,
            _ => &self.amd,
        }
    }
}

impl CollateralSource for Fetcher {
    fn gather(&self, evidence: &Decoded, given: &[Collateral], at: i64) -> Gathered {
        let mut g = Gathered::default();
        match evidence {
            Decoded::Snp(raw) => snp(&self.amd, &self.kds_url, raw, given, at, &mut g),
            Decoded::Dcap { quote, .. } => {
                dcap(&self.intel, &self.pcs_url, &quote.quote, given, at, &mut g)
            }
            Decoded::Whole {
                tee: TeeKind::Nvidia,
                evidence,
            } => {
                if let Some((client, url)) = &self.nvidia {
                    gpu(client, url, evidence, given, at, &mut g);
                }
            }
            _ => {}
        }
        g
    }
}

fn take(g: &mut Gathered, client: &Client, a: &Artifact, at: i64) -> Result<(), Error> {
    let f = client.get(a, at)?;
    g.notes.extend(f.notes);
    if let Some(e) = f.refresh_error {
        g.failures.push(e);
    }
    g.info.push(format!(
        "{} from {} ({})",
        a.what,
        match f.source {
            Source::Cache => "the cache",
            Source::Shared => "the shared cache",
            Source::Network => "the network",
        },
        f.path.display()
    ));
    g.collateral.push(Collateral {
        origin: f.path,
        bytes: f.bytes,
    });
    if let Some((origin, bytes)) = f.issuer_chain {
        g.collateral.push(Collateral { origin, bytes });
    }
    Ok(())
}

fn fetch(g: &mut Gathered, client: &Client, a: &Artifact, at: i64) {
    if let Err(e) = take(g, client, a, at) {
        g.failures.push(e.to_string());
    }
}

fn snp(
    client: &Client,
    kds_url: &str,
    evidence: &rootline_snp::evidence::Raw,
    given: &[Collateral],
    at: i64,
    g: &mut Gathered,
) {
    use rootline_snp::VekKind;
    let mut coll = rootline_snp::Collateral::new();
    for c in given {
        // A bad file is the verifier's to report.
        let _ = coll.add(&c.origin.display().to_string(), &c.bytes);
    }
    let Ok(needs) = rootline_snp::needs::needs_raw(evidence, &coll) else {
        return;
    };
    let Some(signer) = needs.signer else { return };
    let signer_name = signer.name();
    let mut product = needs.products.first().copied();
    if needs.vek {
        if signer == VekKind::Vlek {
            g.failures.push(
                "the report is signed by a VLEK, which AMD KDS does not serve by chip: pass the \
                 VLEK as collateral (the host's certificate table has it)"
                    .into(),
            );
        } else if needs.chip_id_masked() {
            g.failures.push(
                "CHIP_ID is masked (MASK_CHIP_ID), so the VCEK cannot be asked for by chip: pass \
                 it as collateral"
                    .into(),
            );
        } else {
            // Version-2 reports do not say Milan or Genoa: the KDS answers
            // for the right one only.
            let mut errors = Vec::new();
            let mut found = None;
            for p in &needs.products {
                let a = kds::vcek(kds_url, p.name(), &needs.hw_id_hex(*p), &needs.kds_tcb(*p));
                match take(g, client, &a, at) {
                    Ok(()) => {
                        found = Some(*p);
                        break;
                    }
                    Err(e @ Error::Status { status: 404, .. }) => errors.push(e.to_string()),
                    Err(e) => {
                        errors.push(e.to_string());
                        break;
                    }
                }
            }
            match found {
                Some(p) => product = Some(p),
                None => g.failures.extend(errors),
            }
        }
    }
    let Some(product) = product else { return };
    if needs.chain {
        let a = kds::cert_chain(kds_url, product.name(), signer_name);
        if let Err(e) = take(g, client, &a, at) {
            // AMD's intermediates are pinned too: a missing chain only
            // matters for one that is not.
            if needs.chain_pinned {
                if !client.is_offline() {
                    g.info
                        .push(format!("{e}; the pinned {product} intermediate is used"));
                }
            } else {
                g.failures.push(e.to_string());
            }
        }
    }
    if needs.crl {
        fetch(
            g,
            client,
            &kds::crl(kds_url, product.name(), signer_name),
            at,
        );
    }
}

fn dcap(
    client: &Client,
    base: &str,
    quote: &[u8],
    given: &[Collateral],
    at: i64,
    g: &mut Gathered,
) {
    let mut parts = rootline_dcap::CollateralParts::default();
    for c in given {
        let _ = parts.add(&c.origin.display().to_string(), &c.bytes);
    }
    let needs = match rootline_dcap::needs::needs(quote, &parts) {
        Ok(n) => n,
        Err(e) => {
            g.failures
                .push(format!("cannot tell which collateral the quote needs: {e}"));
            return;
        }
    };
    if needs.tcb_info {
        fetch(
            g,
            client,
            &pcs::tcb_info(base, needs.tdx, &needs.fmspc_hex()),
            at,
        );
    }
    if needs.qe_identity {
        fetch(g, client, &pcs::qe_identity(base, needs.tdx), at);
    }
    if needs.pck_crl {
        fetch(g, client, &pcs::pck_crl(base, needs.ca.name()), at);
    }
    if needs.root_ca_crl {
        fetch(g, client, &pcs::root_ca_crl(base), at);
    }
}

/// The OCSP responses NVIDIA GPU evidence needs (see the module docs).
fn gpu(
    client: &Client,
    url: &str,
    evidence: &[u8],
    given: &[Collateral],
    at: i64,
    g: &mut Gathered,
) {
    use rootline_nvidia::{TrustRoots, certs, ocsp};
    let Ok(ev) = rootline_nvidia::Evidence::decode(evidence) else {
        return; // The verifier says why.
    };
    let given_ocsp: Vec<ocsp::OcspResponse<'_>> = given
        .iter()
        .filter_map(|c| ocsp::OcspResponse::parse(&c.bytes).ok())
        .collect();
    let nvidias = url.trim_end_matches('/') == nvidia::DEFAULT_OCSP_URL;
    let (device_root, rim_root) = (TrustRoots::nvidia(), TrustRoots::nvidia_rim());
    let mut chains: Vec<(Vec<Vec<u8>>, std::ops::Range<usize>)> = Vec::new();
    for d in &ev.devices {
        let Some(Ok(ders)) = d.cert_chain.as_deref().map(certs::parse_chain) else {
            continue;
        };
        if nvidias && !ders.last().is_some_and(|r| device_root.contains(r)) {
            continue;
        }
        let scope = ocsp::device_scope(ders.len());
        chains.push((ders, scope));
    }
    for c in given {
        if c.bytes.first() == Some(&0x30) {
            continue;
        }
        let Ok(rim) = rootline_nvidia::Rim::parse(&c.bytes) else {
            continue;
        };
        let ders = rim.signer_chain().to_vec();
        if nvidias && !ders.last().is_some_and(|r| rim_root.contains(r)) {
            continue;
        }
        let scope = ocsp::rim_scope(ders.len());
        chains.push((ders, scope));
    }
    let mut asked = std::collections::HashSet::new();
    for (ders, scope) in chains {
        for i in scope {
            let (Some(cert), Some(issuer)) = (ders.get(i), ders.get(i + 1)) else {
                continue;
            };
            if given_ocsp.iter().any(|r| r.covers(cert, issuer)) {
                continue;
            }
            let Ok(request) = ocsp::request(cert, issuer) else {
                continue;
            };
            let subject = certs::inspect_chain(std::slice::from_ref(cert))
                .ok()
                .and_then(|c| c.certs.first().map(|c| c.subject.clone()))
                .unwrap_or_default();
            let a = nvidia::ocsp(url, &request, &subject);
            if asked.insert(a.url.clone()) {
                fetch(g, client, &a, at);
            }
        }
    }
}
