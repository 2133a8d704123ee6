//! The TPM through tss-esapi (the `tpm` feature): links the TSS2 libraries
//! (libtss2-esys, libtss2-tctildr and the TCTIs they load).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rootline_core::{Digest, HashAlg};
use tss_esapi::Context;
use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, DefaultKey, ak, ek, pcr};
use tss_esapi::attributes::SessionAttributesBuilder;
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{AuthHandle, KeyHandle, ObjectHandle, PcrHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, SignatureSchemeAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::session_handles::PolicySession;
use tss_esapi::structures::{
    Data, Digest as TpmDigest, DigestValues, EncryptedSecret, IdObject, PcrSelectionListBuilder,
    PcrSlot, Private, Public, SignatureScheme, SymmetricDefinition,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::{Marshall, UnMarshall};

use super::{Ak, Ek, KeyAlg, Quote, Selection, Tcti};
use crate::Error;

/// The handle of a key loaded in the TPM ([`Ek`], [`Ak`]).
pub(super) type Handle = KeyHandle;

/// Checks a TCTI string the way tss-esapi will read it.
pub(super) fn check_tcti(s: &str) -> bool {
    TctiNameConf::from_str(s).is_ok()
}

impl KeyAlg {
    fn selection(self) -> AsymmetricAlgorithmSelection {
        match self {
            Self::Rsa2048 => AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
            Self::EccP256 => AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
        }
    }

    fn scheme(self) -> SignatureSchemeAlgorithm {
        match self {
            Self::Rsa2048 => SignatureSchemeAlgorithm::RsaSsa,
            Self::EccP256 => SignatureSchemeAlgorithm::EcDsa,
        }
    }
}

/// A relay from two consecutive loopback TCP ports (the swtpm TCTI's data
/// port and its control port, data + 1) to swtpm's two unix sockets.
#[derive(Debug)]
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(socket: &Path) -> Result<Self, Error> {
        let ctrl_path = PathBuf::from(format!("{}.ctrl", socket.display()));
        // Connect once now, so a missing swtpm is reported with its path.
        drop(UnixStream::connect(socket).map_err(Error::io(socket.display()))?);
        let (data, ctrl) = Self::bind_pair()?;
        let port = data
            .local_addr()
            .map_err(Error::io("127.0.0.1 (swtpm relay)"))?
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        // The TCTI connects anew for commands after a response and for each
        // control command: each connection gets its own unix connection.
        for (listener, path) in [(data, socket.to_path_buf()), (ctrl, ctrl_path)] {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = conn else { continue };
                    // Commands are small writes answered at once: no Nagle.
                    let _ = tcp.set_nodelay(true);
                    if let Ok(u) = UnixStream::connect(&path) {
                        std::thread::spawn(move || relay(tcp, u));
                    }
                }
            });
        }
        Ok(Self { port, stop })
    }

    /// Two listeners on 127.0.0.1 at ports P and P + 1, P picked by the kernel.
    fn bind_pair() -> Result<(TcpListener, TcpListener), Error> {
        let mut last = None;
        for _ in 0..64 {
            let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .map_err(Error::io("127.0.0.1 (swtpm relay)"))?;
            let p = a
                .local_addr()
                .map_err(Error::io("127.0.0.1 (swtpm relay)"))?
                .port();
            let Some(next) = p.checked_add(1) else {
                continue;
            };
            match TcpListener::bind((Ipv4Addr::LOCALHOST, next)) {
                Ok(b) => return Ok((a, b)),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::io("127.0.0.1 (swtpm relay)")(last.unwrap_or_else(
            || std::io::Error::from(std::io::ErrorKind::AddrInUse),
        )))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake both listeners so their threads see the flag and end.
        for p in [Some(self.port), self.port.checked_add(1)]
            .into_iter()
            .flatten()
        {
            let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, p));
        }
    }
}

fn relay(tcp: TcpStream, unix: UnixStream) {
    let (Ok(mut tcp_r), Ok(mut unix_w)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(std::net::Shutdown::Both);
    });
    let (mut unix_r, mut tcp_w) = (unix, tcp);
    let mut buf = [0u8; 8192];
    loop {
        match unix_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tcp_w.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                    break;
                }
            }
        }
    }
    let _ = tcp_w.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

