//! A mutator of the committed scenarios, run against the parser and validator: every mutant is
//! either rejected with the JSON path of a field it has (or of a missing one), or it runs
//! without panic. 2000 mutants per `cargo test`; `NACOS_SIM_PARSER_FUZZ_CASES=N` runs more.
//! A valid mutant runs to its end, or for its first 10 simulated minutes when it asks for
//! more (a mutation may ask for ten years).

use nacos_sim::scenario::{self, world};
use nacos_sim::time::{Dur, Time};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn committed() -> Vec<(String, Value)> {
    let mut files: Vec<String> = ["scenarios", "scenarios/incidents"]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| (f.clone(), serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap()))
        .filter(|(_, v)| instances(v) <= 10_000)
        .collect()
}

/// How many instances a scenario registers in bulk: mutants of the 300k-instance files would
/// each run for many seconds without testing the parser any harder.
fn instances(v: &Value) -> u64 {
    let clients = v["clients"].as_array().map(|c| c.as_slice()).unwrap_or_default();
    let bulk = clients.iter().map(|c| &c["register_many"]);
    bulk.map(|m| m["services"].as_u64().unwrap_or(0) * m["per_service"].as_u64().unwrap_or(0)).sum()
}

/// A step into a JSON value.
#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every place in `v`: its steps and its JSON path the way errors spell it.
fn places(v: &Value, steps: Vec<Seg>, text: String, out: &mut Vec<(Vec<Seg>, String)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let mut s = steps.clone();
                s.push(Seg::Key(k.clone()));
                places(c, s, if text == "$" { k.clone() } else { format!("{text}.{k}") }, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let mut s = steps.clone();
                s.push(Seg::Index(i));
                places(c, s, format!("{text}[{i}]"), out);
            }
        }
        _ => {}
    }
    out.push((steps, text));
}

fn at<'a>(v: &'a mut Value, steps: &[Seg]) -> &'a mut Value {
    steps.iter().fold(v, |cur, s| match s {
        Seg::Key(k) => &mut cur[k.as_str()],
        Seg::Index(i) => &mut cur[*i],
    })
}

/// Whether an error path names a place of `v`, or a field missing from one of its objects.
fn names_a_field(v: &Value, path: &str) -> bool {
    let mut all = Vec::new();
    places(v, vec![], "$".into(), &mut all);
    all.iter().any(|(_, p)| {
        p == path
            || path.strip_prefix(p.as_str()).and_then(|r| r.strip_prefix('.')).is_some_and(|k| !k.contains(['.', '[']))
            || p == "$" && !path.contains(['.', '['])
    })
}

fn odd_value(rng: &mut ChaCha8Rng) -> Value {
    let choices = [
        json!(-1),
        json!(0),
        json!(3),
        json!(1.5),
        json!(1e300),
        json!(18446744073709551615u64),
        json!("87600h"),
        json!("87601h"),
        json!("-1s"),
        json!("0"),
        json!("NaN"),
        json!("s1"),
        json!(""),
        json!(true),
        Value::Null,
        json!([]),
        json!(["s1", "s1"]),
        json!({}),
        json!({"uniform": ["1s", "2s"]}),
        json!({"uniform": ["2s", "1s"]}),
    ];
    choices.choose(rng).unwrap().clone()
}

/// One mutation of `v`: a value replaced, a key removed or added, an array element repeated.
fn mutate(v: &mut Value, rng: &mut ChaCha8Rng) {
    let mut all = Vec::new();
    places(v, vec![], "$".into(), &mut all);
    let (steps, _) = all.choose(rng).unwrap().clone();
    let node = at(v, &steps);
    match rng.gen_range(0..4) {
        0 => *node = odd_value(rng),
        1 => match node {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(rng.gen_range(0..m.len())).unwrap().clone();
                m.remove(&k);
            }
            _ => *node = odd_value(rng),
        },
        2 => match node {
            Value::Object(m) => {
                m.insert("bogus".into(), odd_value(rng));
            }
            _ => *node = odd_value(rng),
        },
        _ => match node {
            Value::Array(a) if !a.is_empty() => {
                let e = a[rng.gen_range(0..a.len())].clone();
                a.push(e);
            }
            _ => *node = odd_value(rng),
        },
    }
}

#[test]
fn mutants_are_rejected_at_a_field_they_have_or_run_without_panic() {
    let cases: usize = std::env::var("NACOS_SIM_PARSER_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let originals = committed();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let (mut rejected, mut ran) = (0, 0);
    for case in 0..cases {
        let (file, original) = &originals[case % originals.len()];
        let mut v = original.clone();
        for _ in 0..rng.gen_range(1..=2) {
            mutate(&mut v, &mut rng);
        }
        let text = serde_json::to_string(&v).unwrap();
        match scenario::parse("mutant.json", &text) {
            Err(e) => {
                rejected += 1;
                assert!(
                    names_a_field(&v, &e.path),
                    "case {case} (from {file}): error at a path the file does not have: {e}\n{text}"
                );
                assert!(!e.message.is_empty());
            }
            Ok(sc) => {
                ran += 1;
                let mut w = world::build(&sc, sc.seed);
                let end = w.duration.min(Time::ZERO + Dur::from_secs(600));
                w.run_until(end);
                assert_eq!(w.engine.now(), end, "case {case} (from {file}) stopped early\n{text}");
            }
        }
    }
    assert!(rejected > cases / 4 && ran > cases / 20, "a useful mix: {rejected} rejected, {ran} ran");
}
