//! [`Tpm`] in a build without the `tpm` feature: the same methods, none of
//! them reachable, because [`Tpm::open`] refuses, naming the feature. A
//! broker built this way (`cargo build -p rootline --no-default-features`)
//! links no TSS2 library; the verifier's TPM support (`rootline-tpm`, pure
//! Rust) is unaffected.

use std::convert::Infallible;

use rootline_core::Digest;

use super::{Ak, Ek, KeyAlg, Quote, Selection, Tcti};
use crate::Error;

/// No key is ever loaded: [`Ek`] and [`Ak`] cannot be made.
pub(super) type Handle = Infallible;

/// An open TPM, which this build cannot have.
#[derive(Debug)]
pub struct Tpm(Infallible);

impl Tpm {
    /// Refuses: this build has no TPM backend.
    pub fn open(_tcti: &Tcti) -> Result<Self, Error> {
        Err(super::not_built())
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn create_ek(&mut self, _alg: KeyAlg) -> Result<Ek, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn ek_certificate(&mut self, _alg: KeyAlg) -> Result<Option<Vec<u8>>, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn create_ak(&mut self, _ek: &Ek, _alg: KeyAlg) -> Result<Ak, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn load_ak(
        &mut self,
        _ek: &Ek,
        _alg: KeyAlg,
        _public: &[u8],
        _private: &[u8],
    ) -> Result<Ak, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn quote(&mut self, _ak: &Ak, _sel: &Selection, _nonce: &[u8]) -> Result<Quote, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn pcr_read(&mut self, _sel: &Selection) -> Result<rootline_tpm::PcrValues, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn pcr_extend(&mut self, _index: u8, _digests: &[Digest]) -> Result<(), Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn activate_credential(
        &mut self,
        _ak: &Ak,
        _ek: &Ek,
        _credential_blob: &[u8],
        _encrypted_secret: &[u8],
    ) -> Result<Vec<u8>, Error> {
        match self.0 {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn flush_ak(&mut self, ak: Ak) -> Result<(), Error> {
        // The key's handle, as uninhabited as the TPM: no key exists either.
        match ak.handle {}
    }

    /// Unreachable: no [`Tpm`] exists in this build.
    pub fn flush_ek(&mut self, ek: Ek) -> Result<(), Error> {
        match ek.handle {}
    }
}