/// The PCR handles tss-esapi names, by index.
const PCR_HANDLES: [PcrHandle; 24] = [
    PcrHandle::Pcr0,
    PcrHandle::Pcr1,
    PcrHandle::Pcr2,
    PcrHandle::Pcr3,
    PcrHandle::Pcr4,
    PcrHandle::Pcr5,
    PcrHandle::Pcr6,
    PcrHandle::Pcr7,
    PcrHandle::Pcr8,
    PcrHandle::Pcr9,
    PcrHandle::Pcr10,
    PcrHandle::Pcr11,
    PcrHandle::Pcr12,
    PcrHandle::Pcr13,
    PcrHandle::Pcr14,
    PcrHandle::Pcr15,
    PcrHandle::Pcr16,
    PcrHandle::Pcr17,
    PcrHandle::Pcr18,
    PcrHandle::Pcr19,
    PcrHandle::Pcr20,
    PcrHandle::Pcr21,
    PcrHandle::Pcr22,
    PcrHandle::Pcr23,
];

fn hashing(bank: HashAlg) -> Result<HashingAlgorithm, Error> {
    match bank {
        HashAlg::SHA1 => Ok(HashingAlgorithm::Sha1),
        HashAlg::SHA256 => Ok(HashingAlgorithm::Sha256),
        HashAlg::SHA384 => Ok(HashingAlgorithm::Sha384),
        HashAlg::SHA512 => Ok(HashingAlgorithm::Sha512),
        HashAlg::SM3_256 => Ok(HashingAlgorithm::Sm3_256),
        other => Err(Error::Unsupported(format!("PCR bank {other}"))),
    }
}

fn slot(index: u8) -> Result<PcrSlot, Error> {
    if index >= 24 {
        return Err(Error::Unsupported(format!("PCR {index} (0..=23)")));
    }
    PcrSlot::try_from(1u32 << index).map_err(Error::tpm(format!("PCR {index}")))
}

fn selection_list(sel: &Selection) -> Result<tss_esapi::structures::PcrSelectionList, Error> {
    let mut b = PcrSelectionListBuilder::new();
    for (bank, indices) in sel {
        let slots = indices
            .iter()
            .map(|i| slot(*i))
            .collect::<Result<Vec<_>, _>>()?;
        b = b.with_selection(hashing(*bank)?, &slots);
    }
    b.build().map_err(Error::tpm("PCR selection"))
}

/// An open TPM.
pub struct Tpm {
    ctx: Context,
    _relay: Option<Relay>,
}

impl std::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tpm").finish_non_exhaustive()
    }
}

