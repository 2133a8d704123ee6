//! Sessions that survive load balancing: the challenge is a signed, expiring
//! cookie, so any replica can continue a handshake that another began.
//!
//! The cookie `kbs-session-id` is `base64url(payload) "." base64url(mac)`,
//! with the payload `{"n": nonce, "t": tee, "e": expiry, "h": hash}` and the
//! MAC HMAC-SHA-256 under a key that every replica shares through the store
//! (sealed under the KEK). `/auth` writes nothing; `/attest` records the
//! nonce in the shared `sessions` table, whose primary key makes each nonce
//! usable once, and later requests find the token there.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The cookie's name, as KBS guests expect it.
pub const COOKIE: &str = "kbs-session-id";

/// The signed content of a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// The nonce (base64 of 32 bytes: six of milliseconds, then 26 random;
    /// see `store::time_ordered`), as sent to the guest.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The KBS tee name the guest announced.
    #[serde(rename = "t")]
    pub tee: String,
    /// Unix seconds after which the challenge is void.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The negotiated hash for the runtime-data binding (`sha384`, `sha512`).
    #[serde(rename = "h")]
    pub hash: String,
}

/// Signs and checks challenge cookies.
pub struct SessionKeys {
    key: hmac::Key,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(<redacted>)")
    }
}

