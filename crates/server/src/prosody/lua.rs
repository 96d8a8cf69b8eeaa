//! Reads the Lua literals Prosody's file storage writes (`util.datamanager`): a `.dat` file
//! is `return VALUE;`, a `.list` file a sequence of `item(VALUE);`. Values are nil, booleans,
//! numbers, strings and tables: a parser for that grammar, never Lua itself (nothing in a
//! data file is run).

use std::fmt;

/// A Lua value as Prosody serialises it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Lua strings are bytes (Prosody writes every byte above 126 as a `\ddd` escape).
    Str(Vec<u8>),
    Table(Table),
}

/// A table: its positional entries (`{ a; b }`, the array part), and its keyed ones in the
/// order written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub items: Vec<Value>,
    pub fields: Vec<(Value, Value)>,
}

impl Table {
    /// The value under a string key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key.as_bytes())).map(|(_, v)| v)
    }

    /// The value under `[false]` (where Prosody keeps a store's own metadata).
    pub fn get_false(&self) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| *k == Value::Bool(false)).map(|(_, v)| v)
    }

    /// A string field as text; `None` if absent or not valid UTF-8 text.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn table(&self, key: &str) -> Option<&Table> {
        self.get(key).and_then(Value::as_table)
    }

    /// The keyed entries whose keys are strings, as text.
    pub fn string_fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().filter_map(|(k, v)| k.as_str().map(|k| (k, v)))
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Self::Table(t) => Some(t),
            _ => None,
        }
    }

    /// A number as an integer (a float without a fraction counts).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int(n) => Some(n),
            Self::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::Int(n) => Some(n as f64),
            Self::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// Where and why a file does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for LuaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for LuaError {}

/// Tables nested deeper than this are refused (stanzas nest, but not this deep).
const MAX_DEPTH: usize = 200;

/// A `.dat` file: `return VALUE;`.
pub fn parse_return(src: &[u8]) -> Result<Value, LuaError> {
    let mut p = Parser { src, at: 0, line: 1 };
    p.keyword(b"return")?;
    let value = p.value(0)?;
    p.skip();
    p.eat(b';');
    p.end()?;
    Ok(value)
}

/// A `.list` file: each `item(VALUE);` in order.
pub fn parse_items(src: &[u8]) -> Result<Vec<Value>, LuaError> {
    let mut p = Parser { src, at: 0, line: 1 };
    let mut items = Vec::new();
    loop {
        p.skip();
        if p.at >= p.src.len() {
            return Ok(items);
        }
        p.keyword(b"item")?;
        p.skip();
        p.expect(b'(')?;
        items.push(p.value(0)?);
        p.skip();
        p.expect(b')')?;
        p.skip();
        p.eat(b';');
    }
}

