//! Trust roots for SEV platform chains: AMD's ARKs, pinned, behind a named
//! constructor, or roots the caller brings.
//!
//! The pinned bytes are AMD's `ask_ark_<product>.cert` files split into ASK
//! and ARK, as the `sev` crate 8.0.0 ships them in
//! `src/certs/sev/builtin/<product>/` (crates.io package, virtee/sev commit
//! 76535be354648a3e4adf00631fdf4941ab51fb88). SHA-256 of each file:
//!
//! | product | ARK | ASK |
//! |---|---|---|
//! | Naples | `dedabca561e1dece8cc00b7bda864cf5f20b95017864408cfe18eaee0dce24b9` | `c6f30cf923f526c3bcd5c8c221db51e0db65911782f046de17a6603131cdfd7f` |
//! | Rome | `865977b268c16d5b27772b00aaefb4e737ba9499e818ed8e9f65b0cecefbc529` | `7754a69407d25540fe3a695be6b02c58a53bffd12594f5c30793d6cb62875706` |
//! | Milan | `1246469862b78a7a8625579b0378d1f8e975eb8b82a1623b579d7968a5969888` | `c7c73765561c58003a3d09adb2c76993027dd3a1ec4e9be876024c035e015cec` |
//! | Genoa | `8f4e3fd36589c23f1fe0c8338465bac7e2e066d97fc92f228bbee4fd356fb674` | `c30307e4f594fb6c51fd753ab758eb78ad4bb70d9e4d96690e51c0621901031d` |
//! | Turin | `f6405e5096a6eee1eb7d5df75c49f9b9f7c8357a31c7fff150149d68588a7bf7` | `2ee285477f0d5eb94a69029197f4cf58ca82d8e1b9a276da1ac45b0db3f4be56` |
//!
//! Only the ARKs are trust anchors. The ASKs are offered as collateral (a
//! host that exports only PDH, PEK, OCA and CEK still gives a complete chain
//! with [`builtin_ask`]); an ASK is checked against its ARK like any other.
//! Every pinned ARK's self-signature is checked when [`TrustAnchors::amd`]
//! builds the set, and the tests check the SHA-256 values above.

use crate::cert::{CaCertificate, Usage};
use crate::error::{Error, Result};

/// An AMD EPYC generation with SEV certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Product {
    /// EPYC 7001.
    Naples,
    /// EPYC 7002.
    Rome,
    /// EPYC 7003.
    Milan,
    /// EPYC 9004.
    Genoa,
    /// EPYC 9005.
    Turin,
}

impl Product {
    /// Every product with pinned certificates.
    pub const ALL: [Product; 5] = [
        Product::Naples,
        Product::Rome,
        Product::Milan,
        Product::Genoa,
        Product::Turin,
    ];

    /// The product's name as AMD spells it.
    pub fn name(self) -> &'static str {
        match self {
            Product::Naples => "Naples",
            Product::Rome => "Rome",
            Product::Milan => "Milan",
            Product::Genoa => "Genoa",
            Product::Turin => "Turin",
        }
    }

    /// The pinned ARK, as AMD publishes it.
    pub fn ark_bytes(self) -> &'static [u8] {
        match self {
            Product::Naples => include_bytes!("roots/naples-ark.cert"),
            Product::Rome => include_bytes!("roots/rome-ark.cert"),
            Product::Milan => include_bytes!("roots/milan-ark.cert"),
            Product::Genoa => include_bytes!("roots/genoa-ark.cert"),
            Product::Turin => include_bytes!("roots/turin-ark.cert"),
        }
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// AMD's ASK for `product`, as AMD publishes it: collateral, not a root.
pub fn builtin_ask(product: Product) -> &'static [u8] {
    match product {
        Product::Naples => include_bytes!("roots/naples-ask.cert"),
        Product::Rome => include_bytes!("roots/rome-ask.cert"),
        Product::Milan => include_bytes!("roots/milan-ask.cert"),
        Product::Genoa => include_bytes!("roots/genoa-ask.cert"),
        Product::Turin => include_bytes!("roots/turin-ask.cert"),
    }
}

/// One trusted ARK and the name it is reported under.
#[derive(Debug, Clone)]
pub struct Root {
    name: String,
    ark: CaCertificate,
}

impl Root {
    /// The root's name (the product for AMD's roots).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ARK.
    pub fn ark(&self) -> &CaCertificate {
        &self.ark
    }
}

/// The ARKs a platform chain may end at.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    roots: Vec<Root>,
}

impl TrustAnchors {
    /// AMD's pinned ARKs for Naples, Rome, Milan, Genoa and Turin.
    pub fn amd() -> Result<Self> {
        Self::from_arks(
            Product::ALL
                .iter()
                .map(|p| (p.name().to_string(), p.ark_bytes())),
        )
    }

    /// Roots the caller supplies (AMD's, fetched and pinned elsewhere, or a
    /// test PKI's), each named. Each must be an ARK that signs itself.
    pub fn from_arks<'a>(arks: impl IntoIterator<Item = (String, &'a [u8])>) -> Result<Self> {
        let mut roots = Vec::new();
        for (name, bytes) in arks {
            let ark = CaCertificate::parse(bytes)?;
            if ark.usage() != Usage::ARK {
                return Err(Error::invalid(
                    "trust anchor",
                    format!("{name}: key usage {} is not ARK", ark.usage()),
                ));
            }
            if !ark.is_signed_by(&ark) {
                return Err(Error::BadSignature {
                    cert: "ARK",
                    signer: "ARK itself",
                });
            }
            roots.push(Root { name, ark });
        }
        Ok(TrustAnchors { roots })
    }

    /// The roots.
    pub fn roots(&self) -> &[Root] {
        &self.roots
    }

    /// The root whose key ID is `key_id`.
    pub fn find(&self, key_id: [u8; 16]) -> Option<&Root> {
        self.roots.iter().find(|r| r.ark.key_id() == key_id)
    }
}
