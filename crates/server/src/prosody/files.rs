//! Prosody's file storage (`storage = "internal"`, the default, as under /var/lib/prosody):
//! a directory per host (its name with `%2e` for dots), one per store under it, and in a
//! store's directory a `.dat` file per user of a keyval or map store (`return { ... };`) or
//! a `.list` file per user of an archive (`item({ ... });` per entry), read by [`lua`].

use super::lua::{self, Table, Value};
use super::{Inventory, Stored};
use crate::pie::import::ImportError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A data directory: its host directories by (decoded) name, and what they hold.
pub(super) struct Files {
    hosts: BTreeMap<String, PathBuf>,
    inventory: Inventory,
}

impl Files {
    /// Lists the host directories of `dir`, their stores and the users in each.
    pub fn open(dir: &Path) -> Result<Self, ImportError> {
        if !dir.is_dir() {
            return Err(ImportError::Open {
                path: dir.to_owned(),
                error: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            });
        }
        let mut hosts = BTreeMap::new();
        let mut inventory = Inventory::new();
        for (host, path) in entries(dir, None) {
            let stores = inventory.entry(host.clone()).or_default();
            for (store, store_path) in entries(&path, None) {
                let users = stores.entry(store).or_default();
                for ext in [".dat", ".list"] {
                    users.extend(entries(&store_path, Some(ext)).into_iter().map(|(user, _)| user));
                }
            }
            hosts.insert(host, path);
        }
        Ok(Self { hosts, inventory })
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Whether a directory here is named for one of `hosts` or a subdomain of one (a MUC
    /// component's).
    pub fn holds_any_of(&self, hosts: &[String]) -> bool {
        self.hosts
            .keys()
            .map(|h| h.to_ascii_lowercase())
            .any(|h| hosts.iter().any(|c| h == *c || h.strip_suffix(c.as_str()).is_some_and(|sub| sub.ends_with('.'))))
    }

    /// The `.dat` and `.list` files of `owner` in the `wanted` stores of `host`.
    pub fn load(&self, host: &str, owner: &str, wanted: fn(&str) -> bool) -> Result<Stored, String> {
        let mut stored = Stored::default();
        let Some(host_dir) = self.hosts.get(host) else { return Ok(stored) };
        for (store, store_dir) in entries(host_dir, None) {
            if !wanted(&store) {
                continue;
            }
            if let Some(t) = dat_file(&store_dir, owner)? {
                stored.keyval.insert(store.clone(), t);
            }
            let items = list_file(&store_dir, owner)?;
            if !items.is_empty() {
                stored.archives.insert(store, items);
            }
        }
        Ok(stored)
    }
}

/// `NAME.dat` in a store's directory, if there is one.
fn dat_file(store_dir: &Path, name: &str) -> Result<Option<Table>, String> {
    let file = store_dir.join(format!("{}.dat", encode(name)));
    let Ok(src) = std::fs::read(&file) else { return Ok(None) };
    let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    match lua::parse_return(&src).map_err(|e| shown(&e))? {
        Value::Table(t) => Ok(Some(t)),
        Value::Nil => Ok(None),
        _ => Err(shown(&"not a table")),
    }
}

/// The entries of `NAME.list` in a store's directory, oldest first.
fn list_file(store_dir: &Path, name: &str) -> Result<Vec<Table>, String> {
    let file = store_dir.join(format!("{}.list", encode(name)));
    let Ok(src) = std::fs::read(&file) else { return Ok(Vec::new()) };
    let shown = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
    let items = lua::parse_items(&src).map_err(|e| shown(&e))?;
    items
        .into_iter()
        .map(|v| match v {
            Value::Table(t) => Ok(t),
            _ => Err(shown(&"an entry that is not a table")),
        })
        .collect()
}

/// Prosody's file names: `%xx` for every byte that is not alphanumeric.
fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02x}") }).collect()
}

/// Prosody's file-name encoding undone: `%xx` for a byte (hosts and users: every
/// non-alphanumeric one; store names keep `_`).
fn decode(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The entries of a directory as (decoded name without `ext`, path), sorted; with no
/// `ext`, its subdirectories.
fn entries(dir: &Path, ext: Option<&str>) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = match ext {
                Some(ext) => name.strip_suffix(ext)?.to_owned(),
                None if e.path().is_dir() => name,
                None => return None,
            };
            Some((decode(&stem), e.path()))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode() {
        assert_eq!(decode("migrate%2etest"), "migrate.test");
        assert_eq!(decode("pep_urn%3axmpp%3aavatar%3adata"), "pep_urn:xmpp:avatar:data");
        assert_eq!(decode("50%"), "50%");
        assert_eq!(decode("%c3%a9t%c3%a9"), "été");
        assert_eq!(decode(&encode("a.b@c")), "a.b@c");
    }
}
