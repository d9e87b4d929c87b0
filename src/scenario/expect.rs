//! `expect` blocks: what a run must show, checked as its observations stream past.
//!
//! Every key an entry names is checked at load time against the fields of its observation kind,
//! taken from the JSON Schema of [`Observation`] (the type the trace serializes), so a misspelt
//! key or a value of the wrong type is an error instead of an expectation that silently never
//! matches.

use super::world::{convergence_problems, World, CONVERGENCE_CLAUSES};
use super::Invalid;
use crate::engine::Record;
use crate::naming::anomalies::ANOMALIES;
use crate::naming::wire::Observation;
use crate::time::{Dur, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// An assertion checked at the end of a run. Times are in `(from, to]` (`[t, t]`, the instant,
/// when from = to): absolute, relative to the actual time of fault number `after_fault` (useful
/// when the fault time is random), or relative to the first observation matching `after`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Observation kind, e.g. `instance_unhealthy` (`nacos-sim schema --observations` lists
    /// every kind and its fields).
    pub observation: String,
    /// Node id; any node if absent.
    #[serde(default)]
    pub node: Option<String>,
    /// Fields the observation must have. A value is compared as JSON (`{"ip": "10.1.0.1"}`,
    /// `{"hosts": []}`), or is an object of comparisons that must all hold: `gt`, `ge`, `lt`,
    /// `le` (numbers), `ne` (any value), `contains` (a substring), e.g.
    /// `{"attempt": {"ge": 2}}`.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, Value>,
    /// For observations with `hosts`: a host the list must contain, its fields compared as in
    /// `where` (`ip`, `port`, `healthy`, `weight`, `enabled`, and `metadata`: the entries given
    /// must be there).
    #[serde(default)]
    pub view_has: Option<BTreeMap<String, Value>>,
    /// For observations with `hosts`: a host the list must not contain.
    #[serde(default)]
    pub view_lacks: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub within: Option<(Dur, Dur)>,
    #[serde(default)]
    pub after_fault: Option<usize>,
    /// Measure from the first observation matching this (instead of from a fault or from 0);
    /// only observations recorded after it count. If it never comes, the entry fails.
    #[serde(default)]
    pub after: Option<Anchor>,
    /// The FIRST matching observation (after the reference) must be inside the window.
    #[serde(default)]
    pub first: bool,
    /// No matching observation may occur (inside the window, if given).
    #[serde(default)]
    pub never: bool,
    /// `[min, max]`: how many matching observations the window (or the run after the
    /// reference) must hold; replaces "at least one".
    #[serde(default)]
    pub count: Option<(u64, u64)>,
    /// Free text shown when the expectation fails.
    #[serde(default)]
    pub why: String,
}

/// The observation an `expect` entry measures from.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub observation: String,
    #[serde(default)]
    pub node: Option<String>,
    /// As in `expect.where`.
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, Value>,
}

/// The end-of-run eventual-consistency check: `true`, or `{"expect_fail": [clause, …]}` to pin
/// a known non-convergence (those clauses must fail, every other one must hold).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, expecting = "true, false or {\"expect_fail\": [clause, …]}")]
pub enum Converge {
    Check(bool),
    Pinned(PinnedConvergence),
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PinnedConvergence {
    /// Clauses of the check that must fail (names as in `CONVERGENCE_CLAUSES`).
    pub expect_fail: Vec<String>,
}

impl Default for Converge {
    fn default() -> Self {
        Converge::Check(false)
    }
}

impl Converge {
    /// The clauses expected to fail, if the check runs at all.
    pub fn expected_failures(&self) -> Option<Vec<String>> {
        match self {
            Converge::Check(false) => None,
            Converge::Check(true) => Some(Vec::new()),
            Converge::Pinned(p) => Some(p.expect_fail.clone()),
        }
    }
}

/// The JSON type of an observation field, as its schema gives it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum FieldType {
    String,
    Integer,
    Boolean,
    Array,
    /// A map (metadata): a `where` object lists entries it must hold.
    Object,
}