struct Parser<'a> {
    src: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn error<T>(&self, reason: impl Into<String>) -> Result<T, LuaError> {
        Err(LuaError { line: self.line, reason: reason.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips whitespace and `--` comments.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_whitespace() => {
                    self.bump();
                }
                Some(b'-') if self.src.get(self.at + 1) == Some(&b'-') => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), LuaError> {
        if self.eat(c) { Ok(()) } else { self.error(format!("expected '{}'{}", c as char, self.found())) }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) if c.is_ascii_graphic() => format!(", found '{}'", c as char),
            Some(c) => format!(", found byte {c}"),
            None => ", found the end of the file".into(),
        }
    }

    fn keyword(&mut self, word: &[u8]) -> Result<(), LuaError> {
        self.skip();
        if self.src[self.at..].starts_with(word) && !self.ident_byte(self.at + word.len()) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(())
        } else {
            self.error(format!("expected `{}`{}", String::from_utf8_lossy(word), self.found()))
        }
    }

    fn ident_byte(&self, at: usize) -> bool {
        self.src.get(at).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    }

    fn end(&mut self) -> Result<(), LuaError> {
        self.skip();
        if self.at < self.src.len() { self.error(format!("unexpected content{}", self.found())) } else { Ok(()) }
    }

    fn value(&mut self, depth: usize) -> Result<Value, LuaError> {
        self.skip();
        match self.peek() {
            Some(b'{') => self.table(depth),
            Some(b'"' | b'\'') => Ok(Value::Str(self.string()?)),
            Some(b'(') => self.special_number(),
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.at;
                while self.ident_byte(self.at) {
                    self.bump();
                }
                match &self.src[start..self.at] {
                    b"true" => Ok(Value::Bool(true)),
                    b"false" => Ok(Value::Bool(false)),
                    b"nil" => Ok(Value::Nil),
                    other => self.error(format!("`{}` is not a value", String::from_utf8_lossy(other))),
                }
            }
            _ => self.error(format!("expected a value{}", self.found())),
        }
    }

    fn table(&mut self, depth: usize) -> Result<Value, LuaError> {
        if depth >= MAX_DEPTH {
            return self.error(format!("tables nested deeper than {MAX_DEPTH} levels"));
        }
        self.expect(b'{')?;
        let mut t = Table::default();
        loop {
            self.skip();
            if self.eat(b'}') {
                return Ok(Value::Table(t));
            }
            if self.eat(b'[') {
                let key = self.value(depth + 1)?;
                self.skip();
                self.expect(b']')?;
                self.skip();
                self.expect(b'=')?;
                let value = self.value(depth + 1)?;
                if key == Value::Nil {
                    return self.error("a nil table key");
                }
                t.fields.push((key, value));
            } else if self.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_') && self.is_named_field() {
                let start = self.at;
                while self.ident_byte(self.at) {
                    self.bump();
                }
                let key = Value::Str(self.src[start..self.at].to_vec());
                self.skip();
                self.expect(b'=')?;
                let value = self.value(depth + 1)?;
                t.fields.push((key, value));
            } else {
                t.items.push(self.value(depth + 1)?);
            }
            self.skip();
            if !self.eat(b';') && !self.eat(b',') {
                self.skip();
                if self.eat(b'}') {
                    return Ok(Value::Table(t));
                }
                return self.error(format!("expected ';', ',' or '}}'{}", self.found()));
            }
        }
    }

    /// Whether an identifier here is a field name (`name = ...`) rather than a value.
    fn is_named_field(&self) -> bool {
        let mut at = self.at;
        while self.ident_byte(at) {
            at += 1;
        }
        while self.src.get(at).is_some_and(|c| c.is_ascii_whitespace()) {
            at += 1;
        }
        self.src.get(at) == Some(&b'=') && self.src.get(at + 1) != Some(&b'=')
    }

    /// `(1/0)`, `(-1/0)` and `(0/0)`: how infinities and NaN are written.
    fn special_number(&mut self) -> Result<Value, LuaError> {
        for (text, value) in [(&b"(1/0)"[..], f64::INFINITY), (b"(-1/0)", f64::NEG_INFINITY), (b"(0/0)", f64::NAN)] {
            if self.src[self.at..].starts_with(text) {
                self.at += text.len();
                return Ok(Value::Float(value));
            }
        }
        self.error("expected a value")
    }

    fn number(&mut self) -> Result<Value, LuaError> {
        let start = self.at;
        let negative = self.eat(b'-');
        if self.src[self.at..].starts_with(b"0x") || self.src[self.at..].starts_with(b"0X") {
            self.at += 2;
            let digits = self.at;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.at += 1;
            }
            let text = std::str::from_utf8(&self.src[digits..self.at]).unwrap_or_default();
            return match u64::from_str_radix(text, 16) {
                Ok(n) => Ok(Value::Int(if negative { (n as i64).wrapping_neg() } else { n as i64 })),
                Err(_) => self.error("not a number"),
            };
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E')) {
            let c = self.bump();
            if matches!(c, Some(b'e' | b'E')) && matches!(self.peek(), Some(b'+' | b'-')) {
                self.bump();
            }
        }
        let text = std::str::from_utf8(&self.src[start..self.at]).unwrap_or_default();
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        match text.parse::<f64>() {
            Ok(f) => Ok(Value::Float(f)),
            Err(_) => self.error(format!("{text:?} is not a number")),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, LuaError> {
        let quote = self.bump().unwrap_or(b'"');
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(b'\n') {
                return self.error("a line break inside a string");
            }
            let Some(c) = self.bump() else { return self.error("a string runs to the end of the file") };
            match c {
                c if c == quote => return Ok(out),
                b'\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), LuaError> {
        let Some(c) = self.bump() else { return self.error("a string runs to the end of the file") };
        match c {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' | b'\n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' | b'"' | b'\'' => out.push(c),
            b'z' => {
                while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    self.bump();
                }
            }
            b'x' => {
                let hex = self.src.get(self.at..self.at + 2).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        self.at += 2;
                        out.push(b);
                    }
                    None => return self.error("a \\x escape without two hex digits"),
                }
            }
            b'u' => {
                self.expect(b'{')?;
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.src[start..self.at]).unwrap_or_default();
                let ch = u32::from_str_radix(text, 16).ok().and_then(char::from_u32);
                self.expect(b'}')?;
                match ch {
                    Some(ch) => out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
                    None => return self.error("a \\u escape that is no character"),
                }
            }
            c if c.is_ascii_digit() => {
                let mut n = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d) if d.is_ascii_digit() => {
                            self.bump();
                            n = n * 10 + u32::from(d - b'0');
                        }
                        _ => break,
                    }
                }
                match u8::try_from(n) {
                    Ok(b) => out.push(b),
                    Err(_) => return self.error(format!("\\{n} is no byte")),
                }
            }
            other => return self.error(format!("an unknown escape \\{}", other as char)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.as_bytes().to_vec())
    }

    #[test]
    fn what_prosody_writes_reads() {
        let src = br#"return {
	["salt"] = "073b2239-c189";
	["iteration_count"] = 10000;
	[false] = {
		["version"] = 5;
		["pending"] = {};
	};
	{
		"Alice \"L\" \195\169\n\
line";
		["attr"] = { ["xmlns"] = "vcard-temp"; };
		name = 'FN';
	};
	["when"] = 1796649218.25;
	["neg"] = -3;
	["big"] = 1.5e+20;
	["inf"] = (1/0);
	-- a comment
	["flag"] = true, ["none"] = nil,
};
"#;
        let Value::Table(t) = parse_return(src).unwrap() else { panic!() };
        assert_eq!(t.str("salt"), Some("073b2239-c189"));
        assert_eq!(t.get("iteration_count"), Some(&Value::Int(10_000)));
        assert_eq!(t.get_false().and_then(Value::as_table).and_then(|m| m.get("version")), Some(&Value::Int(5)));
        let Value::Table(fn_) = &t.items[0] else { panic!() };
        assert_eq!(fn_.items[0], s("Alice \"L\" é\n\nline"));
        assert_eq!(fn_.str("name"), Some("FN"));
        assert_eq!(t.get("when").and_then(Value::as_f64), Some(1_796_649_218.25));
        assert_eq!(t.get("neg"), Some(&Value::Int(-3)));
        assert_eq!(t.get("big"), Some(&Value::Float(1.5e20)));
        assert_eq!(t.get("inf"), Some(&Value::Float(f64::INFINITY)));
        assert_eq!(t.get("flag"), Some(&Value::Bool(true)));
        assert_eq!(t.get("none"), Some(&Value::Nil));
    }

    /// Damaged files are refused, never a panic: every prefix of a real file, and every
    /// single byte of it replaced by each of a few troublesome ones.
    #[test]
    fn damage_is_an_error_not_a_panic() {
        let src: &[u8] = b"return {\n\t[\"a\"] = { \"x\\195\\169\\n\"; [\"attr\"] = { [\"xmlns\"] = 'u'; }; };\n\t[false] = { 1.5e+3, -2, 0x1F, (1/0), true, nil };\n};\n";
        assert!(parse_return(src).is_ok());
        for end in 0..src.len() {
            let _ = parse_return(&src[..end]);
            let _ = parse_items(&src[..end]);
        }
        for at in 0..src.len() {
            for b in [b'"', b'\\', b'{', b'}', b'[', b']', b'(', b'-', b'0', b'x', b'\n', 0, 0xff] {
                let mut damaged = src.to_vec();
                damaged[at] = b;
                let _ = parse_return(&damaged);
            }
        }
    }

    #[test]
    fn lists_are_items_in_order() {
        let src = b"item({ [\"key\"] = \"a\"; });\nitem({ [\"key\"] = \"b\"; });\n      \n";
        let items = parse_items(src).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].as_table().unwrap().str("key"), Some("b"));
        assert!(parse_items(b"").unwrap().is_empty());
    }

    #[test]
    fn nothing_but_literals_is_accepted() {
        let dat: [(&[u8], usize, &str); 4] = [
            (b"return os.execute('rm -rf /');", 1, "is not a value"),
            (b"return {\n [\"a\"] = \"unterminated\n};", 2, "line break inside a string"),
            (b"return {\n\n [\"a\"] = 1 2 };", 3, "expected ';'"),
            (b"return {};\nreturn {};", 2, "unexpected content"),
        ];
        for (src, line, reason) in dat {
            let e = parse_return(src).unwrap_err();
            assert_eq!(e.line, line, "{}: {e}", String::from_utf8_lossy(src));
            assert!(e.reason.contains(reason), "{}: {e}", String::from_utf8_lossy(src));
        }
        let list: [(&[u8], usize, &str); 2] =
            [(b"item({})\n item", 2, "expected '('"), (b"item(\"\\q\");", 1, "unknown escape")];
        for (src, line, reason) in list {
            let e = parse_items(src).unwrap_err();
            assert_eq!(e.line, line, "{}: {e}", String::from_utf8_lossy(src));
            assert!(e.reason.contains(reason), "{}: {e}", String::from_utf8_lossy(src));
        }
        let deep = format!("return {}{};", "{".repeat(300), "}".repeat(300));
        assert!(parse_return(deep.as_bytes()).unwrap_err().reason.contains("nested deeper"));
    }
}
