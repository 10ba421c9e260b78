//! What `search` can ask a registry: its catalog (`GET /v2/_catalog`,
//! paginated by `Link` headers), filtered by the search term. The v2 API
//! has no search endpoint; registries that disable the catalog (Docker Hub,
//! most public ones) answer 401/404, reported as such.

use serde::Deserialize;

use super::{Client, Endpoint, Failure, RegistryError, Req};

/// At most this many catalog pages are read (1,000 names each).
const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Vec<String>,
}

/// The `next` link of a `Link` header: `</v2/_catalog?last=x&n=1000>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

impl Client {
    /// The repositories of `registry` whose name contains `term`, at most
    /// `limit` of them, in the catalog's order.
    pub fn search_catalog(
        &self,
        registry: &str,
        term: &str,
        limit: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let ep = Endpoint {
            host: registry.to_string(),
            repository: String::new(),
            insecure: crate::config::registries::is_local(registry),
        };
        let mut found = Vec::new();
        let mut target = "/v2/_catalog?n=1000".to_string();
        for _ in 0..MAX_PAGES {
            let (page, next) = self.retrying(&ep, || {
                let resp = self.send(&ep, &Req::get(&target), "registry:catalog:*")?;
                let resp = self.check_status(
                    &ep,
                    resp,
                    || "the catalog (/v2/_catalog)".to_string(),
                    |detail| RegistryError::Http {
                        registry: registry.to_string(),
                        what:
                            "the catalog (/v2/_catalog): this registry offers no listing to search"
                                .into(),
                        status: 404,
                        detail: detail.to_string(),
                    },
                )?;
                let next = resp
                    .headers()
                    .get("link")
                    .and_then(|v| v.to_str().ok())
                    .and_then(next_link);
                let bytes = self.read_capped(&ep, resp, 16 << 20, "the catalog")?;
                let page: Catalog = serde_json::from_slice(&bytes).map_err(|e| {
                    Failure::Fatal(RegistryError::Http {
                        registry: registry.to_string(),
                        what: "the catalog".into(),
                        status: 200,
                        detail: format!(": not a catalog ({e})"),
                    })
                })?;
                Ok((page, next))
            })?;
            found.extend(page.repositories.into_iter().filter(|r| r.contains(term)));
            match next {
                Some(n) if found.len() < limit => target = n,
                _ => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