impl FieldType {
    /// The type a field's schema gives; an optional field (`["integer", "null"]`) is its
    /// non-null type (a `where` on it never matches null).
    fn of_schema(s: &Value) -> FieldType {
        let ty = match s.get("type") {
            Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            other => other.and_then(Value::as_str),
        };
        match ty {
            Some("integer") | Some("number") => FieldType::Integer,
            Some("boolean") => FieldType::Boolean,
            Some("array") => FieldType::Array,
            Some("object") => FieldType::Object,
            _ => FieldType::String,
        }
    }
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::Integer => "a number",
            FieldType::Boolean => "a boolean",
            FieldType::Array => "an array",
            FieldType::Object => "an object",
        }
    }
    fn admits(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (FieldType::String, Value::String(_))
                | (FieldType::Integer, Value::Number(_))
                | (FieldType::Boolean, Value::Bool(_))
                | (FieldType::Array, Value::Array(_))
                | (FieldType::Object, Value::Object(_))
        )
    }
}

type Fields = BTreeMap<String, FieldType>;

/// Every observation kind with its fields, read once from the schema of [`Observation`].
fn kinds() -> &'static BTreeMap<String, Fields> {
    static KINDS: std::sync::OnceLock<BTreeMap<String, Fields>> = std::sync::OnceLock::new();
    KINDS.get_or_init(|| {
        let schema = serde_json::to_value(observation_schema()).expect("schema serializes");
        let mut kinds = BTreeMap::new();
        for variant in schema["oneOf"].as_array().expect("observations are a tagged enum") {
            let props = variant["properties"].as_object().expect("variants are objects");
            let kind = props["kind"]["enum"][0].as_str().expect("kind tag").to_string();
            let fields = props.iter().filter(|(k, _)| *k != "kind").map(|(k, s)| (k.clone(), FieldType::of_schema(s)));
            kinds.insert(kind, fields.collect());
        }
        kinds
    })
}

/// The JSON Schema of trace records (`nacos-sim schema --observations`).
pub fn observation_schema() -> schemars::schema::RootSchema {
    schemars::schema_for!(Observation)
}

/// Every observation kind, sorted.
pub fn observation_kinds() -> impl Iterator<Item = &'static str> {
    kinds().keys().map(String::as_str)
}

/// The fields of a host in a `hosts` list (`SeenHost`).
fn host_fields() -> &'static Fields {
    static HOST: std::sync::OnceLock<Fields> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let schema = serde_json::to_value(schemars::schema_for!(crate::naming::wire::SeenHost)).expect("serializes");
        let props = schema["properties"].as_object().expect("a host is an object");
        props.iter().map(|(k, s)| (k.clone(), FieldType::of_schema(s))).collect()
    })
}

/// One condition on one field.
#[derive(Clone, Debug)]
enum Cond {
    Eq(Value),
    Ne(Value),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    Contains(String),
    /// A map field holds each of these entries (others may be there too).
    Has(serde_json::Map<String, Value>),
}

impl Cond {
    fn holds(&self, v: Option<&Value>) -> bool {
        let Some(v) = v else { return false };
        let num = v.as_f64();
        match self {
            Cond::Eq(want) => same(v, want),
            Cond::Ne(want) => !same(v, want),
            Cond::Gt(x) => num.is_some_and(|n| n > *x),
            Cond::Ge(x) => num.is_some_and(|n| n >= *x),
            Cond::Lt(x) => num.is_some_and(|n| n < *x),
            Cond::Le(x) => num.is_some_and(|n| n <= *x),
            Cond::Contains(s) => v.as_str().is_some_and(|v| v.contains(s.as_str())),
            Cond::Has(entries) => entries.iter().all(|(k, want)| v.get(k).is_some_and(|x| same(x, want))),
        }
    }
}

/// JSON equality, with numbers compared by value (`8080` equals `8080.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

const OPERATORS: &[&str] = &["gt", "ge", "lt", "le", "ne", "contains"];

