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
            .timeout_global(Some(Duration::from_secs(30)))
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
        let body = self.get("/api/v1/snapshot")?;
        serde_json::from_str(&body).map_err(|e| {
            anyhow!(
                "{}: the answer is not a snapshot this async-inspect reads (a server of another \
                 version?): {e}",
                self.base
            )
        })
    }

    /// GETs `path` below the dashboard: the body.
    fn get(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        match request.call() {
            Ok(mut response) => response
                .body_mut()
                .with_config()
                .limit(MOST_BYTES)
                .read_to_string()
                .with_context(|| format!("{url}: the answer could not be read")),
            Err(ureq::Error::StatusCode(401)) => Err(anyhow!(match &self.token {
                Some(_) => format!("{}: the token was refused (401)", self.base),
                None => format!(
                    "{}: a token is needed (401): pass the one it was started with, --token T",
                    self.base
                ),
            })),
            Err(ureq::Error::StatusCode(403)) => Err(anyhow!(
                "{}: refused (403): the dashboard answers only clients on its own machine",
                self.base
            )),
            Err(ureq::Error::StatusCode(404)) => Err(anyhow!(
                "{}: no async-inspect dashboard there (404 for {path}): give the path it is \
                 mounted at, e.g. http://host:8080/debug/async-inspect",
                self.base
            )),
            Err(ureq::Error::StatusCode(status)) => {
                Err(anyhow!("{}: the server answered {status}", self.base))
            }
            Err(error) => Err(anyhow!("cannot reach {}: {error}", self.base)),
        }
    }
}
