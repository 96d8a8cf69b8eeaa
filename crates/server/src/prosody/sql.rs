//! Prosody's SQL storage in SQLite (`storage = "sql"`, `driver = "SQLite3"`), opened
//! read-only (a running Prosody's database is never written). Table `prosody` holds the
//! keyval and map stores: a row per top-level string key of a user's value, and under key
//! `""` one table of the rest (keys that are not strings: a roster's `[false]`, a stored
//! stanza's children); table `prosodyarchive` the archives (MAM, offline messages, PEP
//! items, MUC logs), a row per entry, in `sort_id` order. A `value` is encoded as its
//! `type` says: `string`, `number`, `boolean`, `json` (util.json: a table's non-string keys
//! under `__hash`, its array part under `__array` when it has keys too) or `xml` (a
//! stanza). Each store is rebuilt into the Lua value the file storage holds.

use super::lua::{Table, Value};
use super::{Inventory, Stored, stanza};
use crate::pie::import::ImportError;
use serde_json::Value as Json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use std::path::Path;

/// The tables Prosody's `mod_storage_sql` creates.
const TABLES: [&str; 2] = ["prosody", "prosodyarchive"];

/// An open database, and who has something in which store.
pub(super) struct Database {
    pool: SqlitePool,
    inventory: Inventory,
}

impl Database {
    /// Opens `path` read-only and lists its hosts, stores and users; a file that is no
    /// SQLite database, or no database of Prosody's, is refused.
    pub async fn open(path: &Path) -> Result<Self, ImportError> {
        let refused = |why: String| ImportError::Invalid { path: path.to_owned(), errors: vec![why] };
        let options = SqliteConnectOptions::new().filename(path).read_only(true).create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| refused(format!("cannot open the database: {e}")))?;
        let database = Self { pool, inventory: Inventory::new() };
        match database.survey().await {
            Ok(inventory) => Ok(Self { inventory, ..database }),
            Err(why) => {
                database.close().await;
                Err(refused(why))
            }
        }
    }

    async fn survey(&self) -> Result<Inventory, String> {
        let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| format!("not an SQLite database: {e}"))?;
        let missing: Vec<&str> = TABLES.into_iter().filter(|t| !tables.iter().any(|have| have == t)).collect();
        if !missing.is_empty() {
            return Err(format!(
                "not Prosody's SQL storage: no table {} (tables here: {})",
                missing.join(", "),
                if tables.is_empty() { "none".to_owned() } else { tables.join(", ") }
            ));
        }
        // Host-wide data (user "") belongs to no account or room.
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            r#"SELECT "host", "store", "user" FROM "prosody" WHERE "user" != ''
               UNION SELECT "host", "store", "user" FROM "prosodyarchive" WHERE "user" != ''"#,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| format!("Prosody's tables do not read: {e}"))?;
        let mut inventory = Inventory::new();
        for (host, store, user) in rows {
            inventory.entry(host).or_default().entry(store).or_default().insert(user);
        }
        Ok(inventory)
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// Everything `user` of `host` has in the `wanted` stores, rebuilt.
    pub async fn load(&self, host: &str, user: &str, wanted: fn(&str) -> bool) -> Result<Stored, String> {
        let read_failed = |e: sqlx::Error| format!("the database does not read: {e}");
        let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
            r#"SELECT "store", "key", "type", CAST("value" AS BLOB) FROM "prosody"
               WHERE "host" = ? AND "user" = ? ORDER BY "store", "key""#,
        )
        .bind(host)
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(read_failed)?;
        let mut stored = Stored::default();
        for (store, key, kind, value) in rows {
            if !wanted(&store) {
                continue;
            }
            let value = decode(&kind, &value).map_err(|e| format!("store {store}, key {key:?}: {e}"))?;
            let table = stored.keyval.entry(store).or_default();
            set(table, key, value);
        }
        let entries: Vec<(String, String, f64, String, String, Vec<u8>)> = sqlx::query_as(
            r#"SELECT "store", "key", CAST("when" AS REAL), "with", "type", CAST("value" AS BLOB)
               FROM "prosodyarchive" WHERE "host" = ? AND "user" = ? ORDER BY "sort_id""#,
        )
        .bind(host)
        .bind(user)
        .fetch_all(&self.pool)
        .await
        .map_err(read_failed)?;
        for (store, key, when, with, kind, value) in entries {
            if !wanted(&store) {
                continue;
            }
            let entry = archived(key.clone(), when, with, &kind, &value)
                .map_err(|e| format!("store {store}, entry {key:?}: {e}"))?;
            stored.archives.entry(store).or_default().push(entry);
        }
        Ok(stored)
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Puts a row's value into the store's table: under its key, or (key `""`) the table of
/// keys that are not strings merged in. Anything else under `""` Prosody itself ignores.
fn set(table: &mut Table, key: String, value: Value) {
    if !key.is_empty() {
        table.fields.push((Value::Str(key.into_bytes()), value));
    } else if let Value::Table(rest) = value {
        table.items.extend(rest.items);
        table.fields.extend(rest.fields);
    }
}

