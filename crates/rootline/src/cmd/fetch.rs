//! Collateral the caller did not supply, from the cache or the vendors'
//! services, before verification.
//!
//! The verifier crates never fetch. Here the evidence is asked what it
//! still needs (`rootline_snp::needs`, `rootline_dcap::needs`), and each
//! missing artifact is taken from the cache, else from AMD KDS or Intel
//! PCS/PCCS, and handed to the verifier as one more
//! collateral file. A failure to obtain an artifact is never fatal here: the
//! verifier judges what it has, and the failure is reported beside its verdict.
//!
//! The network is used only when the caller allows it: `--fetch` (the
//! vendors' public services), or a `--kds-url`/`--pcs-url` the caller named
//! (a PCCS, a mirror). By default a verifier does not phone home: an owner's
//! verifier often runs air-gapped, and an unexpected connection to a vendor
//! from a relying party is itself a signal an owner should have chosen.

use std::path::PathBuf;
use std::time::Duration;

use rootline_collateral::{Artifact, Client, Config, Error, kds, pcs};
use rootline_core::TeeKind;
use rootline_verifier::Collateral;

/// Flags that control fetching, shared by `verify` and `bench verify`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct FetchArgs {
    /// Never fetch: use only --collateral files and the cache; anything
    /// missing is named with the cache file it would be read from.
    #[arg(long, env = "ROOTLINE_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) offline: bool,
    /// Fetch missing collateral from AMD KDS and Intel PCS (their public
    /// hosts). Without it, only a --kds-url or --pcs-url you name is contacted.
    #[arg(long, env = "ROOTLINE_FETCH", value_parser = clap::builder::FalseyValueParser::new(), conflicts_with = "offline")]
    pub(crate) fetch: bool,
    /// Where fetched collateral is kept between runs
    /// [default: $XDG_CACHE_HOME/rootline, else ~/.cache/rootline].
    #[arg(long, value_name = "DIR", env = "ROOTLINE_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// AMD Key Distribution Service base URL (VCEK, ASK/ARK chain, CRL).
    #[arg(long, value_name = "URL", env = "ROOTLINE_KDS_URL", default_value = kds::DEFAULT_URL)]
    pub(crate) kds_url: String,
    /// Intel PCS base URL, or a PCCS's (same v4 paths; the root CA CRL then
    /// comes from its `rootcacrl` path).
    #[arg(long, visible_alias = "pccs-url", value_name = "URL", env = "ROOTLINE_PCS_URL", default_value = pcs::DEFAULT_URL)]
    pub(crate) pcs_url: String,
    /// Give up on one request after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) fetch_timeout: u64,
}

/// What [`gather`] found.
#[derive(Default)]
pub(crate) struct Gathered {
    /// Artifacts obtained, as collateral files.
    pub(crate) collateral: Vec<Collateral>,
    /// Caveats about what was used (a stale artifact kept offline...).
    pub(crate) notes: Vec<String>,
    /// Where each artifact came from, for stderr.
    pub(crate) info: Vec<String>,
    /// Artifacts that could not be obtained, and why.
    pub(crate) failures: Vec<String>,
}

impl Gathered {
    fn take(&mut self, client: &Client, a: &Artifact, at: i64) -> Result<(), Error> {
        let f = client.get(a, at)?;
        self.notes.extend(f.notes);
        self.info.push(format!(
            "{} from {} ({})",
            a.what,
            match f.source {
                rootline_collateral::Source::Cache => "the cache",
                rootline_collateral::Source::Network => "the network",
            },
            f.path.display()
        ));
        self.collateral.push(Collateral {
            origin: f.path,
            bytes: f.bytes,
        });
        if let Some((origin, bytes)) = f.issuer_chain {
            self.collateral.push(Collateral { origin, bytes });
        }
        Ok(())
    }

    fn fetch(&mut self, client: &Client, a: &Artifact, at: i64) {
        if let Err(e) = self.take(client, a, at) {
            self.failures.push(e.to_string());
        }
    }
}

/// True when the flags allow the network for evidence of `kind` (`None`:
/// any kind): `--fetch`, or the vendor service's URL was named by the caller.
pub(crate) fn network_allowed(args: &FetchArgs, kind: Option<TeeKind>) -> bool {
    if args.offline {
        return false;
    }
    let kds_named = args.kds_url != kds::DEFAULT_URL;
    let pcs_named = args.pcs_url != pcs::DEFAULT_URL;
    args.fetch
        || match kind {
            Some(TeeKind::Snp) => kds_named,
            Some(TeeKind::Tdx | TeeKind::Sgx) => pcs_named,
            None => kds_named || pcs_named,
            Some(_) => false,
        }
}

