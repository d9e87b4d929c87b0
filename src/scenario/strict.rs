//! Strict reading of scenario files, ahead of serde: serde alone accepts content after the
//! document, takes the last of two equal keys, reads a struct from a positional array, and
//! reports an error inside an internally tagged or untagged value (a fault, an `at`) at its
//! parent. Here the text is read into a JSON value with duplicate keys and trailing content
//! refused, then the value is checked against the scenario's own JSON Schema (the one
//! `nacos-sim schema` prints, derived from the same types serde reads), so every error names
//! the JSON path of the offending field itself and what that field takes.

use crate::time::parse_dur;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

/// A rejected field: its JSON path (`$` for the document) and what was wrong.
pub type Rejection = (String, String);

/// Reads `text` as one JSON document: no duplicate keys, nothing after it. A syntax error is
/// reported at the path of the value being read when it happened, with line and column.
pub fn read_json(text: &str) -> Result<Value, Rejection> {
    let deepest = RefCell::new(String::from("$"));
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict { path: "$".into(), deepest: &deepest };
    let value = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let msg = e.to_string();
        if let Some((path, rest)) = msg.split_once(PATH_MARK) {
            let (path, message) = (path.to_string(), rest.to_string());
            return (path, message);
        }
        let mut path = deepest.borrow().clone();
        let message = if msg.starts_with("trailing characters") {
            path = "$".into();
            format!("content after the end of the scenario document ({msg})")
        } else if msg.starts_with("number out of range") {
            format!("a number too large for a 64-bit float ({msg})")
        } else if e.is_eof() {
            format!("invalid JSON: the file ends inside this value ({msg})")
        } else {
            format!("invalid JSON: {msg}")
        };
        (path, message)
    })
}

/// Separates the path from the message in an error raised by [`Strict`].
const PATH_MARK: &str = "\u{1}";

/// Reads a value at `path`, refusing duplicate keys in every object below it.
struct Strict<'a> {
    path: String,
    deepest: &'a RefCell<String>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        *self.deepest.borrow_mut() = self.path.clone();
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let child = Strict { path: format!("{}[{}]", self.path, items.len()), deepest: self.deepest };
            match seq.next_element_seed(child)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{path}{PATH_MARK}duplicate key \"{key}\"")));
            }
            let v = map.next_value_seed(Strict { path, deepest: self.deepest })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// `parent.key`, or `key` at the top.
