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
}
