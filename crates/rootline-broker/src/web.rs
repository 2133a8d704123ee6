//! The web view (`/ui/`): what an operator looks for when a workload does
//! not get its secret, read from what the broker already keeps, in a
//! browser. Read-only, server-rendered HTML with a little inline CSS; no
//! script at all (the pages' Content-Security-Policy forbids it).
//!
//! Pages: the overview (every workload's last status, the broker's
//! readiness), attestations and releases per workload, denials with their
//! reason and the findings that failed, TCB status and collateral freshness
//! per platform, reference values with their history. A workload is what
//! the audit log names it by: its TEE and its identifying claim (see
//! [`crate::audit::Workload`]); the broker keeps no other name for it.
//!
//! Authentication is the admin API's: `GET /ui/login` is a form where the
//! operator pastes an admin JWT (`rootline admin token` prints one); `POST
//! /ui/login` checks it with the admin API's own check and sets a cookie
//! `rootline-ui`, MAC'd with the key of the KBS session cookies under a
//! label of its own, `HttpOnly; SameSite=Strict; Path=/ui` (and `Secure`
//! with `secure_cookies`), valid for at most [`SESSION_SECS`] and never
//! past the token's `exp`. A browser cannot send a Bearer header, hence the
//! cookie. Without an admin key the web view is closed as the admin API
//! is, and says which setting opens it. Logins are rate limited per client
//! address like `/auth`, and refused logins are audited.
//!
//! Everything shown that came from a guest, a client or the store (audit
//! reasons, resource paths, claims, collateral URLs) goes through [`esc`]:
//! a reason may quote what a guest sent.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEvent, ClientAddr};
use crate::store::AuditRow;
use crate::{Broker, Route};

/// The web view's cookie.
pub const COOKIE: &str = "rootline-ui";
/// Longest a web-view login lasts, in seconds.
pub const SESSION_SECS: i64 = 900;
/// The MAC label of the web view's cookie.
const LABEL: &str = "rootline-ui-v1";
/// Audit rows the pages read (the newest).
pub const AUDIT_ROWS: i64 = 1000;
/// Rows shown per workload on the attestations page.
const ROWS_PER_WORKLOAD: usize = 50;
/// Longest form body accepted by the login (a token is 300-600 bytes).
const MAX_LOGIN_BODY: usize = 16 * 1024;

pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::get("/ui/", overview),
        Route::get("/ui/login", login_form),
        Route::post("/ui/login", login),
        Route::get("/ui/attestations", attestations),
        Route::get("/ui/denials", denials),
        Route::get("/ui/platforms", platforms),
        Route::get("/ui/reference-values", reference_values),
    ]
}

/// `text` escaped for HTML text and attribute values (double- or
/// single-quoted): `& < > " '`.
pub fn esc(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// Text that is escaped as it is written (see [`esc`]).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            let (plain, tail) = rest.split_at(i);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            f.write_str(match chars.next() {
                Some('&') => "&amp;",
                Some('<') => "&lt;",
                Some('>') => "&gt;",
                Some('"') => "&quot;",
                _ => "&#39;",
            })?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

/// The web-view cookie's content.
#[derive(Serialize, Deserialize)]
struct UiSession {
    /// Unix seconds after which the login is void.
    #[serde(rename = "e")]
    expires_at: i64,
}

/// Proof that a request carries a valid web-view cookie; otherwise the
/// request is answered with the login page's address (303), or with the
/// closed page when no admin key is configured.
pub(crate) struct Operator {
    expires_at: i64,
}

impl FromRequestParts<Arc<Broker>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, b: &Arc<Broker>) -> Result<Self, Response> {
        if b.admin_key.is_none() {
            return Err(closed_page());
        }
        let now = b.clock.now();
        let session = cookie(&parts.headers)
            .and_then(|c| b.sessions.open_labelled(LABEL, c))
            .and_then(|p| serde_json::from_slice::<UiSession>(&p).ok())
            .filter(|s| s.expires_at > now);
        match session {
            Some(s) => Ok(Operator {
                expires_at: s.expires_at,
            }),
            None => Err(see_other("/ui/login")),
        }
    }
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

