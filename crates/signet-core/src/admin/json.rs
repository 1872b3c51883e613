//! The small JSON object writer the engine uses for event and audit details (the core has
//! no serde).

/// A small JSON object writer for event and audit details (the core has no serde).
#[derive(Debug, Default)]
pub struct JsonObject(String);

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject(String::from("{"))
    }
    fn key(mut self, k: &str) -> JsonObject {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        push_json_string(&mut self.0, k);
        self.0.push(':');
        self
    }
    pub fn str(self, k: &str, v: &str) -> JsonObject {
        let mut o = self.key(k);
        push_json_string(&mut o.0, v);
        o
    }
    pub fn opt_str(self, k: &str, v: Option<&str>) -> JsonObject {
        match v {
            Some(v) => self.str(k, v),
            None => self,
        }
    }
    pub fn num(self, k: &str, v: u64) -> JsonObject {
        let mut o = self.key(k);
        o.0.push_str(&v.to_string());
        o
    }
    pub fn opt_num(self, k: &str, v: Option<u64>) -> JsonObject {
        match v {
            Some(v) => self.num(k, v),
            None => self,
        }
    }
    pub fn bool(self, k: &str, v: bool) -> JsonObject {
        let mut o = self.key(k);
        o.0.push_str(if v { "true" } else { "false" });
        o
    }
    pub fn null(self, k: &str) -> JsonObject {
        let mut o = self.key(k);
        o.0.push_str("null");
        o
    }
    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Audit details with the credential the actor used first (`"via":"token:12"` or
/// `"certificate"`), so two credentials of one identity can be told apart in the log.
pub(crate) fn with_via(details: &str, via: &str) -> String {
    let mut out = JsonObject::new().str("via", via).finish();
    let rest = details.trim().strip_prefix('{').unwrap_or("}").trim_start();
    if rest != "}" {
        out.pop();
        out.push(',');
        out.push_str(rest);
    }
    out
}