impl SessionKeys {
    /// Keys from 32 secret bytes.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The cookie value for `c`.
    pub fn seal(&self, c: &Challenge) -> Result<String> {
        let payload = serde_json::to_vec(c).map_err(|e| Error::Crypto(e.to_string()))?;
        let p = URL_SAFE_NO_PAD.encode(payload);
        let tag = hmac::sign(&self.key, p.as_bytes());
        Ok(format!("{p}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    /// `payload` as a cookie value MAC'd under `label`:
    /// `base64url(payload) "." base64url(HMAC(label || 0 || base64url(payload)))`.
    /// The label separates the uses of the one key: a challenge's MAC is
    /// over its base64url text alone, which holds no zero byte, so neither
    /// kind of cookie passes for the other.
    pub(crate) fn seal_labelled(&self, label: &str, payload: &[u8]) -> String {
        let p = URL_SAFE_NO_PAD.encode(payload);
        let tag = hmac::sign(&self.key, &labelled(label, &p));
        format!("{p}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The payload of a value [`SessionKeys::seal_labelled`] made under
    /// `label`, or `None` when it is malformed or its MAC does not verify.
    pub(crate) fn open_labelled(&self, label: &str, value: &str) -> Option<Vec<u8>> {
        if value.len() > 1024 {
            return None;
        }
        let (p, t) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(t).ok()?;
        hmac::verify(&self.key, &labelled(label, p), &tag).ok()?;
        URL_SAFE_NO_PAD.decode(p).ok()
    }

    /// Checks a cookie's MAC and expiry.
    pub fn open(&self, cookie: &str, now: i64) -> Result<Challenge> {
        let unauth = |why: &str| Error::Unauthenticated(format!("session cookie {why}"));
        if cookie.len() > 1024 {
            return Err(unauth("is too long"));
        }
        let (p, t) = cookie
            .split_once('.')
            .ok_or_else(|| unauth("is malformed"))?;
        let tag = URL_SAFE_NO_PAD
            .decode(t)
            .map_err(|_| unauth("is malformed"))?;
        hmac::verify(&self.key, p.as_bytes(), &tag)
            .map_err(|_| unauth("was not issued by this broker (bad MAC)"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| unauth("is malformed"))?;
        let c: Challenge = serde_json::from_slice(&payload).map_err(|_| unauth("is malformed"))?;
        if c.expires_at <= now {
            return Err(Error::Unauthenticated(
                "session expired: start again with /kbs/v0/auth".into(),
            ));
        }
        Ok(c)
    }
}

fn labelled(label: &str, p: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + 1 + p.len());
    m.extend_from_slice(label.as_bytes());
    m.push(0);
    m.extend_from_slice(p.as_bytes());
    m
}

/// Sessions this replica attested, with the claims of the token it issued.
///
/// The resource request that follows an `/attest` usually comes back to the
/// same replica; it then needs neither the store (the session row) nor a
/// signature check of a token this process signed a moment ago: the claims
/// are the very value that was signed. A request that reaches another
/// replica, or comes after this one restarted, reads the row and verifies
/// the token as before.
///
/// Bounded by bytes, oldest first out: the claims of one session held about
/// 8 KB as parsed JSON, and a cap of 65,536 entries held 540 MB after 65,000
/// handshakes (hardening finding 4, where Trustee held 38 MB). The follow-up
/// request comes within moments, so a few thousand recent sessions serve
/// it; older ones take the store path.
#[derive(Default)]
pub struct Recent {
    map: Mutex<RecentMap>,
}

#[derive(Default)]
struct RecentMap {
    sessions: HashMap<String, RecentSession>,
    /// Insertion order with each entry's estimated bytes.
    order: VecDeque<(String, usize)>,
    /// Sum of the estimates of the entries held.
    bytes: usize,
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recent")
    }
}

/// A session attested by this replica.
#[derive(Clone)]
pub struct RecentSession {
    /// The session row's expiry.
    pub expires_at: i64,
    /// The token issued.
    pub token: Arc<str>,
    /// Its claims, exactly as signed.
    pub claims: crate::token::Attested,
}

/// Bytes of sessions [`Recent`] keeps at most (estimated, see
/// [`RecentSession::estimate`]).
pub const RECENT_MAX_BYTES: usize = 16 << 20;

impl RecentSession {
    /// Estimated heap bytes: the token plus its claims as a parsed JSON
    /// tree, which takes about four times the JSON text (maps, strings and
    /// their headers); the token's payload is that text in base64.
    fn estimate(&self, nonce: &str) -> usize {
        nonce.len() + self.token.len() * 4 + 256
    }
}

impl Recent {
    /// Keeps the token issued for `nonce` and its claims, pushing the oldest
    /// entries out beyond [`RECENT_MAX_BYTES`].
    pub fn insert(&self, nonce: &str, session: RecentSession) {
        let size = session.estimate(nonce);
        if size > RECENT_MAX_BYTES / 16 {
            return; // an outsized token is not worth a slot
        }
        let mut guard = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let m = &mut *guard;
        while m.bytes + size > RECENT_MAX_BYTES {
            let Some((old, b)) = m.order.pop_front() else {
                break;
            };
            m.sessions.remove(&old);
            m.bytes = m.bytes.saturating_sub(b);
        }
        if m.sessions.insert(nonce.to_owned(), session).is_some() {
            // The same nonce again (a repeated /attest): counted once.
            return;
        }
        m.order.push_back((nonce.to_owned(), size));
        m.bytes += size;
    }

    /// An unexpired session attested here, if kept.
    pub fn get(&self, nonce: &str, now: i64) -> Option<RecentSession> {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        m.sessions
            .get(nonce)
            .filter(|s| s.expires_at > now)
            .cloned()
    }

    /// Drops expired sessions.
    pub fn purge(&self, now: i64) {
        let mut guard = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let m = &mut *guard;
        m.sessions.retain(|_, s| s.expires_at > now);
        let sessions = &m.sessions;
        m.order.retain(|(n, _)| sessions.contains_key(n));
        m.bytes = m.order.iter().map(|(_, b)| *b).sum();
    }

    /// Entries and estimated bytes held.
    pub fn usage(&self) -> (usize, usize) {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        (m.sessions.len(), m.bytes)
    }
}

/// The `Set-Cookie` header value for a challenge cookie.
pub fn set_cookie(value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/kbs; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Finds the session cookie in a `Cookie` header.
pub fn find_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_expire_forge() {
        let k = SessionKeys::new(&[1; 32]);
        let c = Challenge {
            nonce: "abc".into(),
            tee: "snp".into(),
            expires_at: 100,
            hash: "sha384".into(),
        };
        let v = k.seal(&c).unwrap();
        assert_eq!(k.open(&v, 99).unwrap(), c);
        assert!(matches!(k.open(&v, 100), Err(Error::Unauthenticated(m)) if m.contains("expired")));
        let other = SessionKeys::new(&[2; 32]);
        assert!(other.open(&v, 0).is_err());
        // A payload edited to extend the expiry fails the MAC.
        let forged = Challenge {
            expires_at: 10_000,
            ..c
        };
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tag = v.split_once('.').unwrap().1;
        assert!(k.open(&format!("{p}.{tag}"), 200).is_err());
        assert_eq!(
            find_cookie(&format!("a=b; {COOKIE}={v}; c=d")),
            Some(v.as_str())
        );
        // A labelled value is no challenge, and the other way round.
        let ui = k.seal_labelled("ui", b"{}");
        assert_eq!(k.open_labelled("ui", &ui).unwrap(), b"{}");
        assert!(k.open_labelled("other", &ui).is_none());
        assert!(k.open(&ui, 0).is_err());
        assert!(k.open_labelled("ui", &v).is_none());
        assert!(other.open_labelled("ui", &ui).is_none());
        let sc = set_cookie(&v, 300, true);
        assert!(sc.contains("HttpOnly") && sc.contains("SameSite=Strict") && sc.contains("Secure"));
    }
}
