//! Where the store lives: a SQLite file in the data directory (the default:
//! one command, no servers) or a PostgreSQL server shared by several daemons.

use super::FILE_NAME;
use super::sql::postgres::redacted;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable naming a PostgreSQL store (as `--store` does).
pub const STORE_URL_ENV: &str = "LLMNODE_STORE_URL";

/// A store's location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The SQLite file at this path.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL (its password never shown).
    Postgres(String),
}

impl Location {
    /// `url` if one is given (a `postgres://` URL, or a path to a SQLite
    /// file), else the data directory's SQLite file.
    pub fn resolve(url: Option<&str>, data_dir: &Path) -> Location {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) if is_postgres(u) => Location::Postgres(u.to_string()),
            Some(u) => Location::Sqlite(PathBuf::from(u.strip_prefix("sqlite://").unwrap_or(u))),
            None => Location::Sqlite(data_dir.join(FILE_NAME)),
        }
    }

    /// True for a store on a server (shared by several processes).
    pub fn is_postgres(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// True if there is a store here already (a server always has one: it
    /// is created on first use).
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(path) => path.exists(),
            Location::Postgres(_) => true,
        }
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Location::Sqlite(path.to_path_buf())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Location::Sqlite(path)
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Self {
        Location::Sqlite(path.clone())
    }
}

impl From<&Location> for Location {
    fn from(location: &Location) -> Self {
        location.clone()
    }
}

impl fmt::Display for Location {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_resolve() {
        let dir = Path::new("/data");
        assert_eq!(Location::resolve(None, dir), Location::Sqlite(dir.join(FILE_NAME)));
        assert_eq!(Location::resolve(Some("  "), dir), Location::Sqlite(dir.join(FILE_NAME)));
        assert!(Location::resolve(Some("postgresql://u@h/db"), dir).is_postgres());
        assert_eq!(Location::resolve(Some("sqlite:///x/y.db"), dir), Location::Sqlite("/x/y.db".into()));
        let shown = Location::resolve(Some("postgres://u:secret@h/db"), dir).to_string();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!format!("{:?}", Location::resolve(Some("postgres://u:secret@h/db"), dir)).contains("secret"));
    }
}