fn see_other(to: &'static str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    secure_headers(&mut r);
    r
}

/// Headers of every web-view answer: no script, no framing, no caching,
/// no referrer.
fn secure_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    secure_headers(&mut r);
    r
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f23;background:#f6f8fa}\
header{background:#24292f;color:#fff;padding:.6em 1.2em;display:flex;gap:2em;align-items:center}\
header a{color:#c9d1d9;text-decoration:none;margin-right:1.2em}header a.cur{color:#fff;font-weight:600}\
main{padding:1em 1.2em}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:1em}\
th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}td.reason,ul.f{overflow-wrap:anywhere}\
th{background:#eaeef2}code,.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}\
.ok{color:#116329;font-weight:600}.bad{color:#a40e26;font-weight:600}.warn{color:#7d4e00;font-weight:600}\
.muted{color:#57606a}footer{color:#57606a;padding:1em 1.2em;font-size:12px}\
ul.f{margin:0;padding-left:1.1em}textarea{width:100%;font-family:ui-monospace,monospace}\
.box{background:#fff;border:1px solid #d0d7de;padding:1em;max-width:50em}";

const NAV: [(&str, &str); 5] = [
    ("/ui/", "Overview"),
    ("/ui/attestations", "Attestations"),
    ("/ui/denials", "Denials"),
    ("/ui/platforms", "Platforms"),
    ("/ui/reference-values", "Reference values"),
];

/// A whole page: `body` is HTML already built with [`esc`].
fn page(b: &Broker, current: &str, title: &str, body: &str, op: Option<&Operator>) -> Response {
    let mut o = String::with_capacity(body.len() + 2048);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>rootline: {}</title><style>{STYLE}</style></head><body><header>\
         <strong>rootline broker</strong><nav>",
        esc(title)
    );
    if op.is_some() {
        for (href, name) in NAV {
            let cur = if href == current {
                " class=\"cur\""
            } else {
                ""
            };
            let _ = write!(o, "<a href=\"{href}\"{cur}>{name}</a>");
        }
    }
    let _ = write!(
        o,
        "</nav></header><main><h1>{}</h1>{body}</main>",
        esc(title)
    );
    let now = b.clock.now();
    let _ = write!(o, "<footer>Read-only view, rendered {}", esc(&when(now)));
    if let Some(op) = op {
        let _ = write!(o, "; this login ends {}", esc(&when(op.expires_at)));
    }
    o.push_str(".</footer></body></html>");
    html(StatusCode::OK, o)
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ`.
fn when(t: i64) -> String {
    crate::health::rfc3339(t).replace('T', " ")
}

fn closed_page() -> Response {
    html(
        StatusCode::FORBIDDEN,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>rootline: web view closed</title>\
             <style>{STYLE}</style></head><body><header><strong>rootline broker</strong></header><main>\
             <h1>The web view is closed</h1><div class=\"box\"><p>This broker has no admin key configured, \
             so its admin API and this web view are closed.</p><p>To open them, set <code>admin_public_key</code> \
             in the broker's configuration to the public key that <code>rootline admin keygen KEY</code> writes \
             (<code>KEY.pub</code>), and restart the broker.</p></div></main></body></html>"
        ),
    )
}

fn login_page(b: &Broker, status: StatusCode, error: Option<&str>) -> Response {
    let mut body = String::new();
    if let Some(e) = error {
        let _ = write!(
            body,
            "<p class=\"bad\" id=\"login-error\">Login refused: {}</p>",
            esc(e)
        );
    }
    let _ = write!(
        body,
        "<div class=\"box\"><form method=\"post\" action=\"/ui/login\">\
         <p><label for=\"token\">Admin token</label></p>\
         <textarea id=\"token\" name=\"token\" rows=\"6\" autocomplete=\"off\" spellcheck=\"false\" required></textarea>\
         <p><button type=\"submit\" id=\"login\">Log in</button></p></form>\
         <p class=\"muted\">Paste a token that <code>rootline admin --key ADMIN_KEY token</code> prints \
         (an admin JWT, as the admin API takes). The login lasts at most {} minutes and never past the \
         token's expiry; the view only reads.</p></div>",
        SESSION_SECS / 60
    );
    let mut r = page(b, "", "Log in", &body, None);
    *r.status_mut() = status;
    r
}

async fn login_form(State(b): State<Arc<Broker>>) -> Response {
    if b.admin_key.is_none() {
        return closed_page();
    }
    login_page(&b, StatusCode::OK, None)
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)?
        .1;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn login(State(b): State<Arc<Broker>>, client: ClientAddr, body: Bytes) -> Response {
    if let Err(e) = b.rate_limit(client.ip()) {
        return e.into_response();
    }
    if b.admin_key.is_none() {
        return closed_page();
    }
    let checked = if body.len() > MAX_LOGIN_BODY {
        Err(crate::Error::Malformed(
            "the login form is too large".into(),
        ))
    } else {
        form_value(&body, "token")
            .ok_or_else(|| crate::Error::Malformed("the login form has no token".into()))
            .and_then(|t| crate::admin::authorize_token(&b, t.trim()))
    };
    let exp = match checked {
        Ok(exp) => exp,
        Err(e) => {
            let reason = e.to_string();
            b.audit_refusal(AuditEvent {
                client,
                evidence_digest: None,
                resource: "/ui/login",
                policy: "admin-login",
                outcome: audit::Outcome::Denied,
                reason: &reason,
                workload: None,
                failed: None,
            })
            .await;
            tracing::info!(%client, reason = %crate::loggable(&reason), "web view login refused");
            return login_page(&b, StatusCode::UNAUTHORIZED, Some(&reason));
        }
    };
    let now = b.clock.now();
    let expires_at = exp.min(now.saturating_add(SESSION_SECS));
    let payload = serde_json::to_vec(&UiSession { expires_at }).unwrap_or_default();
    let value = b.sessions.seal_labelled(LABEL, &payload);
    let cookie = format!(
        "{COOKIE}={value}; Path=/ui; Max-Age={}; HttpOnly; SameSite=Strict{}",
        expires_at.saturating_sub(now),
        if b.secure_cookies { "; Secure" } else { "" }
    );
    tracing::info!(%client, "web view login");
    let mut r = see_other("/ui/");
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
            r
        }
        Err(_) => crate::Error::Crypto("cookie is not a header value".into()).into_response(),
    }
}

/// A store read failed: the page says so without the internals (logged).
fn unavailable(b: &Broker, op: &Operator, title: &str, e: &crate::Error) -> Response {
    tracing::error!(error = %crate::loggable(&e.to_string()), "web view: the store failed");
    let mut r = page(
        b,
        "",
        title,
        "<p class=\"bad\">The store could not be read; the broker's log has the cause.</p>",
        Some(op),
    );
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// The newest audit rows, newest first. Rows of one second keep the
/// store's order, except that a release or denial goes before an
/// attestation: within a handshake the attestation comes first, and audit
/// ids (milliseconds, then random bytes) do not order rows made in the
/// same millisecond.
async fn audit_rows(b: &Broker) -> crate::Result<Vec<AuditRow>> {
    let mut rows = b.store.list_audit(AUDIT_ROWS).await?;
    let later = |r: &AuditRow| u8::from(r.result == "released" || r.result == "denied");
    rows.sort_by(|x, y| y.at.cmp(&x.at).then(later(y).cmp(&later(x))));
    Ok(rows)
}

/// A workload's key in the pages: its TEE and identifying claim.
type WorkloadKey<'a> = (&'a str, &'a str);

fn workload_key(r: &AuditRow) -> WorkloadKey<'_> {
    (
        r.tee.as_deref().unwrap_or("-"),
        r.workload.as_deref().unwrap_or("-"),
    )
}

/// Whether a row is about a workload (not a web-view login).
fn about_workload(r: &AuditRow) -> bool {
    r.policy != "admin-login"
}

/// The CSS class of a row's outcome.
fn class_of(r: &AuditRow) -> &'static str {
    match r.result.as_str() {
        "released" => "ok",
        "attested" if r.reason.ends_with(crate::appraise::status::AFFIRMING) => "ok",
        "attested" if r.reason.ends_with(crate::appraise::status::WARNING) => "warn",
        _ => "bad",
    }
}

/// A long value cut for a table cell, whole in its title.
fn short(o: &mut String, v: &str) {
    const KEEP: usize = 24;
    match v.char_indices().nth(KEEP) {
        Some((i, _)) => {
            let _ = write!(
                o,
                "<span class=\"mono\" title=\"{}\">{}\u{2026}</span>",
                esc(v),
                esc(v.get(..i).unwrap_or(v))
            );
        }
        None => {
            let _ = write!(o, "<span class=\"mono\">{}</span>", esc(v));
        }
    }
}

fn outcome(o: &mut String, r: &AuditRow) {
    let _ = write!(
        o,
        "<span class=\"{}\">{}</span>",
        class_of(r),
        esc(&r.result)
    );
    if r.result == "attested" {
        let status = r.reason.strip_prefix("ear.status ").unwrap_or(&r.reason);
        let _ = write!(o, " ({})", esc(status));
    }
}

fn failed_list(o: &mut String, failed: Option<&str>) {
    match failed {
        Some(f) if !f.is_empty() => {
            o.push_str("<ul class=\"f\">");
            for line in f.lines() {
                let _ = write!(o, "<li>{}</li>", esc(line));
            }
            o.push_str("</ul>");
        }
        _ => o.push_str("<span class=\"muted\">-</span>"),
    }
}

async fn overview(op: Operator, State(b): State<Arc<Broker>>) -> Response {
    let title = "Overview";
    let rows = match audit_rows(&b).await {
        Ok(r) => r,
        Err(e) => return unavailable(&b, &op, title, &e),
    };
    let ready = b.readiness().await;
    let mut o = String::new();
    let _ = write!(
        o,
        "<p>Broker: <span class=\"{}\" id=\"readiness\">{}</span>",
        if ready.ready() { "ok" } else { "bad" },
        esc(ready.status)
    );
    for (name, c) in &ready.checks {
        let _ = write!(
            o,
            " &middot; {}: <span class=\"{}\">{}</span>",
            esc(name),
            if c.ok { "ok" } else { "bad" },
            if c.ok { "ok" } else { "failed" }
        );
    }
    o.push_str("</p>");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| about_workload(r)) {
        *counts.entry(r.result.as_str()).or_default() += 1;
    }
    let _ = write!(
        o,
        "<p>In the newest {} audit rows: ",
        rows.len()
            .min(usize::try_from(AUDIT_ROWS).unwrap_or(usize::MAX))
    );
    for (i, k) in ["attested", "rejected", "released", "denied"]
        .iter()
        .enumerate()
    {
        let _ = write!(
            o,
            "{}{} {k}",
            if i > 0 { ", " } else { "" },
            counts.get(k).copied().unwrap_or(0)
        );
    }
    o.push_str(".</p><h2>Workloads</h2>");
    // Newest first, so the first row of a workload is its last status.
    let mut seen: Vec<(WorkloadKey<'_>, &AuditRow, [usize; 4])> = Vec::new();
    for r in rows.iter().filter(|r| about_workload(r)) {
        let k = workload_key(r);
        let i = match seen.iter().position(|(s, _, _)| *s == k) {
            Some(i) => i,
            None => {
                seen.push((k, r, [0; 4]));
                seen.len() - 1
            }
        };
        if let Some((_, _, n)) = seen.get_mut(i) {
            match r.result.as_str() {
                "attested" => n[0] += 1,
                "rejected" => n[1] += 1,
                "released" => n[2] += 1,
                _ => n[3] += 1,
            }
        }
    }
    if seen.is_empty() {
        o.push_str("<p class=\"muted\">No attestation, release or denial is recorded yet.</p>");
    } else {
        o.push_str(
            "<table id=\"workloads\"><tr><th>TEE</th><th>Workload</th><th>Last status</th>\
             <th>Last seen</th><th>Attested</th><th>Rejected</th><th>Released</th><th>Denied</th></tr>",
        );
        for ((tee, w), last, n) in &seen {
            let _ = write!(o, "<tr><td>{}</td><td>", esc(tee));
            short(&mut o, w);
            o.push_str("</td><td>");
            outcome(&mut o, last);
            if last.resource != "-" {
                let _ = write!(o, " <span class=\"mono\">{}</span>", esc(&last.resource));
            }
            let _ = write!(
                o,
                "</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&when(last.at)),
                n[0],
                n[1],
                n[2],
                n[3]
            );
        }
        o.push_str("</table>");
    }
    o.push_str(
        "<p class=\"muted\">A workload is its TEE and the claim that names its code \
         (launch measurement, MRTD, MRENCLAVE, realm initial measurement, TPM PCR 4), as the \
         audit log recorded them; <code>-</code> where the evidence did not verify.</p>",
    );
    page(&b, "/ui/", title, &o, Some(&op))
}

async fn attestations(op: Operator, State(b): State<Arc<Broker>>) -> Response {
    let title = "Attestations and releases";
    let rows = match audit_rows(&b).await {
        Ok(r) => r,
        Err(e) => return unavailable(&b, &op, title, &e),
    };
    let mut groups: Vec<(WorkloadKey<'_>, Vec<&AuditRow>)> = Vec::new();
    for r in rows.iter().filter(|r| about_workload(r)) {
        let k = workload_key(r);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, v)) => v.push(r),
            None => groups.push((k, vec![r])),
        }
    }
    let mut o = String::new();
    if groups.is_empty() {
        o.push_str("<p class=\"muted\">Nothing is recorded yet.</p>");
    }
    for ((tee, w), list) in &groups {
        let _ = write!(
            o,
            "<h2>{} <span class=\"mono\">{}</span></h2>",
            esc(tee),
            esc(w)
        );
        o.push_str(
            "<table><tr><th>Time</th><th>Outcome</th><th>Resource</th><th>Policy</th>\
             <th>Client</th><th>TCB status</th><th>Evidence digest</th></tr>",
        );
        for r in list.iter().take(ROWS_PER_WORKLOAD) {
            let _ = write!(o, "<tr><td>{}</td><td>", esc(&when(r.at)));
            outcome(&mut o, r);
            let _ = write!(
                o,
                "</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
                esc(&r.resource),
                esc(&r.policy),
                esc(&r.client),
                esc(r.tcb_status.as_deref().unwrap_or("-"))
            );
            short(&mut o, r.evidence_digest.as_deref().unwrap_or("-"));
            o.push_str("</td></tr>");
        }
        o.push_str("</table>");
        if list.len() > ROWS_PER_WORKLOAD {
            let _ = write!(
                o,
                "<p class=\"muted\">{} older rows not shown.</p>",
                list.len() - ROWS_PER_WORKLOAD
            );
        }
    }
    page(&b, "/ui/attestations", title, &o, Some(&op))
}

async fn denials(op: Operator, State(b): State<Arc<Broker>>) -> Response {
    let title = "Denials";
    let rows = match audit_rows(&b).await {
        Ok(r) => r,
        Err(e) => return unavailable(&b, &op, title, &e),
    };
    let mut o = String::from(
        "<p class=\"muted\">Refused attestations (<em>rejected</em>: the evidence did not verify \
         or bind) and refused releases (<em>denied</em>: by the resource's policy, or for the \
         token), newest first, with the broker's reason and, for a policy denial, the appraisal \
         findings that failed. Refused web-view logins are listed last.</p>",
    );
    let refused: Vec<&AuditRow> = rows
        .iter()
        .filter(|r| r.result == "denied" || r.result == "rejected")
        .collect();
    let (workloads, logins): (Vec<&AuditRow>, Vec<&AuditRow>) =
        refused.into_iter().partition(|r| about_workload(r));
    if workloads.is_empty() {
        o.push_str("<p>No denial is recorded.</p>");
    } else {
        o.push_str(
            "<table id=\"denials\"><tr><th>Time</th><th>Outcome</th><th>TEE</th><th>Workload</th>\
             <th>Resource</th><th>Policy</th><th>Reason</th><th>What failed</th><th>Client</th></tr>",
        );
        for r in workloads {
            let (tee, w) = workload_key(r);
            let _ = write!(
                o,
                "<tr><td>{}</td><td><span class=\"bad\">{}</span></td><td>{}</td><td>",
                esc(&when(r.at)),
                esc(&r.result),
                esc(tee)
            );
            short(&mut o, w);
            let _ = write!(
                o,
                "</td><td class=\"mono\">{}</td><td>{}</td><td class=\"reason\">{}</td><td>",
                esc(&r.resource),
                esc(&r.policy),
                esc(&r.reason)
            );
            failed_list(&mut o, r.failed.as_deref());
            let _ = write!(o, "</td><td>{}</td></tr>", esc(&r.client));
        }
        o.push_str("</table>");
    }
    if !logins.is_empty() {
        o.push_str(
            "<h2>Refused web-view logins</h2><table><tr><th>Time</th><th>Client</th><th>Reason</th></tr>",
        );
        for r in logins {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&when(r.at)),
                esc(&r.client),
                esc(&r.reason)
            );
        }
        o.push_str("</table>");
    }
    page(&b, "/ui/denials", title, &o, Some(&op))
}

async fn platforms(op: Operator, State(b): State<Arc<Broker>>) -> Response {
    let title = "Platforms";
    let rows = match audit_rows(&b).await {
        Ok(r) => r,
        Err(e) => return unavailable(&b, &op, title, &e),
    };
    let mut o = String::from("<h2>TCB status per TEE</h2>");
    // By TEE, then TCB status: count and last seen (rows are newest first).
    let mut tcb: BTreeMap<&str, BTreeMap<&str, (usize, i64)>> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.result == "attested" || r.result == "rejected")
    {
        let Some(tee) = r.tee.as_deref() else {
            continue;
        };
        let status = match (r.tcb_status.as_deref(), r.result.as_str()) {
            (Some(s), _) => s,
            (None, "rejected") => "(evidence rejected)",
            (None, _) => "(not reported)",
        };
        let e = tcb
            .entry(tee)
            .or_default()
            .entry(status)
            .or_insert((0, r.at));
        e.0 += 1;
    }
    if tcb.is_empty() {
        o.push_str("<p class=\"muted\">No attestation is recorded yet.</p>");
    } else {
        o.push_str(
            "<table id=\"tcb\"><tr><th>TEE</th><th>TCB status</th><th>Attestations</th><th>Last seen</th></tr>",
        );
        for (tee, by) in &tcb {
            for (status, (n, last)) in by {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{n}</td><td>{}</td></tr>",
                    esc(tee),
                    esc(status),
                    esc(&when(*last))
                );
            }
        }
        o.push_str("</table>");
    }
    o.push_str(
        "<p class=\"muted\">The TCB status is the verifier's (Intel's TCB levels for TDX and SGX; \
         the simulated TEE reports none), as recorded with each attestation.</p>",
    );
    o.push_str("<h2>Collateral freshness</h2>");
    let ready = b.readiness().await;
    if let Some(c) = ready.checks.get("collateral") {
        let _ = write!(
            o,
            "<p>Readiness check <code>collateral</code>: <span class=\"{}\">{}</span>: {}</p>",
            if c.ok { "ok" } else { "bad" },
            if c.ok { "passed" } else { "failed" },
            esc(&c.detail)
        );
    }
    if let Some(fetcher) = b.verifier.fetcher.clone() {
        let scan = b.collateral_scan().await;
        let now = b.clock.now();
        if scan.next_update.is_empty() {
            o.push_str("<p class=\"muted\">No cached artifact with a nextUpdate.</p>");
        } else {
            o.push_str(
                "<table id=\"collateral\"><tr><th>Platform</th><th>Artifact</th><th>nextUpdate</th>\
                 <th>State</th><th>Refreshed by</th></tr>",
            );
            for (url, next) in &scan.next_update {
                let kind = crate::health::vendor_of(url);
                let platform = match kind {
                    rootline_core::TeeKind::Snp => "AMD SEV-SNP (KDS)",
                    _ => "Intel TDX/SGX (PCS)",
                };
                let refresh = if fetcher.client(kind).is_offline() {
                    "import only (no fetching)"
                } else {
                    "fetch on next use"
                };
                let (class, state) = if *next <= now {
                    ("bad", "stale")
                } else {
                    ("ok", "fresh")
                };
                let _ = write!(
                    o,
                    "<tr><td>{platform}</td><td class=\"mono\">{}</td><td>{}</td>\
                     <td><span class=\"{class}\">{state}</span></td><td>{refresh}</td></tr>",
                    esc(url),
                    esc(&when(*next))
                );
            }
            o.push_str("</table>");
        }
    }
    page(&b, "/ui/platforms", title, &o, Some(&op))
}

async fn reference_values(op: Operator, State(b): State<Arc<Broker>>) -> Response {
    let title = "Reference values";
    let (current, history) = match (
        b.store.list_reference_values().await,
        b.store.reference_value_history(AUDIT_ROWS).await,
    ) {
        (Ok(c), Ok(h)) => (c, h),
        (Err(e), _) | (_, Err(e)) => return unavailable(&b, &op, title, &e),
    };
    let mut o = String::from("<h2>In force</h2>");
    if current.is_empty() {
        o.push_str(
            "<p class=\"muted\">No reference value is registered: no evidence is affirmed.</p>",
        );
    } else {
        o.push_str(
            "<table id=\"current\"><tr><th>Name</th><th>TEE</th><th>Claim</th><th>Version</th><th>Accepted values</th></tr>",
        );
        for rv in &current {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
                esc(&rv.name),
                esc(&rv.tee),
                esc(&rv.claim),
                rv.version
            );
            values(&mut o, &rv.values);
            o.push_str("</td></tr>");
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>History</h2>");
    if history.is_empty() {
        o.push_str("<p class=\"muted\">No change is recorded.</p>");
    } else {
        o.push_str(
            "<table id=\"history\"><tr><th>Time</th><th>Name</th><th>Version</th><th>Change</th>\
             <th>TEE</th><th>Claim</th><th>Values</th></tr>",
        );
        for h in &history {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
                esc(&when(h.at)),
                esc(&h.value.name),
                h.value.version,
                if h.deleted { "deleted" } else { "set" },
                esc(&h.value.tee),
                esc(&h.value.claim)
            );
            values(&mut o, &h.value.values);
            o.push_str("</td></tr>");
        }
        o.push_str("</table>");
    }
    page(&b, "/ui/reference-values", title, &o, Some(&op))
}

fn values(o: &mut String, vals: &[String]) {
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            o.push_str("<br>");
        }
        let _ = write!(o, "<span class=\"mono\">{}</span>", esc(v));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc("<script>alert(\"x\")</script> 'a' & b").to_string(),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#39;a&#39; &amp; b"
        );
        assert_eq!(esc("plain é").to_string(), "plain é");
        assert_eq!(esc("").to_string(), "");
    }

    #[test]
    fn form_values_are_decoded_and_bad_ones_refused() {
        assert_eq!(
            form_value(b"a=1&token=ab.c%2Bd+e", "token").unwrap(),
            "ab.c+d e"
        );
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(form_value(b"token=%4", "token"), None);
        assert_eq!(form_value(b"other=1", "token"), None);
        assert_eq!(form_value(&[0xff, b'='], "token"), None);
    }
}