/// Compiles `where`-style conditions against `fields`; errors name the key's path.
fn compile(path: &str, spec: &BTreeMap<String, Value>, fields: &Fields, what: &str) -> Result<Conds, Invalid> {
    let mut out = Vec::new();
    for (key, want) in spec {
        let p = format!("{path}.{key}");
        let Some(&ty) = fields.get(key) else {
            let known: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err((p, format!("{what} has no field \"{key}\"; its fields are {known:?}")));
        };
        let mut conds = Vec::new();
        match want {
            Value::Object(entries) if ty == FieldType::Object => conds.push(Cond::Has(entries.clone())),
            Value::Object(ops) => {
                if ops.is_empty() {
                    return Err((p, format!("expected a value or comparisons ({})", OPERATORS.join(", "))));
                }
                for (op, x) in ops {
                    let op_path = format!("{p}.{op}");
                    let number = || {
                        x.as_f64().filter(|_| ty == FieldType::Integer).ok_or_else(|| {
                            (op_path.clone(), format!("`{op}` compares numbers: \"{key}\" is {}", ty.name()))
                        })
                    };
                    conds.push(match op.as_str() {
                        "gt" => Cond::Gt(number()?),
                        "ge" => Cond::Ge(number()?),
                        "lt" => Cond::Lt(number()?),
                        "le" => Cond::Le(number()?),
                        "ne" if ty.admits(x) => Cond::Ne(x.clone()),
                        "ne" => return Err((op_path, format!("\"{key}\" is {}", ty.name()))),
                        "contains" => match (ty, x.as_str()) {
                            (FieldType::String, Some(s)) => Cond::Contains(s.to_string()),
                            _ => {
                                return Err((
                                    op_path,
                                    format!("`contains` takes a string, on a string field: \"{key}\" is {}", ty.name()),
                                ))
                            }
                        },
                        _ => {
                            return Err((
                                op_path,
                                format!("unknown comparison \"{op}\"; expected one of {}", OPERATORS.join(", ")),
                            ))
                        }
                    });
                }
            }
            v if ty.admits(v) => conds.push(Cond::Eq(v.clone())),
            v => return Err((p, format!("\"{key}\" is {}, found {v}", ty.name()))),
        }
        out.push((key.clone(), conds));
    }
    Ok(out)
}

type Conds = Vec<(String, Vec<Cond>)>;

fn all_hold(conds: &Conds, v: &Value) -> bool {
    conds.iter().all(|(k, cs)| cs.iter().all(|c| c.holds(v.get(k))))
}

/// What one observation must be: kind, node, field conditions, host conditions.
pub(super) struct Matcher {
    kind: String,
    node: Option<String>,
    fields: Conds,
    view_has: Option<Conds>,
    view_lacks: Option<Conds>,
}

impl Matcher {
    /// Compiles an entry's conditions; an error names the offending field relative to the
    /// entry. [`validate`] reports it at load time, so a checker never meets one.
    pub(super) fn new(
        kind: &str,
        node: &Option<String>,
        where_: &BTreeMap<String, Value>,
        has: &Option<BTreeMap<String, Value>>,
        lacks: &Option<BTreeMap<String, Value>>,
    ) -> Result<Matcher, Invalid> {
        let fields = kinds().get(kind).ok_or_else(|| (String::new(), format!("unknown kind {kind}")))?;
        let host = |spec: &Option<BTreeMap<String, Value>>, field: &str| -> Result<Option<Conds>, Invalid> {
            match spec {
                None => Ok(None),
                Some(_) if fields.get("hosts") != Some(&FieldType::Array) => Err((
                    field.into(),
                    format!("`{kind}` has no `hosts` list: `{field}` applies to observations that have one"),
                )),
                Some(s) => compile(field, s, host_fields(), "a host").map(Some),
            }
        };
        Ok(Matcher {
            kind: kind.to_string(),
            node: node.clone(),
            fields: compile("where", where_, fields, &format!("`{kind}`"))?,
            view_has: host(has, "view_has")?,
            view_lacks: host(lacks, "view_lacks")?,
        })
    }

