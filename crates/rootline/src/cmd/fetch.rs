//! Collateral the caller did not supply, from the cache or the vendors'
//! services, before verification: the flags that configure
//! `rootline_collateral::Fetcher`, the source `rootline serve` uses too.
//!
//! The network is used only when the caller allows it: `--fetch` (the
//! vendors' public services), or a `--kds-url`/`--pcs-url`/`--nvidia-ocsp-url` the caller named
//! (a PCCS, a mirror). By default a verifier does not phone home: an owner's
//! verifier often runs air-gapped, and an unexpected connection to a vendor
//! from a relying party is itself a signal an owner should have chosen.

use std::path::PathBuf;
use std::time::Duration;

use rootline_collateral::{Client, Config, Fetcher, kds, nvidia, pcs};
use rootline_core::TeeKind;

/// Flags that control fetching, shared by `verify` and `bench verify`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct FetchArgs {
    /// Never fetch: use only --collateral files and the cache; anything
    /// missing is named with the cache file it would be read from.
    #[arg(long, env = "ROOTLINE_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) offline: bool,
    /// Fetch missing collateral from AMD KDS and Intel PCS (their public
    /// hosts) and OCSP responses for NVIDIA GPU chains from NVIDIA's
    /// responder. Without it, only a --kds-url, --pcs-url or
    /// --nvidia-ocsp-url you name is contacted.
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
    /// NVIDIA OCSP responder URL (RFC 6960, POST), asked about the
    /// certificates of GPU device chains and of the RIMs' signing chains
    /// that NVIDIA's verifier checks; the answers are cached until their
    /// nextUpdate. Certificates' own responder URLs are never followed.
    #[arg(long, value_name = "URL", env = "ROOTLINE_NVIDIA_OCSP_URL", default_value = nvidia::DEFAULT_OCSP_URL)]
    pub(crate) nvidia_ocsp_url: String,
    /// Give up on one request after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) fetch_timeout: u64,
}

/// True when the flags allow the network for evidence of `kind` (`None`:
/// any kind): `--fetch`, or the vendor service's URL was named by the caller.
pub(crate) fn network_allowed(args: &FetchArgs, kind: Option<TeeKind>) -> bool {
    if args.offline {
        return false;
    }
    let kds_named = args.kds_url != kds::DEFAULT_URL;
    let pcs_named = args.pcs_url != pcs::DEFAULT_URL;
    let ocsp_named = args.nvidia_ocsp_url != nvidia::DEFAULT_OCSP_URL;
    args.fetch
        || match kind {
            Some(TeeKind::Snp) => kds_named,
            Some(TeeKind::Tdx | TeeKind::Sgx) => pcs_named,
            Some(TeeKind::Nvidia) => ocsp_named,
            None => kds_named || pcs_named || ocsp_named,
            Some(_) => false,
        }
}

/// The collateral source configured from the flags: one client per vendor,
/// each allowed the network only as [`network_allowed`] says.
pub(crate) fn fetcher(args: &FetchArgs) -> Fetcher {
    let client = |kind| {
        Client::new(Config {
            cache_dir: args.cache_dir.clone(),
            offline: !network_allowed(args, Some(kind)),
            timeout: Duration::from_secs(args.fetch_timeout.max(1)),
            ..Config::default()
        })
    };
    Fetcher::new(
        client(TeeKind::Snp),
        client(TeeKind::Tdx),
        &args.kds_url,
        &args.pcs_url,
    )
    .with_nvidia(client(TeeKind::Nvidia), &args.nvidia_ocsp_url)
}
