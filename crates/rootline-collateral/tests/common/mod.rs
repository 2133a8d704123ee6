//! Test support shared by the client's tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::Duration;

use rootline_collateral::{Client, Config};

/// A client caching in `dir`, quick to give up and retry (5 s timeout,
/// 10 ms backoff), with no progress lines; `offline` forbids fetching.
pub fn client(dir: &std::path::Path, offline: bool) -> Client {
    Client::new(Config {
        cache_dir: Some(dir.to_owned()),
        offline,
        timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(10),
        progress_after: None,
        ..Config::default()
    })
}