/// An archive entry as the file storage keeps it: the stored stanza with `key`, `when` and
/// (if there is one) `with` beside it.
fn archived(key: String, when: f64, with: String, kind: &str, value: &[u8]) -> Result<Table, String> {
    let Value::Table(mut entry) = decode(kind, value)? else {
        return Err(format!("a {kind} value, where a stanza is kept"));
    };
    entry.fields.retain(|(k, _)| !matches!(k.as_str(), Some("key" | "when" | "with")));
    entry.fields.push((Value::Str(b"key".to_vec()), Value::Str(key.into_bytes())));
    entry.fields.push((Value::Str(b"when".to_vec()), Value::Float(when)));
    if !with.is_empty() {
        entry.fields.push((Value::Str(b"with".to_vec()), Value::Str(with.into_bytes())));
    }
    Ok(entry)
}

/// A `value` as its `type` column says it is encoded.
fn decode(kind: &str, value: &[u8]) -> Result<Value, String> {
    let text = || std::str::from_utf8(value).map_err(|_| format!("a {kind} value that is not UTF-8"));
    match kind {
        "string" => Ok(Value::Str(value.to_vec())),
        "boolean" => match value {
            b"true" => Ok(Value::Bool(true)),
            b"false" => Ok(Value::Bool(false)),
            _ => Err(format!("a boolean that is {:?}", String::from_utf8_lossy(value))),
        },
        "number" => {
            let n = text()?.trim();
            n.parse::<i64>()
                .map(Value::Int)
                .or_else(|_| n.parse::<f64>().map(Value::Float))
                .map_err(|_| format!("a number that is {n:?}"))
        }
        "json" => {
            let json: Json = serde_json::from_str(text()?).map_err(|e| format!("JSON that does not parse: {e}"))?;
            Ok(from_json(json))
        }
        "xml" => stanza::parse(text()?).map(Value::Table),
        other => Err(format!("a value of type {other:?}, which Prosody does not write")),
    }
}

/// util.json's encoding back to the Lua value it was made from.
fn from_json(json: Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Str(s.into_bytes()),
        Json::Array(items) => {
            Value::Table(Table { items: items.into_iter().map(from_json).collect(), fields: Vec::new() })
        }
        Json::Object(map) => {
            let mut table = Table::default();
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("__array", Json::Array(items)) => table.items.extend(items.into_iter().map(from_json)),
                    ("__hash", Json::Array(pairs)) => {
                        let mut pairs = pairs.into_iter().map(from_json);
                        while let (Some(k), Some(v)) = (pairs.next(), pairs.next()) {
                            table.fields.push((k, v));
                        }
                    }
                    (_, value) => table.fields.push((Value::Str(key.into_bytes()), from_json(value))),
                }
            }
            // Lua drops a nil value with its key.
            table.fields.retain(|(k, v)| *k != Value::Nil && *v != Value::Nil);
            Value::Table(table)
        }
    }
}

/// Prosody's two tables as Debian's Prosody 0.12 creates them in SQLite (through LuaDBI;
/// newer versions make `prosody`'s index unique, which changes no row): what the reader
/// expects, and what tests build their databases with.
pub const SCHEMA: &str = r#"
    CREATE TABLE "prosody" ("host" TEXT NOT NULL, "user" TEXT NOT NULL, "store" TEXT NOT NULL,
        "key" TEXT NOT NULL, "type" TEXT NOT NULL, "value" TEXT NOT NULL);
    CREATE INDEX "prosody_index" ON "prosody" ("host", "user", "store", "key");
    CREATE TABLE "prosodyarchive" ("sort_id" INTEGER PRIMARY KEY AUTOINCREMENT, "host" TEXT NOT NULL,
        "user" TEXT NOT NULL, "store" TEXT NOT NULL, "key" TEXT NOT NULL, "when" INTEGER NOT NULL,
        "with" TEXT NOT NULL, "type" TEXT NOT NULL, "value" TEXT NOT NULL);
    CREATE UNIQUE INDEX "prosodyarchive_index" ON "prosodyarchive" ("host", "user", "store", "key");
    CREATE INDEX "prosodyarchive_with_when" ON "prosodyarchive" ("host", "user", "store", "with", "when");
    CREATE INDEX "prosodyarchive_when" ON "prosodyarchive" ("host", "user", "store", "when");
    CREATE INDEX "prosodyarchive_sort" ON "prosodyarchive" ("host", "user", "store", "sort_id");