    pub(super) fn matches(&self, r: &Record<Observation>, names: &[String]) -> bool {
        if r.obs.kind() != self.kind || self.node.as_ref().is_some_and(|n| names[r.node as usize] != *n) {
            return false;
        }
        if self.fields.is_empty() && self.view_has.is_none() && self.view_lacks.is_none() {
            return true;
        }
        let v = serde_json::to_value(&r.obs).expect("observations serialize");
        if !all_hold(&self.fields, &v) {
            return false;
        }
        let hosts = v.get("hosts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if let Some(c) = &self.view_has {
            if !hosts.iter().any(|h| all_hold(c, h)) {
                return false;
            }
        }
        if let Some(c) = &self.view_lacks {
            if hosts.iter().any(|h| all_hold(c, h)) {
                return false;
            }
        }
        true
    }
}

pub(super) fn check_kind(path: &str, kind: &str) -> Result<(), Invalid> {
    if kinds().contains_key(kind) {
        return Ok(());
    }
    let all: Vec<&str> = observation_kinds().collect();
    Err((path.into(), format!("unknown observation kind \"{kind}\"; expected one of {all:?}")))
}

/// The checks of one entry that need the rest of the scenario: node ids, fault count, and every
/// key against its observation kind's fields.
pub(super) fn validate(p: &str, e: &Expect, nodes: &BTreeSet<&str>, faults: usize) -> Result<(), Invalid> {
    let node_ok = |path: String, n: &Option<String>| match n {
        Some(n) if !nodes.contains(n.as_str()) => Err((path, format!("unknown node \"{n}\""))),
        _ => Ok(()),
    };
    node_ok(format!("{p}.node"), &e.node)?;
    check_kind(&format!("{p}.observation"), &e.observation)?;
    let prefix = |(path, m): Invalid| (format!("{p}.{path}"), m);
    Matcher::new(&e.observation, &e.node, &e.where_, &e.view_has, &e.view_lacks).map_err(prefix)?;
    if let Some(a) = &e.after {
        let ap = format!("{p}.after");
        node_ok(format!("{ap}.node"), &a.node)?;
        check_kind(&format!("{ap}.observation"), &a.observation)?;
        Matcher::new(&a.observation, &a.node, &a.where_, &None, &None)
            .map_err(|(path, m)| (format!("{ap}.{path}"), m))?;
        if e.after_fault.is_some() {
            return Err((ap, "`after` and `after_fault` exclude each other".into()));
        }
    }
    if let Some((a, b)) = e.within {
        if b < a || a.is_negative() {
            return Err((format!("{p}.within"), "expected [from, to] with 0 <= from <= to".into()));
        }
    }
    if let Some(k) = e.after_fault {
        if k >= faults {
            return Err((format!("{p}.after_fault"), format!("there is no fault number {k}")));
        }
    }
    if e.first && e.never {
        return Err((format!("{p}.first"), "`first` and `never` exclude each other".into()));
    }
    if let Some((lo, hi)) = e.count {
        if e.never {
            return Err((
                format!("{p}.count"),
                "`count` and `never` exclude each other (never is count [0, 0])".into(),
            ));
        }
        if hi < lo {
            return Err((format!("{p}.count"), "expected [min, max] with min <= max".into()));
        }
    }
    Ok(())
}