impl Tpm {
    /// Connects to the TPM named by `tcti`.
    pub fn open(tcti: &Tcti) -> Result<Self, Error> {
        let (conf, relay) = match tcti {
            Tcti::Device(p) => {
                if !p.exists() {
                    return Err(Error::Io {
                        path: p.display().to_string(),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
                (format!("device:{}", p.display()), None)
            }
            Tcti::SwtpmUnix(p) => {
                let r = Relay::start(p)?;
                (format!("swtpm:host=127.0.0.1,port={}", r.port), Some(r))
            }
            Tcti::Other(s) => (s.clone(), None),
        };
        let name = TctiNameConf::from_str(&conf).map_err(Error::tpm(format!("tcti {conf}")))?;
        let ctx = Context::new(name).map_err(Error::tpm(format!("connecting to {conf}")))?;
        Ok(Self { ctx, _relay: relay })
    }

    /// Creates the endorsement key from the TCG default template for `alg`
    /// (RSA-2048 or ECC P-256, the low-range templates whose certificates
    /// sit at NV 0x01c00002 and 0x01c0000a). The same TPM gives the same key.
    pub fn create_ek(&mut self, alg: KeyAlg) -> Result<Ek, Error> {
        let handle = ek::create_ek_object_2(&mut self.ctx, alg.selection(), DefaultKey)
            .map_err(Error::tpm("creating the endorsement key"))?;
        let public = self.public_of(handle, "endorsement key")?.0;
        Ok(Ek {
            handle,
            alg,
            public,
        })
    }

    /// The EK certificate the manufacturer (or swtpm_setup) stored in NV, if any.
    pub fn ek_certificate(&mut self, alg: KeyAlg) -> Result<Option<Vec<u8>>, Error> {
        match ek::retrieve_ek_pubcert(&mut self.ctx, alg.selection()) {
            Ok(c) => Ok(Some(c)),
            Err(tss_esapi::Error::Tss2Error(_)) => Ok(None),
            Err(e) => Err(Error::Tpm {
                context: "reading the EK certificate".into(),
                source: e,
            }),
        }
    }

    /// Creates a new restricted signing key (the AK) under `ek` and loads it.
    pub fn create_ak(&mut self, ek: &Ek, alg: KeyAlg) -> Result<Ak, Error> {
        let created = ak::create_ak_2(
            &mut self.ctx,
            ek.handle,
            HashingAlgorithm::Sha256,
            alg.selection(),
            alg.scheme(),
            None,
            DefaultKey,
        )
        .map_err(Error::tpm("creating the attestation key"))?;
        let private = created.out_private.value().to_vec();
        self.load_ak_parts(ek, alg, created.out_public, created.out_private, private)
    }

    /// Loads an AK made earlier by [`Tpm::create_ak`] from its public area
    /// (TPMT_PUBLIC) and wrapped private part.
    pub fn load_ak(
        &mut self,
        ek: &Ek,
        alg: KeyAlg,
        public: &[u8],
        private: &[u8],
    ) -> Result<Ak, Error> {
        let pubarea =
            Public::unmarshall(public).map_err(Error::tpm("attestation key public area"))?;
        let priv_ = Private::try_from(private.to_vec())
            .map_err(Error::tpm("attestation key private part"))?;
        self.load_ak_parts(ek, alg, pubarea, priv_, private.to_vec())
    }

    fn load_ak_parts(
        &mut self,
        ek: &Ek,
        alg: KeyAlg,
        public: Public,
        private: Private,
        private_bytes: Vec<u8>,
    ) -> Result<Ak, Error> {
        let handle = ak::load_ak(&mut self.ctx, ek.handle, None, private, public)
            .map_err(Error::tpm("loading the attestation key"))?;
        let (public, name) = self.public_of(handle, "attestation key")?;
        Ok(Ak {
            handle,
            alg,
            public,
            private: private_bytes,
            name,
        })
    }

    fn public_of(&mut self, handle: KeyHandle, what: &str) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let (public, name, _) = self
            .ctx
            .read_public(handle)
            .map_err(Error::tpm(format!("reading the {what}")))?;
        let bytes = public
            .marshall()
            .map_err(Error::tpm(format!("marshalling the {what}")))?;
        Ok((bytes, name.value().to_vec()))
    }

    /// Quotes the selected PCRs with `nonce` as qualifying data (at most 64 bytes).
    pub fn quote(&mut self, ak: &Ak, sel: &Selection, nonce: &[u8]) -> Result<Quote, Error> {
        let data = Data::try_from(nonce.to_vec()).map_err(|_| {
            Error::malformed(
                "nonce",
                format!("{} bytes, a TPM takes at most 64", nonce.len()),
            )
        })?;
        let list = selection_list(sel)?;
        let handle = ak.handle;
        let (attest, sig) = self
            .ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.quote(handle, data, SignatureScheme::Null, list)
            })
            .map_err(Error::tpm("quote"))?;
        Ok(Quote {
            attest: attest
                .marshall()
                .map_err(Error::tpm("marshalling the quote"))?,
            signature: sig
                .marshall()
                .map_err(Error::tpm("marshalling the signature"))?,
        })
    }

    /// Reads the selected PCRs.
    pub fn pcr_read(&mut self, sel: &Selection) -> Result<rootline_tpm::PcrValues, Error> {
        let list = selection_list(sel)?;
        let data = pcr::read_all(&mut self.ctx, list).map_err(Error::tpm("PCR read"))?;
        let mut out = rootline_tpm::PcrValues::new();
        for (bank, indices) in sel {
            let b = data
                .pcr_bank(hashing(*bank)?)
                .ok_or_else(|| Error::Unsupported(format!("the TPM has no {bank} bank")))?;
            for i in indices {
                let d = b
                    .get_digest(slot(*i)?)
                    .ok_or_else(|| Error::Unsupported(format!("{bank} PCR {i} was not read")))?;
                out.insert(*bank, *i, d.value().to_vec())
                    .map_err(|e| Error::malformed(format!("{bank} PCR {i}"), e.to_string()))?;
            }
        }
        Ok(out)
    }