fn join(parent: &str, key: &str) -> String {
    if parent == "$" {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Checks `v` against `schema` (a JSON Schema as schemars writes it: `$ref` into
/// `definitions`, `allOf` / `anyOf` / `oneOf`, `type`, `enum`, `properties`, `required`,
/// `additionalProperties`, `items`, `minItems` / `maxItems`, `minimum`, integer `format`s).
/// An object schema that lists its properties is closed. A `Duration` is parsed, so its error
/// says why it is not one.
pub fn check(v: &Value, root: &Value) -> Result<(), Rejection> {
    Checker { root }.check(v, root, "$")
}

struct Checker<'a> {
    root: &'a Value,
}

impl Checker<'_> {
    fn check(&self, v: &Value, schema: &Value, path: &str) -> Result<(), Rejection> {
        let Value::Object(s) = schema else { return Ok(()) }; // `true`: anything
        let fail = |message: String| Err((path.to_string(), message));
        if let Some(Value::String(r)) = s.get("$ref") {
            let name = r.trim_start_matches("#/definitions/");
            if name == "Duration" {
                return match v {
                    Value::String(text) => parse_dur(text).map(|_| ()).or_else(fail),
                    other => fail(format!("expected a duration like \"15s\", found {}", describe(other))),
                };
            }
            let def = &self.root["definitions"][name];
            return self.check(v, def, path);
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.check(v, sub, path)?;
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = s.get(key) {
                self.check_choice(v, branches, path)?;
            }
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| is_type(v, t)) {
                return fail(format!("expected {}, found {}", types.join(" or "), describe(v)));
            }
        }
        if let Some(Value::Array(allowed)) = s.get("enum") {
            if !allowed.contains(v) {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                return fail(format!("expected one of {}, found {v}", list.join(", ")));
            }
        }
        if let (Some(n), Some(format)) = (v.as_f64(), s.get("format").and_then(Value::as_str)) {
            let (max, name) = match format {
                "uint8" => (u8::MAX as f64, "u8"),
                "uint16" => (u16::MAX as f64, "u16"),
                "uint32" => (u32::MAX as f64, "u32"),
                _ => (f64::INFINITY, ""),
            };
            if n > max {
                return fail(format!("expected an integer that fits a {name} (0 to {max}), found {v}"));
            }
        }
        if let (Some(n), Some(min)) = (v.as_f64(), s.get("minimum").and_then(Value::as_f64)) {
            if n < min {
                return fail(format!("expected at least {min}, found {v}"));
            }
        }
        if let Value::Object(obj) = v {
            self.check_object(obj, s, path)?;
        }
        if let Value::Array(items) = v {
            self.check_array(items, s, path)?;
        }
        Ok(())
    }

    fn check_object(&self, obj: &Map<String, Value>, s: &Map<String, Value>, path: &str) -> Result<(), Rejection> {
        let props = s.get("properties").and_then(Value::as_object);
        for key in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !obj.contains_key(key) {
                return Err((join(path, key), format!("missing field `{key}`")));
            }
        }
        for (key, value) in obj {
            let sub = props.and_then(|p| p.get(key));
            match (sub, s.get("additionalProperties")) {
                (Some(sub), _) => self.check(value, sub, &join(path, key))?,
                (None, Some(Value::Object(_)) | Some(Value::Bool(true))) => {
                    self.check(value, &s["additionalProperties"], &join(path, key))?
                }
                (None, _) if props.is_some() => {
                    let known: Vec<String> =
                        props.into_iter().flat_map(|p| p.keys()).map(|k| format!("`{k}`")).collect();
                    return Err((
                        join(path, key),
                        format!("unknown field `{key}`, expected one of {}", known.join(", ")),
                    ));
                }
                (None, _) => {}
            }
        }
        Ok(())
    }

    fn check_array(&self, items: &[Value], s: &Map<String, Value>, path: &str) -> Result<(), Rejection> {
        let len = items.len() as u64;
        let (min, max) = (s.get("minItems").and_then(Value::as_u64), s.get("maxItems").and_then(Value::as_u64));
        if min == max && min.is_some_and(|n| n != len) {
            return Err((path.into(), format!("expected {} items, found {len}", min.unwrap_or(0))));
        }
        match s.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, (item, sub)) in items.iter().zip(tuple).enumerate() {
                    self.check(item, sub, &format!("{path}[{i}]"))?;
                }
            }
            Some(sub) => {
                for (i, item) in items.iter().enumerate() {
                    self.check(item, sub, &format!("{path}[{i}]"))?;
                }
            }
            None => {}
        }
        Ok(())
    }

    /// One of several shapes. In an internally tagged enum (a fault's `kind`, an operation's
    /// `op`) the branch the tag names is the one; otherwise the value must fit some branch,
    /// and if it fits none, the error is the one that got deepest into the value, the branch
    /// it most looks like.
    fn check_choice(&self, v: &Value, branches: &[Value], path: &str) -> Result<(), Rejection> {
        // An optional field (`Option<T>`: T or null): a value that is not null must be a T.
        let null = |b: &Value| b.get("type").and_then(Value::as_str) == Some("null");
        if let ([a, b], false) = (branches, v.is_null()) {
            if null(b) || null(a) {
                return self.check(v, if null(b) { a } else { b }, path);
            }
        }
        let tag_of = |b: &Value, tag: &str| b["properties"][tag]["enum"][0].as_str().map(str::to_string);
        // The tag: a property every branch fixes to one value.
        let first = branches.first().and_then(|b| b["properties"].as_object());
        let tag = first
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .find(|k| branches.iter().all(|b| tag_of(b, k).is_some()));
        if let Some(tag) = tag {
            let kinds: BTreeSet<String> = branches.iter().filter_map(|b| tag_of(b, tag)).collect();
            let Value::Object(obj) = v else {
                return Err((path.into(), format!("expected object, found {}", describe(v))));
            };
            let Some(kind) = obj.get(tag) else { return Err((join(path, tag), format!("missing field `{tag}`"))) };
            let Some(b) = branches.iter().find(|b| tag_of(b, tag).as_deref() == kind.as_str()) else {
                let list: Vec<String> = kinds.iter().map(|k| format!("`{k}`")).collect();
                let found = kind.as_str().map_or_else(|| kind.to_string(), |k| format!("`{k}`"));
                return Err((join(path, tag), format!("unknown variant {found}, expected one of {}", list.join(", "))));
            };
            return self.check(v, b, path);
        }
        // An externally tagged enum: every branch an object of one required key, the variant.
        let variant = |b: &Value| {
            let props = b.get("properties")?.as_object()?;
            let required = b.get("required")?.as_array()?;
            (props.len() == 1 && required.len() == 1).then(|| props.keys().next().cloned()).flatten()
        };
        let variants: Vec<String> = branches.iter().filter_map(variant).collect();
        if let (Value::Object(obj), true) = (v, !variants.is_empty() && variants.len() == branches.len()) {
            if let (1, Some(key)) = (obj.len(), obj.keys().next()) {
                if let Some(b) = branches.iter().find(|b| variant(b).as_ref() == Some(key)) {
                    return self.check(v, b, path);
                }
                let list: Vec<String> = variants.iter().map(|k| format!("`{k}`")).collect();
                return Err((join(path, key), format!("unknown variant `{key}`, expected one of {}", list.join(", "))));
            }
            let list: Vec<String> = variants.iter().map(|k| format!("`{k}`")).collect();
            return Err((path.into(), format!("expected an object with one key, one of {}", list.join(", "))));
        }
        // Ranked by whether the branch takes this JSON type at all, then by depth.
        let mut best: Option<((bool, usize), Rejection)> = None;
        for b in branches {
            match self.check(v, b, path) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let rank = (self.takes_type(b, v), e.0.len());
                    if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                        best = Some((rank, e));
                    }
                }
            }
        }
        match best {
            Some(((true, _), e)) => Err(e),
            _ => {
                let mut takes: Vec<String> = branches.iter().map(|b| self.what_it_takes(b)).collect();
                takes.dedup();
                Err((path.into(), format!("expected {}, found {}", takes.join(" or "), describe(v))))
            }
        }
    }
}

impl Checker<'_> {
    /// What a schema takes, in a few words.
    fn what_it_takes(&self, schema: &Value) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            return if name == "Duration" {
                "a duration like \"15s\"".into()
            } else {
                self.what_it_takes(&self.root["definitions"][name])
            };
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => match schema.get("properties").and_then(Value::as_object) {
                Some(p) if p.len() == 1 => format!("{{\"{}\": …}}", p.keys().next().map_or("", |k| k)),
                _ => "an object".into(),
            },
            Some(t) => t.into(),
            None => "a value of another shape".into(),
        }
    }

    /// Whether `schema` takes values of `v`'s JSON type (a `Duration` is a string).
    fn takes_type(&self, schema: &Value, v: &Value) -> bool {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            return if name == "Duration" {
                v.is_string()
            } else {
                self.takes_type(&self.root["definitions"][name], v)
            };
        }
        match schema.get("type") {
            Some(Value::String(t)) => is_type(v, t),
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(|t| is_type(v, t)),
            _ => ["anyOf", "oneOf", "allOf"]
                .iter()
                .filter_map(|k| schema.get(*k).and_then(Value::as_array))
                .flatten()
                .any(|b| self.takes_type(b, v)),
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => true,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
