//! Where the data lives, as the operator writes it (`--database`): a SQLite file — a path, or
//! `sqlite:` / `sqlite://` and a path — or a PostgreSQL URL (`postgres://…`,
//! `postgresql://…`). Anything else that looks like a URL is refused with words, rather than
//! becoming a strangely named SQLite file.

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("say where the database is: a SQLite file (data/labhook.db) or postgres://…")]
    Empty,
    #[error(
        "`{0}:` is not a database Labhook knows: give a SQLite file (data/labhook.db, \
         sqlite:data/labhook.db) or a PostgreSQL URL (postgres://user@host/database)"
    )]
    UnknownKind(String),
}

impl Location {
    /// The SQLite file; `None` for a PostgreSQL database.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::Sqlite(path)
    }
}

impl FromStr for Location {
    type Err = LocationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(LocationError::Empty);
        }
        if let Some((scheme, rest)) = raw.split_once(':') {
            let scheme_like = scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            // `C:\…` (one letter) is a Windows path, not a scheme.
            if scheme_like {
                return match scheme.to_ascii_lowercase().as_str() {
                    "sqlite" => {
                        let path = rest.strip_prefix("//").unwrap_or(rest);
                        if path.is_empty() {
                            Err(LocationError::Empty)
                        } else {
                            Ok(Location::Sqlite(PathBuf::from(path)))
                        }
                    }
                    "postgres" | "postgresql" => Ok(Location::Postgres(raw.to_owned())),
                    _ if rest.starts_with("//") => {
                        Err(LocationError::UnknownKind(scheme.to_owned()))
                    }
                    // `backup:2026/labhook.db` and the like: a file name with a colon.
                    _ => Ok(Location::Sqlite(PathBuf::from(raw))),
                };
            }
        }
        Ok(Location::Sqlite(PathBuf::from(raw)))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&super::mask::without_password(url)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(p: &str) -> Result<Location, LocationError> {
        Ok(Location::Sqlite(PathBuf::from(p)))
    }

    #[test]
    fn paths_and_sqlite_urls_are_files() {
        assert_eq!("data/labhook.db".parse(), sqlite("data/labhook.db"));
        assert_eq!("sqlite:data/labhook.db".parse(), sqlite("data/labhook.db"));
        assert_eq!(
            "sqlite:///var/lib/labhook.db".parse(),
            sqlite("/var/lib/labhook.db")
        );
        assert_eq!("backup:2026.db".parse(), sqlite("backup:2026.db"));
        assert_eq!(r"C:\labhook\data.db".parse(), sqlite(r"C:\labhook\data.db"));
    }

    #[test]
    fn postgres_urls_are_postgres_and_other_urls_are_refused() {
        let url = "postgres://labhook:secret@db.lab/labhook";
        assert_eq!(url.parse(), Ok(Location::Postgres(url.to_owned())));
        assert!(matches!(
            "postgresql://db.lab/labhook".parse(),
            Ok(Location::Postgres(_))
        ));
        assert_eq!(
            "mysql://db.lab/labhook".parse::<Location>(),
            Err(LocationError::UnknownKind("mysql".into()))
        );
        assert_eq!("  ".parse::<Location>(), Err(LocationError::Empty));
        assert_eq!("sqlite:".parse::<Location>(), Err(LocationError::Empty));
        let shown = url.parse::<Location>().unwrap().to_string();
        assert!(!shown.contains("secret"), "{shown}");
    }
}