/// The clause names `converge.expect_fail` may pin.
pub(super) fn validate_converge(c: &Converge) -> Result<(), Invalid> {
    if let Converge::Pinned(p) = c {
        for (i, clause) in p.expect_fail.iter().enumerate() {
            if !CONVERGENCE_CLAUSES.contains(&clause.as_str()) {
                return Err((
                    format!("converge.expect_fail[{i}]"),
                    format!("unknown clause \"{clause}\"; expected one of {CONVERGENCE_CLAUSES:?}"),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn validate_anomalies(names: Option<&[String]>) -> Result<(), Invalid> {
    for (i, name) in names.unwrap_or_default().iter().enumerate() {
        let path = format!("expect_anomalies[{i}]");
        if !ANOMALIES.contains(&name.as_str()) {
            return Err((path, format!("unknown anomaly \"{name}\"; expected one of {ANOMALIES:?}")));
        }
        if names.unwrap_or_default()[..i].contains(name) {
            return Err((path, format!("\"{name}\" is listed twice")));
        }
    }
    Ok(())
}

/// The `expect_anomalies` check: the anomalies found, by name, must be exactly those listed.
fn anomaly_outcome(world: &World, expected: &[String], index: usize) -> ExpectOutcome {
    let found: BTreeSet<&str> = world.anomalies.found().iter().map(|a| a.name).collect();
    let wanted: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    let list = |s: &BTreeSet<&str>| {
        if s.is_empty() {
            "none".to_string()
        } else {
            s.iter().copied().collect::<Vec<_>>().join(", ")
        }
    };
    let ok = found == wanted;
    let message = if ok {
        format!("anomalies as expected: {}", list(&found))
    } else {
        format!("expected anomalies {}, found {}", list(&wanted), list(&found))
    };
    ExpectOutcome { index, ok, message }
}

/// The outcome of one `expect` entry.
#[derive(Debug, Clone)]
pub struct ExpectOutcome {
    pub index: usize,
    pub ok: bool,
    pub message: String,
}

/// The `expect` entries checked as observations stream past: each keeps its reference time,
/// the first matching observation, the first one inside the window and a count, so a run of
/// any length checks them in constant memory.
pub struct ExpectChecker<'a> {
    expect: &'a [Expect],
    state: Vec<ExpectState>,
}

struct ExpectState {
    matcher: Matcher,
    anchor: Option<Matcher>,
    /// From when observations count: 0, the fault's time, or the anchor's (once seen).
    reference: Option<Time>,
    window: Option<(Time, Time)>,
    first: Option<Time>,
    first_in_window: Option<Time>,
    in_window: u64,
}

impl<'a> ExpectChecker<'a> {
    /// `fault_times` are the resolved times of the scenario's faults (`World::fault_times`);
    /// `expect` has passed [`validate`].
    pub fn new(expect: &'a [Expect], fault_times: &[Time]) -> Self {
        let state = expect
            .iter()
            .map(|e| {
                let matcher =
                    Matcher::new(&e.observation, &e.node, &e.where_, &e.view_has, &e.view_lacks).expect("validated");
                let anchor = e
                    .after
                    .as_ref()
                    .map(|a| Matcher::new(&a.observation, &a.node, &a.where_, &None, &None).expect("validated"));
                let mut st = ExpectState {
                    matcher,
                    anchor,
                    reference: None,
                    window: None,
                    first: None,
                    first_in_window: None,
                    in_window: 0,
                };
                if st.anchor.is_none() {
                    st.set_reference(e, e.after_fault.map(|k| fault_times[k]).unwrap_or(Time::ZERO));
                }
                st
            })
            .collect();
        ExpectChecker { expect, state }
    }

    /// One observation, in trace order.
    pub fn observe(&mut self, r: &Record<Observation>, names: &[String]) {
        for (e, st) in self.expect.iter().zip(&mut self.state) {
            let Some(reference) = st.reference else {
                if st.anchor.as_ref().is_some_and(|a| a.matches(r, names)) {
                    st.set_reference(e, r.at);
                }
                continue; // the anchor itself never counts
            };
            if e.count.is_none() && st.first_in_window.is_some() && st.first.is_some() {
                continue; // nothing later can change this entry's outcome
            }
            if r.at < reference || !st.matcher.matches(r, names) {
                continue;
            }
            st.first.get_or_insert(r.at);
            // `(from, to]`; a window of no length is the instant itself.
            let inside = |(a, b): (Time, Time)| if a == b { r.at == a } else { r.at > a && r.at <= b };
            if st.window.is_none_or(inside) {
                st.first_in_window.get_or_insert(r.at);
                st.in_window += 1;
            }
        }
    }

    /// For each entry, how long after its reference (fault, anchor or 0) the first matching
    /// observation came, if it did: what a sweep reports as the entry's time.
    pub fn times(&self) -> Vec<Option<Dur>> {
        self.state.iter().map(|st| Some(st.first? - st.reference?)).collect()
    }

    /// The outcome of every entry, then (if the world asks for it) of the convergence check.
    pub fn outcomes(&self, world: &World) -> Vec<ExpectOutcome> {
        let expects = self.expect.iter().zip(&self.state).enumerate();
        expects
            .map(|(index, (e, st))| {
                let (ok, detail) = st.outcome(e);
                let message = if e.why.is_empty() || ok { detail } else { format!("{detail} ({})", e.why) };
                ExpectOutcome { index, ok, message }
            })
            .chain(
                world
                    .converge
                    .as_ref()
                    .map(|pinned| convergence_outcomes(world, pinned, self.expect.len()))
                    .into_iter()
                    .flatten(),
            )
            .chain(world.expect_anomalies.as_ref().map(|a| {
                // Numbered after the convergence check's entries, if there are any.
                anomaly_outcome(world, a, self.expect.len() + usize::from(world.converge.is_some()))
            }))
            .collect()
    }
}

impl ExpectState {
    fn set_reference(&mut self, e: &Expect, t: Time) {
        self.reference = Some(t);
        self.window = e.within.map(|(a, b)| (t + a, t + b));
    }

    fn describe(&self, e: &Expect) -> String {
        let mut s = describe_match(e);
        match self.window {
            Some((a, b)) if a == b => s += &format!(" in [{a}]"),
            Some((a, b)) => s += &format!(" in ({a}, {b}]"),
            None => {}
        }
        if let (Some(k), Some(t)) = (e.after_fault, self.reference) {
            s += &format!(" (fault {k} at {t})");
        }
        if let (Some(a), Some(t)) = (&e.after, self.reference) {
            s += &format!(" (after {} at {t})", a.observation);
        }
        s
    }

    fn outcome(&self, e: &Expect) -> (bool, String) {
        if self.reference.is_none() {
            let a = e.after.as_ref().expect("only an anchor leaves the reference unset");
            let mut what = a.observation.clone();
            if let Some(n) = &a.node {
                what += &format!(" on {n}");
            }
            if !a.where_.is_empty() {
                what += &format!(" where {}", serde_json::to_string(&a.where_).unwrap_or_default());
            }
            return (false, format!("expected {} after {what}, but {what} never came", e.observation));
        }
        let d = self.describe(e);
        if let Some((lo, hi)) = e.count {
            let n = self.in_window;
            let counted = (lo..=hi).contains(&n);
            let first_ok = !e.first || self.first.is_some_and(|t| self.first_in_window == Some(t));
            let seen = match self.first {
                Some(t) if e.first && !first_ok => format!(", the first at {t} outside the window"),
                _ => String::new(),
            };
            let ok = counted && first_ok;
            let verdict = if ok { "" } else { "expected " };
            return (ok, format!("{verdict}{d} {lo} to {hi} times: seen {n}{seen}"));
        }
        if e.never {
            return match self.first_in_window {
                Some(t) => (false, format!("expected never {d}, but seen at {t}")),
                None => (true, format!("never {d}")),
            };
        }
        if e.first {
            return match self.first {
                Some(t) if self.first_in_window == Some(t) => (true, format!("first {d} at {t}")),
                Some(t) => (false, format!("expected first {d}, but it came at {t}")),
                None => (false, format!("expected first {d}, but it never came")),
            };
        }
        match (self.first_in_window, self.first) {
            (Some(t), _) => (true, format!("{d} at {t}")),
            (None, Some(t)) => (false, format!("expected {d}, but the matching ones came at {t} and later")),
            (None, None) => (false, format!("expected {d}, but none came")),
        }
    }
}

/// What an entry matches, in words: kind, node, fields, hosts.
pub fn describe_match(e: &Expect) -> String {
    let json = |v: &BTreeMap<String, Value>| serde_json::to_string(v).unwrap_or_default();
    let mut s = e.observation.clone();
    if let Some(n) = &e.node {
        s += &format!(" on {n}");
    }
    if !e.where_.is_empty() {
        s += &format!(" where {}", json(&e.where_));
    }
    if let Some(h) = &e.view_has {
        s += &format!(" with host {}", json(h));
    }
    if let Some(h) = &e.view_lacks {
        s += &format!(" without host {}", json(h));
    }
    s
}

/// The `expect` entries checked over the observations the world recorded.
pub fn check_expectations(expect: &[Expect], world: &World) -> Vec<ExpectOutcome> {
    let mut checker = ExpectChecker::new(expect, &world.fault_times);
    for r in &world.engine.records {
        checker.observe(r, &world.names);
    }
    checker.outcomes(world)
}

/// The `converge` check as outcomes: one per failed clause and per pinned clause, or a single
/// passing one when everything holds and nothing is pinned.
fn convergence_outcomes(world: &World, pinned: &[String], index: usize) -> Vec<ExpectOutcome> {
    let problems = convergence_problems(world);
    if problems.is_empty() && pinned.is_empty() {
        let message = format!("converged: {}", CONVERGENCE_CLAUSES.join(", "));
        return vec![ExpectOutcome { index, ok: true, message }];
    }
    let mut out: Vec<ExpectOutcome> = problems
        .iter()
        .map(|p| {
            let known = pinned.iter().any(|c| c == p.clause);
            let message =
                if known { format!("known non-convergence, as pinned: {p}") } else { format!("not converged, {p}") };
            ExpectOutcome { index, ok: known, message }
        })
        .collect();
    for clause in pinned {
        if !problems.iter().any(|p| p.clause == clause) {
            let message = format!("expected {clause} to fail (converge.expect_fail), but it holds");
            out.push(ExpectOutcome { index, ok: false, message });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kind: &str) -> Vec<&'static str> {
        kinds()[kind].keys().map(String::as_str).collect()
    }

    #[test]
    fn the_fields_of_each_kind_come_from_the_trace_types() {
        assert_eq!(fields("instance_unhealthy"), ["ip", "last_beat_ms", "port", "service"]);
        assert_eq!(fields("snapshot_load_started"), Vec::<&str>::new());
        assert_eq!(kinds()["push_sent"]["attempt"], FieldType::Integer);
        assert_eq!(kinds()["subscriber_view_changed"]["hosts"], FieldType::Array);
        assert_eq!(kinds()["request_answered"]["hosts"], FieldType::Array);
        assert_eq!(kinds()["request_answered"]["cache_millis"], FieldType::Integer);
        assert!(observation_kinds().any(|k| k == "member_state_changed"));
        let host: Vec<&str> = host_fields().keys().map(String::as_str).collect();
        assert_eq!(host, ["enabled", "healthy", "ip", "metadata", "port", "weight"]);
        assert_eq!(host_fields()["metadata"], FieldType::Object);
    }

    #[test]
    fn comparisons_hold_on_numbers_and_strings() {
        let spec: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"attempt": {"ge": 2, "lt": 4}, "client": {"contains": "10.1"}}"#).unwrap();
        let c = compile("where", &spec, &kinds()["push_sent"], "push_sent").unwrap();
        let obs = |attempt: u32| serde_json::json!({"attempt": attempt, "client": "10.1.0.2:54321", "service": "a", "bytes": 1, "gzipped": false});
        assert!(!all_hold(&c, &obs(1)));
        assert!(all_hold(&c, &obs(2)) && all_hold(&c, &obs(3)));
        assert!(!all_hold(&c, &obs(4)));
        let eq: BTreeMap<String, Value> = serde_json::from_str(r#"{"attempt": 2.0}"#).unwrap();
        assert!(all_hold(&compile("where", &eq, &kinds()["push_sent"], "x").unwrap(), &obs(2)));
    }
}
