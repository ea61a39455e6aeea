//! A program's dashboard reached over HTTP (`attach --url`): the router a
//! service mounts (`async_inspect::web::router`) or `async-inspect serve`,
//! read through its JSON API with its token. What a wrong URL, a wrong
//! token or another version's server looks like is said in one line.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use async_inspect_model::Snapshot;

/// The largest snapshot read (a program with a million tasks is about a
/// gigabyte of JSON; this is a tenth of that).
const MOST_BYTES: u64 = 100 * 1024 * 1024;

/// A dashboard at `base` (its URL without a trailing slash).
#[derive(Debug)]
pub(crate) struct Remote {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Remote {
    /// The dashboard at `url`, read with `token`.
    ///
    /// # Errors
    ///
    /// A URL that is not `http://…`.
    pub(crate) fn new(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        if !url.starts_with("http://") {
            bail!(
                "{url}: give the dashboard's http:// URL (https is for a proxy in front of it), \
                 e.g. http://host:8080/debug/async-inspect"
            );
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            token,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// Where it is, for titles and messages.
    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// The token it is read with.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The program's snapshot now.
    ///
    /// # Errors
    ///
    /// The dashboard cannot be reached, refuses the token, is not a
    /// dashboard, or speaks another version.
    pub(crate) fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let body = self.fetch(Method::Get, "/api/v1/snapshot", TIMEOUT)?;
        serde_json::from_slice(&body).map_err(|e| {
            anyhow!(
                "{}: the answer is not a snapshot this async-inspect reads (a server of another \
                 version?): {e}",
                self.base
            )
        })
    }

    /// A recording of the program for `duration` (every poll or the long
    /// ones): the trace file's bytes.
    ///
    /// # Errors
    ///
    /// As [`Remote::snapshot`], and when the program does not allow
    /// recording over its dashboard.
    pub(crate) fn record(&self, duration: Duration, all_polls: bool) -> anyhow::Result<Vec<u8>> {
        let path = format!(
            "/api/v1/record?duration={}ms&all_polls={}",
            duration.as_millis(),
            u8::from(all_polls)
        );
        self.fetch(Method::Post(&[]), &path, duration + TIMEOUT)
    }

    /// Opens a debugger session on the program: its number.
    ///
    /// # Errors
    ///
    /// As [`Remote::snapshot`], and when the program does not allow
    /// debugging over its dashboard.
    pub(crate) fn debug_open(&self) -> anyhow::Result<u64> {
        let body = self.fetch(Method::Post(&[]), "/api/v1/debug", TIMEOUT)?;
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("session")?.as_u64())
            .ok_or_else(|| anyhow!("{}: the answer names no debug session", self.base))
    }

    /// Sends `requests` in debugger session `session`: their replies, then
    /// the tasks paused since.
    ///
    /// # Errors
    ///
    /// As [`Remote::snapshot`], and when the session is closed.
    pub(crate) fn debug_exchange(
        &self,
        session: u64,
        requests: &[async_inspect_model::wire::Request],
    ) -> anyhow::Result<Vec<async_inspect_model::wire::Reply>> {
        let sent = serde_json::to_vec(requests)?;
        let path = format!("/api/v1/debug/{session}");
        let body = self.fetch(Method::Post(&sent), &path, TIMEOUT)?;
        serde_json::from_slice(&body).map_err(|e| {
            anyhow!(
                "{}: the answer is not a debugger's this async-inspect reads: {e}",
                self.base
            )
        })
    }

    /// Closes debugger session `session`: its breakpoints go, and the
    /// tasks they paused with them.
    ///
    /// # Errors
    ///
    /// As [`Remote::snapshot`].
    pub(crate) fn debug_close(&self, session: u64) -> anyhow::Result<()> {
        let path = format!("/api/v1/debug/{session}");
        self.fetch(Method::Delete, &path, TIMEOUT).map(drop)
    }

    /// Sends a request to `path` below the dashboard, waiting at most
    /// `timeout`: the body of a success; a failure in one line.
    fn fetch(&self, method: Method, path: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let with_token = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| {
            let request = request.config().timeout_global(Some(timeout)).build();
            match &bearer {
                Some(bearer) => request.header("Authorization", bearer),
                None => request,
            }
        };
        let sent = match method {
            Method::Get => with_token(self.agent.get(&url)).call(),
            Method::Delete => with_token(self.agent.delete(&url)).call(),
            Method::Post(body) => {
                let request = self
                    .agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("Content-Type", "application/json");
                let request = match &bearer {
                    Some(bearer) => request.header("Authorization", bearer),
                    None => request,
                };
                request.send(body)
            }
        };
        let mut response = sent.map_err(|error| anyhow!("cannot reach {}: {error}", self.base))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MOST_BYTES)
            .read_to_vec()
            .with_context(|| format!("{url}: the answer could not be read"))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        // The dashboard says why in `{"error": "…"}`.
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_owned));
        Err(anyhow!(match (status, said) {
            (401, _) if self.token.is_some() => {
                format!("{}: the token was refused (401)", self.base)
            }
            (401, _) => format!(
                "{}: a token is needed (401): pass the one it was started with, --token T",
                self.base
            ),
            (403, Some(said)) => format!("{}: refused (403): {said}", self.base),
            (403, None) => format!(
                "{}: refused (403): the dashboard answers only clients on its own machine",
                self.base
            ),
            (404, Some(said)) if path.starts_with("/api/v1/debug/") => {
                format!("{}: {said}", self.base)
            }
            (404, _) => format!(
                "{}: no async-inspect dashboard there (404 for {path}): give the path it is \
                 mounted at, e.g. http://host:8080/debug/async-inspect",
                self.base
            ),
            (status, Some(said)) => format!("{}: the server answered {status}: {said}", self.base),
            (status, None) => format!("{}: the server answered {status}", self.base),
        }))
    }
}

/// How long a request may take (a recording: its duration more).
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Method<'a> {
    Get,
    /// With this body (JSON, or empty).
    Post(&'a [u8]),
    Delete,
}
