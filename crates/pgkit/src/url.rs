//! Small helpers for PostgreSQL connection URLs: hiding passwords and swapping the database.

/// Placeholder that replaces a password.
const HIDDEN: &str = "***";

/// Returns `url` with its password replaced by `***`, safe to print or log.
///
/// Handles the password in the user-info part (`postgres://user:secret@host/db`), a
/// `password=` query parameter, and `password=` in key/value connection strings
/// (`host=x password=secret`). Everything else is kept as it was.
///
/// ```
/// assert_eq!(
///     seam_pgkit::redact("postgres://app:s3cret@db.example:5432/seam?sslmode=require"),
///     "postgres://app:***@db.example:5432/seam?sslmode=require",
/// );
/// assert_eq!(seam_pgkit::redact("postgres://postgres@127.0.0.1/seam"), "postgres://postgres@127.0.0.1/seam");
/// ```
pub fn redact(url: &str) -> String {
    let Some(parts) = UrlParts::split(url) else {
        return redact_pairs(url, ' ');
    };
    let authority = match parts.authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = parts.authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:{HIDDEN}{host}"),
                None => parts.authority.to_string(),
            }
        }
        None => parts.authority.to_string(),
    };
    let query = match parts.query {
        Some(q) => format!("?{}", redact_pairs(q, '&')),
        None => String::new(),
    };
    format!(
        "{}{}{}{}{}",
        parts.scheme, authority, parts.path, query, parts.fragment
    )
}

/// Returns `url` pointing at database `database` instead of the one it names (if any).
///
/// Only the path is changed; user, password, host, port and query parameters are kept.
/// `database` must be a plain identifier (letters, digits, `_`): it is not percent-encoded.
pub fn with_database(url: &str, database: &str) -> String {
    match UrlParts::split(url) {
        Some(parts) => {
            let query = parts.query.map(|q| format!("?{q}")).unwrap_or_default();
            format!(
                "{}{}/{}{}{}",
                parts.scheme, parts.authority, database, query, parts.fragment
            )
        }
        None => format!("{url} dbname={database}"),
    }
}

/// The database named in the path of `url`, if there is one.
pub(crate) fn database_of(url: &str) -> Option<String> {
    let parts = UrlParts::split(url)?;
    let name = parts.path.trim_start_matches('/');
    (!name.is_empty()).then(|| name.to_string())
}

/// A URL cut into pieces; concatenating them (with `?` before the query) gives it back.
struct UrlParts<'a> {
    /// Everything up to and including `://`.
    scheme: &'a str,
    /// `user:password@host:port`.
    authority: &'a str,
    /// `/database`, possibly empty.
    path: &'a str,
    /// The query without its leading `?`.
    query: Option<&'a str>,
    /// `#fragment`, possibly empty.
    fragment: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Splits a `scheme://...` URL; `None` if `url` has no `://`.
    fn split(url: &'a str) -> Option<Self> {
        let scheme_end = url.find("://")? + 3;
        let (scheme, rest) = url.split_at(scheme_end);
        let (rest, fragment) = match rest.find('#') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((before, q)) => (before, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        Some(UrlParts {
            scheme,
            authority,
            path,
            query,
            fragment,
        })
    }
}

/// Replaces the value of every `password=...` item in a `sep`-separated list.
fn redact_pairs(list: &str, sep: char) -> String {
    list.split(sep)
        .map(|item| match item.split_once('=') {
            Some((key, _)) if key.trim().eq_ignore_ascii_case("password") => {
                format!("{key}={HIDDEN}")
            }
            _ => item.to_string(),
        })
        .collect::<Vec<_>>()
        .join(&sep.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact("postgresql://u:p%40ss@h:1/db"),
            "postgresql://u:***@h:1/db"
        );
        assert_eq!(redact("postgres://u:a@b@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn redacts_query_and_key_value_passwords() {
        assert_eq!(
            redact("postgres://h/db?user=u&password=x&sslmode=disable"),
            "postgres://h/db?user=u&password=***&sslmode=disable"
        );
        assert_eq!(
            redact("host=h password=x dbname=d"),
            "host=h password=*** dbname=d"
        );
    }

    #[test]
    fn keeps_urls_without_password() {
        for url in [
            "postgres://u@h/db",
            "postgres://h",
            "postgres://h:5/db?a=b#f",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn swaps_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5/old?sslmode=disable", "new"),
            "postgres://u:p@h:5/new?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "new"), "postgres://h/new");
        assert_eq!(
            database_of("postgres://h:5/seam?x=y").as_deref(),
            Some("seam")
        );
        assert_eq!(database_of("postgres://h:5"), None);
    }
}