"#;

/// Databases as Prosody's `mod_storage_sql` lays them out, for tests.
#[cfg(test)]
pub(super) mod fixture {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    use std::path::Path;

    /// A new database at `path` with `schema`.
    pub async fn create(path: &Path, schema: &'static str) -> SqlitePool {
        let _ = std::fs::remove_file(path);
        let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        sqlx::raw_sql(schema).execute(&pool).await.unwrap();
        pool
    }

    /// A row of a keyval or map store.
    pub async fn keyval(pool: &SqlitePool, [host, user, store, key, kind, value]: [&str; 6]) {
        sqlx::query(r#"INSERT INTO "prosody" ("host","user","store","key","type","value") VALUES (?,?,?,?,?,?)"#)
            .bind(host)
            .bind(user)
            .bind(store)
            .bind(key)
            .bind(kind)
            .bind(value)
            .execute(pool)
            .await
            .unwrap();
    }

    /// An archive entry (the stanza as XML), `when` in seconds.
    pub async fn archive(pool: &SqlitePool, [host, user, store, key, with, value]: [&str; 6], when: f64) {
        sqlx::query(
            r#"INSERT INTO "prosodyarchive" ("host","user","store","when","with","key","type","value")
               VALUES (?,?,?,?,?,?,'xml',?)"#,
        )
        .bind(host)
        .bind(user)
        .bind(store)
        .bind(when)
        .bind(with)
        .bind(key)
        .bind(value)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        decode("json", text.as_bytes()).unwrap()
    }

    #[test]
    fn util_json_tables_come_back_with_their_keys() {
        // A roster's metadata under [false]; a stanza's children with its name.
        let Value::Table(t) =
            json(r#"{"__hash":[false,{"version":5,"pending":{}}],"name":"x","__array":["a",{"n":1.5}]}"#)
        else {
            panic!()
        };
        assert_eq!(t.get_false().and_then(Value::as_table).and_then(|m| m.get("version")), Some(&Value::Int(5)));
        assert_eq!((t.str("name"), t.items.len()), (Some("x"), 2));
        assert_eq!(t.items[1].as_table().and_then(|c| c.get("n")), Some(&Value::Float(1.5)));
        assert_eq!(json("[1,2]"), Value::Table(Table { items: vec![Value::Int(1), Value::Int(2)], fields: vec![] }));
    }

    #[test]
    fn values_decode_as_their_type_says_or_say_why_not() {
        assert_eq!(decode("number", b"10000"), Ok(Value::Int(10_000)));
        assert_eq!(decode("number", b"1.5"), Ok(Value::Float(1.5)));
        assert_eq!(decode("boolean", b"true"), Ok(Value::Bool(true)));
        assert_eq!(decode("string", b"\xff"), Ok(Value::Str(vec![0xff])));
        assert!(decode("boolean", b"yes").unwrap_err().contains("boolean"));
        assert!(decode("number", b"ten").unwrap_err().contains("number"));
        assert!(decode("json", b"{").unwrap_err().contains("JSON"));
        assert!(decode("json", b"\xff").unwrap_err().contains("UTF-8"));
        assert!(decode("lua", b"{}").unwrap_err().contains("type \"lua\""));
    }

    #[test]
    fn a_keyval_store_is_its_rows_with_the_rest_merged_in() {
        let mut t = Table::default();
        set(&mut t, "bob@example.org".into(), json(r#"{"subscription":"both"}"#));
        set(&mut t, String::new(), json(r#"{"__hash":[false,{"version":2}]}"#));
        set(&mut t, String::new(), Value::Str(b"ignored".to_vec()));
        assert!(t.table("bob@example.org").is_some() && t.get_false().is_some());
        assert_eq!(t.fields.len(), 2);
    }
}
