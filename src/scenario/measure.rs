//! `measure` entries: named times a run reports and a sweep summarizes over seeds, such as
//! "from the partition to the first view that lacks the instance" or "how long the consumer's
//! view stays empty". Checked as observations stream past, like `expect`, with the same
//! matching language (and the same load-time checks of every key).

use super::expect::{check_kind, Anchor, Matcher};
use super::Invalid;
use crate::engine::Record;
use crate::naming::wire::Observation;
use crate::time::{Dur, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A named time, measured from fault `after_fault`, from the first observation matching
/// `after`, or from 0: until the first observation matching `to`, or the `total` time spent
/// between observations matching `total.from` and the next matching `total.to`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// Letters, digits, `_` and `-`: a column of the sweep's `runs.csv`.
    pub name: String,
    #[serde(default)]
    pub after_fault: Option<usize>,
    /// Measure from the first observation matching this; only later observations count. A
    /// run where it never comes has no value.
    #[serde(default)]
    pub after: Option<Anchor>,
    /// The time from the reference to the first observation matching this (no value if none).
    #[serde(default)]
    pub to: Option<Pattern>,
    /// The time, after the reference, from each observation matching `from` to the next one
    /// matching `to` (or to the end of the run), added up; 0 if `from` never matched.
    #[serde(default)]
    pub total: Option<Span>,
}

/// An observation to look for, as in an `expect` entry.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub observation: String,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default, rename = "where")]
    pub where_: BTreeMap<String, Value>,
    #[serde(default)]
    pub view_has: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub view_lacks: Option<BTreeMap<String, Value>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub from: Pattern,
    pub to: Pattern,
}

impl Pattern {
    fn matcher(&self) -> Result<Matcher, Invalid> {
        Matcher::new(&self.observation, &self.node, &self.where_, &self.view_has, &self.view_lacks)
    }
}

fn validate_pattern(p: &str, pat: &Pattern, nodes: &BTreeSet<&str>) -> Result<(), Invalid> {
    if let Some(n) = pat.node.as_deref().filter(|n| !nodes.contains(n)) {
        return Err((format!("{p}.node"), format!("unknown node \"{n}\"")));
    }
    check_kind(&format!("{p}.observation"), &pat.observation)?;
    pat.matcher().map(|_| ()).map_err(|(path, m)| (format!("{p}.{path}"), m))
}

/// The checks of every entry that need the rest of the scenario: names, node ids, the fault
/// count, and every key against its observation kind's fields.
pub(super) fn validate(measures: &[Measure], nodes: &BTreeSet<&str>, faults: usize) -> Result<(), Invalid> {
    let mut names = BTreeSet::new();
    for (i, m) in measures.iter().enumerate() {
        let p = format!("measure[{i}]");
        let name_ok = !m.name.is_empty() && m.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err((format!("{p}.name"), format!("expected letters, digits, `_` or `-`, found {:?}", m.name)));
        }
        if !names.insert(m.name.as_str()) {
            return Err((format!("{p}.name"), format!("another measure is named {:?}", m.name)));
        }
        match (&m.to, &m.total) {
            (Some(to), None) => validate_pattern(&format!("{p}.to"), to, nodes)?,
            (None, Some(t)) => {
                validate_pattern(&format!("{p}.total.from"), &t.from, nodes)?;
                validate_pattern(&format!("{p}.total.to"), &t.to, nodes)?;
            }
            _ => return Err((p, "expected exactly one of `to` and `total`".into())),
        }
        if let Some(a) = &m.after {
            let ap = format!("{p}.after");
            if m.after_fault.is_some() {
                return Err((ap, "`after` and `after_fault` exclude each other".into()));
            }
            let pat = Pattern {
                observation: a.observation.clone(),
                node: a.node.clone(),
                where_: a.where_.clone(),
                view_has: None,
                view_lacks: None,
            };
            validate_pattern(&ap, &pat, nodes)?;
        }
        if let Some(k) = m.after_fault.filter(|&k| k >= faults) {
            return Err((format!("{p}.after_fault"), format!("there is no fault number {k}")));
        }
    }
    Ok(())
}

/// The `measure` entries of one run, fed its observations in order.
pub struct MeasureChecker {
    state: Vec<State>,
}

struct State {
    anchor: Option<Matcher>,
    reference: Option<Time>,
    what: What,
}

enum What {
    First { to: Matcher, at: Option<Time> },
    Total { from: Matcher, to: Matcher, open: Option<Time>, sum: Dur },
}

impl MeasureChecker {
    /// `measures` have passed [`validate`]; `fault_times` as the world drew them.
    pub fn new(measures: &[Measure], fault_times: &[Time]) -> MeasureChecker {
        let state = measures
            .iter()
            .map(|m| {
                let what = match (&m.to, &m.total) {
                    (Some(to), _) => What::First { to: to.matcher().expect("validated"), at: None },
                    (None, Some(t)) => What::Total {
                        from: t.from.matcher().expect("validated"),
                        to: t.to.matcher().expect("validated"),
                        open: None,
                        sum: Dur::ZERO,
                    },
                    (None, None) => unreachable!("validated: one of `to` and `total`"),
                };
                let anchor = m
                    .after
                    .as_ref()
                    .map(|a| Matcher::new(&a.observation, &a.node, &a.where_, &None, &None).expect("validated"));
                let reference = match (&anchor, m.after_fault) {
                    (Some(_), _) => None,
                    (None, Some(k)) => Some(fault_times[k]),
                    (None, None) => Some(Time::ZERO),
                };
                State { anchor, reference, what }
            })
            .collect();
        MeasureChecker { state }
    }

    pub fn observe(&mut self, r: &Record<Observation>, names: &[String]) {
        for st in &mut self.state {
            let Some(reference) = st.reference else {
                if st.anchor.as_ref().is_some_and(|a| a.matches(r, names)) {
                    st.reference = Some(r.at);
                }
                continue; // the anchor itself never counts
            };
            if r.at < reference {
                continue;
            }
            match &mut st.what {
                What::First { to, at } => {
                    if at.is_none() && to.matches(r, names) {
                        *at = Some(r.at);
                    }
                }
                What::Total { from, to, open, sum } => match *open {
                    Some(since) if to.matches(r, names) => {
                        *sum = *sum + (r.at - since);
                        *open = None;
                    }
                    None if from.matches(r, names) => *open = Some(r.at),
                    _ => {}
                },
            }
        }
    }

    /// Each measure's value for a run that ended at `end`: `None` when its reference or its
    /// `to` never came.
    pub fn values(&self, end: Time) -> Vec<Option<Dur>> {
        self.state
            .iter()
            .map(|st| {
                let reference = st.reference?;
                match &st.what {
                    What::First { at, .. } => Some(at.as_ref().copied()? - reference),
                    What::Total { open, sum, .. } => Some(*sum + open.map_or(Dur::ZERO, |since| end - since)),
                }
            })
            .collect()
    }
}
