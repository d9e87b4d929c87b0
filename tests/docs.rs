//! The documentation tells the truth about the code: its links resolve, its examples pass
//! `check` (and the tour's holds), and every scenario field and observation kind the code has
//! is documented, so adding one without documenting it fails here.

use nacos_sim::scenario::{self, expect, world};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The first fenced block of `lang` after `heading` in `text`.
fn block_after<'a>(text: &'a str, heading: &str, lang: &str) -> &'a str {
    let section = &text[text.find(heading).unwrap_or_else(|| panic!("no {heading:?}"))..];
    let fence = format!("```{lang}\n");
    let start = section.find(&fence).expect("a block") + fence.len();
    &section[start..start + section[start..].find("```").expect("its end")]
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `[text](target)` links outside code blocks and spans, with their line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut in_code = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            if rest[..i].matches('`').count() % 2 == 0 {
                out.push((n + 1, after[..end].to_string()));
            }
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_link_between_pages_resolves() {
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for (line, target) in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() { page.clone() } else { dir.join(file) };
            let at = format!("{}:{line}: {target}", page.display());
            assert!(path.exists(), "{at}: no such file");
            if !anchor.is_empty() {
                let text = std::fs::read_to_string(&path).unwrap();
                let known = anchors(&text);
                assert!(known.contains(anchor), "{at}: no heading with anchor #{anchor}; there are {known:?}");
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} links found: is the link parser broken?");
}

/// The outline of every section passes `check`.
#[test]
fn the_scenario_reference_outline_passes_check() {
    let page = read("docs/scenarios.md");
    let outline = block_after(&page, "## Outline", "json");
    if let Err(e) = scenario::parse("docs/scenarios.md", outline) {
        panic!("{e}");
    }
}

/// The tour's own scenario runs and every expectation it shows holds.
#[test]
fn the_readme_tour_scenario_holds() {
    let readme = read("README.md");
    let json = block_after(&readme, "**3. Write your own.**", "json");
    let sc = scenario::parse("README.md", json).unwrap_or_else(|e| panic!("{e}"));
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    let outcomes = expect::check_expectations(&sc.expect, &w);
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.iter().all(|o| o.ok), "{outcomes:?}");
}

/// Every property name anywhere in a JSON Schema.
fn property_names(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::Object(props)) = m.get("properties") {
                out.extend(props.keys().cloned());
            }
            m.values().for_each(|x| property_names(x, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| property_names(x, out)),
        _ => {}
    }
}

#[test]
fn every_scenario_field_is_documented() {
    let schema = serde_json::to_value(schemars::schema_for!(scenario::Scenario)).unwrap();
    let mut fields = BTreeSet::new();
    property_names(&schema, &mut fields);
    assert!(fields.len() > 80, "{fields:?}");
    let docs = read("docs/scenarios.md") + &read("docs/network-and-faults.md");
    let missing: Vec<_> = fields.iter().filter(|f| !docs.contains(&format!("`{f}`"))).collect();
    assert!(missing.is_empty(), "fields not in docs/scenarios.md or docs/network-and-faults.md: {missing:?}");
}

#[test]
fn every_observation_kind_is_in_the_trace_reference() {
    let schema = serde_json::to_value(expect::observation_schema()).unwrap();
    let kinds: Vec<String> = schema["oneOf"]
        .as_array()
        .expect("one schema per kind")
        .iter()
        .map(|k| {
            let kind = &k["properties"]["kind"];
            kind["const"].as_str().or(kind["enum"][0].as_str()).expect("a kind name").to_string()
        })
        .collect();
    assert!(kinds.len() > 50, "{kinds:?}");
    let docs = read("docs/trace.md");
    let missing: Vec<_> = kinds.iter().filter(|k| !docs.contains(&format!("| `{k}` |"))).collect();
    assert!(missing.is_empty(), "kinds without a row in docs/trace.md: {missing:?}");
}

/// The docs speak of the project as it is: no diary of work periods or issue numbers.
#[test]
fn the_docs_carry_no_work_diary() {
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for word in ["(issue ", "session ", "work period", "previously", "used to "] {
                assert!(!lower.contains(word), "{}:{}: {word:?} in {line:?}", page.display(), n + 1);
            }
        }
    }
}