    /// Extends PCR `index` with one digest per bank (TPM2_PCR_Extend).
    pub fn pcr_extend(&mut self, index: u8, digests: &[Digest]) -> Result<(), Error> {
        let handle = *PCR_HANDLES
            .get(usize::from(index))
            .ok_or_else(|| Error::Unsupported(format!("PCR {index} (0..=23)")))?;
        let mut values = DigestValues::new();
        for d in digests {
            let v = TpmDigest::try_from(d.bytes.clone())
                .map_err(Error::tpm(format!("{} digest", d.alg)))?;
            values.set(hashing(d.alg)?, v);
        }
        self.ctx
            .execute_with_nullauth_session(|ctx| ctx.pcr_extend(handle, values))
            .map_err(Error::tpm(format!("extending PCR {index}")))
    }

    /// TPM2_ActivateCredential: recovers the secret a verifier sealed with
    /// TPM2_MakeCredential to `ek` and the name of `ak`. Only this TPM can.
    /// Both inputs are marshalled TPM2Bs, as `rootline_tpm::make_credential`
    /// returns them.
    pub fn activate_credential(
        &mut self,
        ak: &Ak,
        ek: &Ek,
        credential_blob: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let blob = IdObject::try_from(tpm2b_body(credential_blob, "credential blob")?.to_vec())
            .map_err(Error::tpm("credential blob"))?;
        let secret =
            EncryptedSecret::try_from(tpm2b_body(encrypted_secret, "encrypted secret")?.to_vec())
                .map_err(Error::tpm("encrypted secret"))?;
        // The EK's policy is PolicySecret(endorsement) in a session whose
        // hash is the EK's name algorithm (SHA-256 for both default templates).
        let policy = self
            .ctx
            .start_auth_session(
                None,
                None,
                None,
                SessionType::Policy,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(Error::tpm("starting the EK policy session"))?
            .ok_or_else(|| Error::malformed("policy session", "the TPM returned none"))?;
        let (attrs, mask) = SessionAttributesBuilder::new().build();
        let result = (|| {
            self.ctx
                .tr_sess_set_attributes(policy, attrs, mask)
                .map_err(Error::tpm("EK policy session attributes"))?;
            let ps = PolicySession::try_from(policy).map_err(Error::tpm("EK policy session"))?;
            self.ctx
                .execute_with_nullauth_session(|ctx| {
                    ctx.policy_secret(
                        ps,
                        AuthHandle::Endorsement,
                        Default::default(),
                        Default::default(),
                        Default::default(),
                        None,
                    )
                })
                .map_err(Error::tpm("PolicySecret(endorsement)"))?;
            self.ctx.set_sessions((
                Some(tss_esapi::interface_types::session_handles::AuthSession::Password),
                Some(policy),
                None,
            ));
            let out = self
                .ctx
                .activate_credential(ak.handle, ek.handle, blob, secret)
                .map_err(Error::tpm("ActivateCredential"));
            self.ctx.clear_sessions();
            out
        })();
        let _ =
            self.ctx
                .flush_context(ObjectHandle::from(tss_esapi::handles::SessionHandle::from(
                    policy,
                )));
        Ok(result?.value().to_vec())
    }

    /// Flushes a key from the TPM (there may be no resource manager to do it).
    pub fn flush_ak(&mut self, ak: Ak) -> Result<(), Error> {
        self.ctx
            .flush_context(ak.handle.into())
            .map_err(Error::tpm("flushing the attestation key"))
    }

    /// Flushes the endorsement key.
    pub fn flush_ek(&mut self, ek: Ek) -> Result<(), Error> {
        self.ctx
            .flush_context(ek.handle.into())
            .map_err(Error::tpm("flushing the endorsement key"))
    }
}

/// The body of a marshalled TPM2B (2-byte big-endian size, then that many bytes).
fn tpm2b_body<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8], Error> {
    let mut r = rootline_core::Reader::new(bytes);
    let body = r
        .vec_u16_be("size")
        .map_err(|e| Error::malformed(what, e.to_string()))?;
    r.finish("TPM2B")
        .map_err(|e| Error::malformed(what, e.to_string()))?;
    Ok(body)
}
