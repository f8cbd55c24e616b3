//! The OpenAPI 3.1 document of the whole HTTP API, served at
//! `/api/v1/openapi.json`.
//!
//! The document is written by hand (`openapi.json` beside this file): it is
//! the contract integrators build from, so it is reviewed like code. The
//! tests below keep it in sync with the server: every route registered in
//! the source is documented and every documented operation is served, each
//! one's security matches the access policy
//! ([`crate::auth::http::route_policy`]), and each documented operation
//! answers (not 404/405) on a running server.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::Method;

    use super::DOCUMENT;
    use crate::auth::http::{Access, route_policy};

    /// The sources that register routes, read as text.
    const ROUTE_SOURCES: &[(&str, &str)] = &[
        ("http/mod.rs", include_str!("http/mod.rs")),
        ("auth/http.rs", include_str!("auth/http.rs")),
        ("drone/http.rs", include_str!("drone/http.rs")),
        ("coverage/http.rs", include_str!("coverage/http.rs")),
        ("patrol/http.rs", include_str!("patrol/http.rs")),
        ("dispatch/http.rs", include_str!("dispatch/http.rs")),
        ("guardrails/http.rs", include_str!("guardrails/http.rs")),
        ("video/http.rs", include_str!("video/http.rs")),
    ];

    const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

    /// `(method, path)` of every `.route("path", get(..).post(..))` call.
    fn registered() -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (file, text) in ROUTE_SOURCES {
            let mut rest = *text;
            while let Some(at) = rest.find(".route(") {
                rest = &rest[at + ".route(".len()..];
                // The call's arguments, up to the matching parenthesis.
                let mut depth = 1;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map(|(i, _)| i)
                    .unwrap_or_else(|| panic!("{file}: unclosed .route("));
                let args = &rest[..end];
                let Some(path) = args.split('"').nth(1) else {
                    continue; // not a route registration (e.g. `self.route(now, ..)`)
                };
                if !path.starts_with('/') {
                    continue;
                }
                let handlers = &args[args.find(',').unwrap_or(0)..];
                let mut found = false;
                for m in METHODS {
                    let calls = handlers.match_indices(&format!("{m}(")).any(|(i, _)| {
                        i == 0
                            || !handlers[..i]
                                .chars()
                                .last()
                                .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    });
                    if calls {
                        out.insert((m.to_string(), path.to_string()));
                        found = true;
                    }
                }
                assert!(found, "{file}: no method found for route {path}");
            }
        }
        out
    }

    fn document() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .expect("operations")
                    .keys()
                    .filter(|m| METHODS.contains(&m.as_str()))
                    .map(move |m| (m.clone(), p.clone()))
            })
            .collect()
    }

    #[test]
    fn every_registered_route_is_documented_and_nothing_else() {
        let reg = registered();
        assert!(reg.len() > 25, "the scan found too few routes: {reg:?}");
        let doc = documented();
        let missing: Vec<_> = reg.difference(&doc).collect();
        let extra: Vec<_> = doc.difference(&reg).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(extra.is_empty(), "documented but not registered: {extra:?}");
    }

    #[test]
    fn documented_security_matches_the_access_policy() {
        let doc = document();
        for (m, p) in documented() {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let op = &doc["paths"][&p][&m];
            let public = op["security"].as_array().is_some_and(|s| s.is_empty());
            match route_policy(&method, &p) {
                Access::Public => assert!(
                    public,
                    "{m} {p} is public but documented as needing a token"
                ),
                Access::Needs(perm) => {
                    assert!(!public, "{m} {p} needs {perm:?} but is documented public");
                    let desc = op["description"].as_str().unwrap_or_default();
                    assert!(
                        desc.contains(&format!("`{perm:?}`")),
                        "{m} {p}: the description must name the permission {perm:?}"
                    );
                    for code in ["401", "403"] {
                        assert!(op["responses"].get(code).is_some(), "{m} {p}: no {code}");
                    }
                }
                Access::Unlisted => panic!("{m} {p} is not in the access policy"),
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                        out.push(r.to_string());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut refs = Vec::new();
        walk(&doc, &mut refs);
        for r in refs {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas.contains_key(name), "dangling $ref {r}");
        }
    }

    /// Every documented operation is served by a running server: without a
    /// token, a registered route answers 401 (or its public answer), never
    /// the router's 404 or 405.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_documented_operation_is_served() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let dir = std::env::temp_dir().join(format!("vigie-openapi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = crate::config::Config {
            data_dir: dir.clone(),
            ..Default::default()
        };
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        config.quic.listen = "127.0.0.1:0".parse().unwrap();
        config.mavlink.links.clear();
        let server = crate::server::Server::start(config).await.unwrap();
        let addr = server.state().listener("http").unwrap();
        for (m, p) in documented() {
            let path = p.replace("{id}", "1");
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let req = format!(
                "{} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
                m.to_uppercase()
            );
            s.write_all(req.as_bytes()).await.unwrap();
            let mut head = vec![0u8; 12];
            tokio::time::timeout(std::time::Duration::from_secs(10), s.read_exact(&mut head))
                .await
                .unwrap()
                .unwrap();
            let status: u16 = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
            let public = matches!(
                route_policy(
                    &Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                    &p
                ),
                Access::Public
            );
            if public {
                assert_eq!(status, 200, "{m} {p}");
            } else {
                assert_eq!(status, 401, "{m} {p}");
            }
        }
        server.stop().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
