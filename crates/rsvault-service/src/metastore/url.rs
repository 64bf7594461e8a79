//! The database a server uses, as `--database` and `[database] url` name
//! it. Shown (in logs and errors) without its password.

use super::MetaError;
use std::path::PathBuf;

/// A metadata database.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite:///absolute/path.db` (or `sqlite:relative.db`).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, as libpq takes it.
    Postgres(String),
}

impl std::str::FromStr for DatabaseUrl {
    type Err = MetaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            split_pool(s)?;
            return Ok(DatabaseUrl::Postgres(s.to_owned()));
        }
        if let Some(rest) = lower.strip_prefix("sqlite:").map(|_| &s["sqlite:".len()..]) {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(MetaError::Unavailable(
                    "sqlite: names no file (sqlite:///path/metadata.db)".into(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        Err(MetaError::Unavailable(format!(
            "'{}' is not a database URL: use postgres://user@host/database or sqlite:///path/metadata.db",
            redact(s)
        )))
    }
}

impl DatabaseUrl {
    /// The URL with a pool of `size` connections, unless it names its own
    /// (`pool=N`); SQLite's one connection stays one.
    pub fn with_pool(self, size: usize) -> Self {
        match self {
            DatabaseUrl::Postgres(u) if matches!(split_pool(&u), Ok((_, None))) => {
                let sep = if u.contains('?') { '&' } else { '?' };
                DatabaseUrl::Postgres(format!("{u}{sep}{POOL}={size}"))
            }
            other => other,
        }
    }
}

/// rsvault's parameter of a PostgreSQL URL: how many connections its pool
/// opens at most. libpq has no parameter of that name.
const POOL: &str = "pool";

/// A PostgreSQL URL without its `pool=N` parameter (for libpq), and N if
/// given (the last one, as libpq takes a repeated parameter).
pub(crate) fn split_pool(url: &str) -> Result<(String, Option<usize>), MetaError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut pool = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((POOL, n)) => {
                pool = Some(n.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    MetaError::Unavailable(format!(
                        "{}: pool={n} is not a number of connections (1 or more)",
                        redact(url)
                    ))
                })?);
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, pool))
}

/// A connection string with its password replaced by `***`: the
/// `user:password@` part and any `password=` parameter.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme) = out.find("://") {
        let auth_start = scheme + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(auth_start + colon + 1..auth_start + at, "***");
            }
        }
    }
    let mut i = 0;
    while let Some(p) = out[i..].to_ascii_lowercase().find("password=") {
        let start = i + p + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        i = start + 3;
    }
    out
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => f.write_str(&redact(u)),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_a_password() {
        let u: DatabaseUrl = "postgres://rs:s3cret@db.example/rsvault?sslmode=disable"
            .parse()
            .unwrap();
        assert!(matches!(u, DatabaseUrl::Postgres(_)));
        assert_eq!(
            u.to_string(),
            "postgres://rs:***@db.example/rsvault?sslmode=disable"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
        let u: DatabaseUrl = "postgresql://rs@/db?host=/run/pg&password=p4ss&x=1"
            .parse()
            .unwrap();
        assert_eq!(
            u.to_string(),
            "postgresql://rs@/db?host=/run/pg&password=***&x=1"
        );
        assert_eq!(
            "sqlite:///var/lib/m.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("/var/lib/m.db".into())
        );
        let e = "mysql://u:pw@h/d".parse::<DatabaseUrl>().unwrap_err();
        assert!(!e.to_string().contains("pw@"), "{e}");
        assert!("sqlite:".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn the_pool_size_is_a_parameter_libpq_never_sees() {
        for (url, rest, pool) in [
            ("postgres://u@h/d", "postgres://u@h/d", None),
            ("postgres://u@h/d?pool=4", "postgres://u@h/d", Some(4)),
            (
                "postgresql://u@/d?host=/run/pg&pool=32&sslmode=disable",
                "postgresql://u@/d?host=/run/pg&sslmode=disable",
                Some(32),
            ),
            ("postgres://h/d?pool=2&pool=3", "postgres://h/d", Some(3)),
        ] {
            assert_eq!(split_pool(url).unwrap(), (rest.to_owned(), pool), "{url}");
        }
        for bad in [
            "postgres://u:s3cret@h/d?pool=0",
            "postgres://u:s3cret@h/d?pool=many",
        ] {
            let e = bad.parse::<DatabaseUrl>().unwrap_err();
            assert!(e.to_string().contains("pool="), "{e}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        let with = |u: &str, n| u.parse::<DatabaseUrl>().unwrap().with_pool(n).to_string();
        assert_eq!(with("postgres://h/d", 16), "postgres://h/d?pool=16");
        assert_eq!(
            with("postgresql://u@/d?host=/run/pg", 16),
            "postgresql://u@/d?host=/run/pg&pool=16"
        );
        assert_eq!(
            with("postgres://h/d?pool=4", 16),
            "postgres://h/d?pool=4",
            "the URL's own size wins"
        );
        assert_eq!(with("sqlite:///m.db", 16), "sqlite:///m.db");
    }
}
