//! A module's settings: read from its `[modules.NAME]` table at start, and replaced whole when
//! a reload brings a changed table (see [`crate::Module::reconfigure`]). Handlers read the
//! settings in effect each time, so a reload takes effect at the next stanza.

use crate::ModuleError;
use serde::de::DeserializeOwned;
use std::sync::{Arc, RwLock};

/// The value in effect, replaced whole by a reload; clones share it.
pub struct Current<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Current<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Current<T> {
    pub fn new(value: T) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(value))))
    }

    pub fn get(&self) -> Arc<T> {
        // A poisoned lock still holds a whole value: it is only ever replaced whole.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

impl<T: Default> Default for Current<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

/// Reads `module`'s settings from its table (missing keys take their defaults; unknown ones
/// are refused where the type says so).
pub fn parse<T: DeserializeOwned>(module: &'static str, table: &toml::Table) -> Result<T, ModuleError> {
    T::deserialize(toml::Value::Table(table.clone())).map_err(|e| ModuleError::Config { module, reason: e.to_string() })
}

/// Why a module did not take new settings while running.
#[derive(Debug, thiserror::Error)]
pub enum Reconfigure {
    /// The settings are fine, but changing this one needs a restart (say, the subdomain a
    /// service is addressed at); the module keeps all its running settings.
    #[error("{0} needs a restart")]
    NeedsRestart(&'static str),
    /// The new table does not make settings; the running ones stay.
    #[error(transparent)]
    Invalid(#[from] ModuleError),
}

/// A setting only a restart changes: its name, and whether two settings differ in it.
pub type Fixed<T> = (&'static str, fn(&T, &T) -> bool);

/// Parses `table` and takes it as `current`'s new value, unless `fixed` (the settings that
/// only a restart changes, by name) says one of those changed.
pub fn reconfigure<T: DeserializeOwned>(
    module: &'static str,
    current: &Current<T>,
    table: &toml::Table,
    fixed: &[Fixed<T>],
) -> Result<(), Reconfigure> {
    let new: T = parse(module, table)?;
    let running = current.get();
    if let Some((name, _)) = fixed.iter().find(|(_, differs)| differs(&running, &new)) {
        return Err(Reconfigure::NeedsRestart(name));
    }
    current.set(new);
    Ok(())
}
