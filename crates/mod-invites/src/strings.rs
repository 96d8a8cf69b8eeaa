//! The words of the invitation pages, one file per language (`locales/en.toml`), chosen by
//! the browser's `Accept-Language`; a key a translation lacks falls back to English.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Every shipped language: its tag and its file.
const LOCALES: &[(&str, &str)] = &[("en", include_str!("../locales/en.toml"))];

static PARSED: LazyLock<Vec<(&'static str, HashMap<String, String>)>> = LazyLock::new(|| {
    LOCALES
        .iter()
        .map(|(tag, text)| {
            let table: HashMap<String, String> = toml::from_str(text).unwrap_or_else(|e| {
                tracing::error!(language = tag, error = %e, "a locale file does not read");
                HashMap::new()
            });
            (*tag, table)
        })
        .collect()
});

/// The strings of one language.
pub(crate) struct Strings {
    pub(crate) lang: &'static str,
    table: &'static HashMap<String, String>,
    english: &'static HashMap<String, String>,
}

impl Strings {
    /// The first language of `preferred` shipped here (by full tag, then by its primary
    /// subtag), else English.
    pub(crate) fn pick(preferred: &[String]) -> Self {
        let english = &PARSED[0].1;
        let found = preferred.iter().find_map(|want| {
            let primary = want.split('-').next().unwrap_or(want);
            PARSED.iter().find(|(tag, _)| *tag == want.as_str() || *tag == primary)
        });
        let (lang, table) = found.map(|(tag, table)| (*tag, table)).unwrap_or(("en", english));
        Self { lang, table, english }
    }

    /// The string for `key`, with each `{name}` of `fill` replaced.
    pub(crate) fn get(&self, key: &str, fill: &[(&str, &str)]) -> String {
        let text = self.table.get(key).or_else(|| self.english.get(key)).map(String::as_str).unwrap_or(key);
        fill.iter().fold(text.to_owned(), |text, (name, value)| text.replace(&format!("{{{name}}}"), value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_reads_and_has_the_english_keys() {
        let english: Vec<_> = PARSED[0].1.keys().collect();
        assert!(english.len() > 20);
        for (tag, table) in PARSED.iter() {
            for key in &english {
                assert!(table.contains_key(*key), "{tag} lacks {key}");
            }
        }
    }

    #[test]
    fn strings_are_filled_and_fall_back_to_english() {
        let s = Strings::pick(&["xx".into(), "en-gb".into()]);
        assert_eq!(s.lang, "en");
        assert_eq!(s.get("invited_by", &[("inviter", "alice@example.org")]), "alice@example.org invites you to chat");
        assert_eq!(Strings::pick(&[]).get("no-such-key", &[]), "no-such-key");
    }
}