/// A client configured from the flags, for evidence of `kind` (`None`: any).
pub(crate) fn client(args: &FetchArgs, kind: Option<TeeKind>) -> Client {
    Client::new(Config {
        cache_dir: args.cache_dir.clone(),
        offline: !network_allowed(args, kind),
        timeout: Duration::from_secs(args.fetch_timeout.max(1)),
        ..Config::default()
    })
}

/// Obtains the collateral that `evidence` of `kind` needs beyond `given`,
/// judging cached artifacts' freshness at `at` (unix seconds).
pub(crate) fn gather(
    client: &Client,
    args: &FetchArgs,
    kind: Option<TeeKind>,
    evidence: &[u8],
    given: &[Collateral],
    at: i64,
) -> Gathered {
    let mut g = Gathered::default();
    match kind {
        Some(TeeKind::Snp) => snp(client, args, evidence, given, at, &mut g),
        Some(TeeKind::Tdx | TeeKind::Sgx) => dcap(client, args, evidence, given, at, &mut g),
        _ => {}
    }
    g
}

fn snp(
    client: &Client,
    args: &FetchArgs,
    evidence: &[u8],
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
    let Ok(needs) = rootline_snp::needs::needs(evidence, &coll) else {
        return;
    };
    let Some(signer) = needs.signer else { return };
    let signer_name = signer.name();
    let mut product = needs.products.first().copied();
    if needs.vek {
        if signer == VekKind::Vlek {
            g.failures.push(
                "the report is signed by a VLEK, which AMD KDS does not serve by chip: pass the \
                 VLEK with --collateral (the host's certificate table has it)"
                    .into(),
            );
        } else if needs.chip_id_masked() {
            g.failures.push(
                "CHIP_ID is masked (MASK_CHIP_ID), so the VCEK cannot be asked for by chip: pass \
                 it with --collateral"
                    .into(),
            );
        } else {
            // Version-2 reports do not say Milan or Genoa: the KDS answers
            // for the right one only.
            let mut errors = Vec::new();
            let mut found = None;
            for p in &needs.products {
                let a = kds::vcek(
                    &args.kds_url,
                    p.name(),
                    &needs.hw_id_hex(*p),
                    &needs.kds_tcb(*p),
                );
                match g.take(client, &a, at) {
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
        let a = kds::cert_chain(&args.kds_url, product.name(), signer_name);
        if let Err(e) = g.take(client, &a, at) {
            // AMD's intermediates are pinned too: a missing chain only
            // matters for one that is not.
            if needs.chain_pinned {
                if !args.offline {
                    g.info
                        .push(format!("{e}; the pinned {product} intermediate is used"));
                }
            } else {
                g.failures.push(e.to_string());
            }
        }
    }
    if needs.crl {
        g.fetch(
            client,
            &kds::crl(&args.kds_url, product.name(), signer_name),
            at,
        );
    }
}

fn dcap(
    client: &Client,
    args: &FetchArgs,
    evidence: &[u8],
    given: &[Collateral],
    at: i64,
    g: &mut Gathered,
) {
    let Some(decoded) = rootline_dcap::evidence::decode(evidence) else {
        return;
    };
    let mut parts = rootline_dcap::CollateralParts::default();
    for c in given {
        let _ = parts.add(&c.origin.display().to_string(), &c.bytes);
    }
    let needs = match rootline_dcap::needs::needs(&decoded.quote, &parts) {
        Ok(n) => n,
        Err(e) => {
            g.failures
                .push(format!("cannot tell which collateral the quote needs: {e}"));
            return;
        }
    };
    let base = &args.pcs_url;
    if needs.tcb_info {
        g.fetch(
            client,
            &pcs::tcb_info(base, needs.tdx, &needs.fmspc_hex()),
            at,
        );
    }
    if needs.qe_identity {
        g.fetch(client, &pcs::qe_identity(base, needs.tdx), at);
    }
    if needs.pck_crl {
        g.fetch(client, &pcs::pck_crl(base, needs.ca.name()), at);
    }
    if needs.root_ca_crl {
        g.fetch(client, &pcs::root_ca_crl(base), at);
    }
}
