//! `nacos-sim sweep`: one scenario over many seeds, its `expect` entries and `measure` times
//! summarized as distributions with confidence intervals; `merge` joins sharded sweeps.
//!
//! A sweep (or each shard of one) writes its per-seed rows to `rows-shard-K-of-N.jsonl`; every
//! other output is computed from the rows alone ([`write_outputs`]), sorted by seed, so merging
//! the shards of a campaign gives byte for byte what one unsharded run gives.

use crate::report::stats::{self, Summary};
use crate::report::svg::{Plot, Series};
use crate::scenario::expect::{describe_match, Expect, ExpectChecker};
use crate::scenario::measure::MeasureChecker;
use crate::scenario::{world, Scenario};
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::Path;

/// What a sweep runs.
pub struct Sweep<'a> {
    pub scenario: &'a Scenario,
    pub first_seed: u64,
    pub seeds: u64,
    /// `(k, n)`: only the seeds whose index is k modulo n.
    pub shard: (u64, u64),
    pub jobs: usize,
    pub progress: bool,
}

/// The first line of a rows file: what the rows are of, so `merge` joins only shards of one
/// campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub scenario: serde_json::Value,
    pub first_seed: u64,
    pub seeds: u64,
    pub shard: (u64, u64),
}

/// One seed's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub seed: u64,
    /// Every `expect` entry, the convergence check and the pinned anomalies held.
    pub ok: bool,
    pub hash: String,
    /// Per `expect` entry: whether it held, and seconds from its reference to its first match.
    pub expect: Vec<(bool, Option<f64>)>,
    /// The convergence check's verdict, if the scenario asks for one.
    pub converge: Option<bool>,
    /// Whether the anomalies found were exactly `expect_anomalies`, if given.
    pub anomalies: Option<bool>,
    /// Per `measure` entry, in seconds.
    pub measure: Vec<Option<f64>>,
}

fn seconds(d: crate::time::Dur) -> f64 {
    d.0 as f64 / 1e9
}

/// Runs one seed.
pub fn run_seed(sc: &Scenario, seed: u64) -> Row {
    let mut w = world::build(sc, seed);
    let end = w.duration;
    let mut checker = ExpectChecker::new(&sc.expect, &w.fault_times);
    let mut measures = MeasureChecker::new(&sc.measure, &w.fault_times);
    world::run_streaming(&mut w, end, |r, names| {
        checker.observe(r, names);
        measures.observe(r, names);
    });
    let outcomes = checker.outcomes(&w);
    let k = sc.expect.len();
    let held = |index: usize| outcomes.iter().filter(|o| o.index == index).all(|o| o.ok);
    let times = checker.times();
    let converge = w.converge.is_some().then(|| held(k));
    let anomalies = w.expect_anomalies.is_some().then(|| held(k + usize::from(converge.is_some())));
    Row {
        seed,
        ok: outcomes.iter().all(|o| o.ok),
        hash: format!("{:016x}", w.engine.trace_hash()),
        expect: (0..k).map(|i| (held(i), times[i].map(seconds))).collect(),
        converge,
        anomalies,
        measure: measures.values(end).into_iter().map(|v| v.map(seconds)).collect(),
    }
}

/// The sweep's rows, in seed order.
pub fn run(s: &Sweep) -> (Header, Vec<Row>) {
    let (k, n) = s.shard;
    let seeds: Vec<u64> = (0..s.seeds).filter(|i| i % n == k).map(|i| s.first_seed + i).collect();
    let rows = crate::parallel::map_ordered(
        &seeds,
        s.jobs,
        s.progress.then_some("seeds"),
        |&seed| run_seed(s.scenario, seed),
        |r: &Row| !r.ok,
    );
    let header = Header {
        scenario: serde_json::to_value(s.scenario).expect("scenarios serialize"),
        first_seed: s.first_seed,
        seeds: s.seeds,
        shard: s.shard,
    };
    (header, rows)
}

/// The rows file's name for a shard.
pub fn rows_file(shard: (u64, u64)) -> String {
    format!("rows-shard-{}-of-{}.jsonl", shard.0, shard.1)
}

/// The rows file's text: the header, then a row per line.
pub fn rows_text(header: &Header, rows: &[Row]) -> String {
    let mut out = serde_json::to_string(header).expect("header serializes") + "\n";
    for r in rows {
        out += &serde_json::to_string(r).expect("rows serialize");
        out.push('\n');
    }
    out
}

/// Reads every `rows-shard-*.jsonl` under `dirs` and joins them into one campaign: the same
/// scenario and seeds, every shard of it exactly once.
pub fn read_shards(dirs: &[String]) -> Result<(Header, Vec<Row>), String> {
    let mut parts: Vec<(Header, Vec<Row>, String)> = Vec::new();
    for path in shard_files(dirs)? {
        {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            let mut lines = text.lines().enumerate();
            let (_, first) = lines.next().ok_or_else(|| format!("{path}: empty"))?;
            let header: Header =
                serde_json::from_str(first).map_err(|e| format!("{path}:1: not a sweep header: {e}"))?;
            let rows = lines
                .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{path}:{}: not a sweep row: {e}", i + 1)))
                .collect::<Result<Vec<Row>, String>>()?;
            parts.push((header, rows, path));
        }
    }
    let Some((first, ..)) = parts.first() else { unreachable!("shard_files found at least one") };
    let n = first.shard.1;
    let mut seen = vec![None::<String>; n as usize];
    for (h, _, path) in &parts {
        let same = h.scenario == first.scenario && h.first_seed == first.first_seed && h.seeds == first.seeds;
        if !same || h.shard.1 != n {
            return Err(format!(
                "{path}: another campaign than {} (scenario, seeds or shard count differ)",
                parts[0].2
            ));
        }
        if let Some(other) = seen[h.shard.0 as usize].replace(path.clone()) {
            return Err(format!("{path}: shard {}/{n} given twice (also {other})", h.shard.0));
        }
    }
    if let Some(k) = seen.iter().position(Option::is_none) {
        return Err(format!("shard {k}/{n} is missing"));
    }
    let header = Header { shard: (0, 1), ..first.clone() };
    let mut rows: Vec<Row> = parts.into_iter().flat_map(|(_, r, _)| r).collect();
    rows.sort_by_key(|r| r.seed);
    Ok((header, rows))
}

/// Every `rows-shard-*.jsonl` under `dirs`, each directory's in name order; at least one.
pub fn shard_files(dirs: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("rows-shard-") && n.ends_with(".jsonl"))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
    }
    if out.is_empty() {
        return Err(format!("no rows-shard-*.jsonl in {}", dirs.join(", ")));
    }
    Ok(out)
}

/// Whether a rows file is an expiry report's (its header names the report's options) rather
/// than a sweep's.
pub fn is_expiry_rows(path: &str) -> bool {
    let first = std::fs::read_to_string(path).ok().and_then(|t| t.lines().next().map(str::to_string));
    first.and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok()).is_some_and(|v| v.get("expiry").is_some())
}

/// A share of the runs with its 95 % Wilson score interval.
#[derive(Serialize)]
struct Rate {
    count: u64,
    rate: f64,
    rate_ci95: (f64, f64),
}

fn rate(count: u64, n: u64) -> Rate {
    if n == 0 {
        return Rate { count, rate: 0.0, rate_ci95: (0.0, 1.0) };
    }
    let (p, n, z) = (count as f64 / n as f64, n as f64, 1.959_964f64);
    let d = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / d;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    // Exactly 0 and 1 at the ends (the formula gives them only up to rounding).
    let lo = if count == 0 { 0.0 } else { centre - half };
    let hi = if count as f64 == n { 1.0 } else { centre + half };
    Rate { count, rate: p, rate_ci95: (lo, hi) }
}

/// A distribution of times with intervals for its mean and percentiles.
#[derive(Serialize)]
struct Times {
    reached: u64,
    never_reached: u64,
    s: Option<Summary>,
    /// 95 % intervals: the mean's (normal), the percentiles' (order statistics, distribution
    /// free); the extremes have none.
    ci95: Option<Intervals>,
}

#[derive(Serialize)]
struct Intervals {
    mean: (f64, f64),
    p50: (f64, f64),
    p90: (f64, f64),
    p99: (f64, f64),
}

/// The 95 % interval of the `q` quantile from a sorted sample: the order statistics at ranks
/// `nq ∓ 1.96 √(nq(1−q))`.
fn quantile_ci(v: &[f64], q: f64) -> (f64, f64) {
    let n = v.len() as f64;
    let half = 1.959_964 * (n * q * (1.0 - q)).sqrt();
    let lo = ((n * q - half).floor() as usize).clamp(1, v.len());
    let hi = ((n * q + half).ceil() as usize + 1).clamp(1, v.len());
    (v[lo - 1], v[hi - 1])
}

fn times(values: impl Iterator<Item = Option<f64>>) -> (Times, Vec<f64>) {
    let all: Vec<Option<f64>> = values.collect();
    let mut v: Vec<f64> = all.iter().flatten().copied().collect();
    v.sort_by(f64::total_cmp);
    let ci95 = (!v.is_empty()).then(|| Intervals {
        mean: stats::mean_ci95(&v),
        p50: quantile_ci(&v, 0.5),
        p90: quantile_ci(&v, 0.9),
        p99: quantile_ci(&v, 0.99),
    });
    let t =
        Times { reached: v.len() as u64, never_reached: (all.len() - v.len()) as u64, s: stats::summarize(&v), ci95 };
    (t, v)
}

#[derive(Serialize)]
struct ExpectSummary {
    index: usize,
    what: String,
    passed: Rate,
    /// From the entry's reference to its first matching observation.
    time_s: Times,
}

#[derive(Serialize)]
struct MeasureSummary {
    name: String,
    time_s: Times,
}

#[derive(Serialize)]
struct SummaryFile {
    scenario: String,
    first_seed: u64,
    seeds: u64,
    all_passed: Rate,
    expect: Vec<ExpectSummary>,
    converge: Option<Rate>,
    anomalies: Option<Rate>,
    measure: Vec<MeasureSummary>,
    failing_seeds: Vec<u64>,
}

/// An `expect` entry in words, the same for every seed (its window as written, not resolved).
fn describe(e: &Expect) -> String {
    let mut s = describe_match(e);
    if let Some((a, b)) = e.within {
        s += &format!(" in ({a}, {b}]");
    }
    if let Some(k) = e.after_fault {
        s += &format!(" after fault {k}");
    }
    if let Some(a) = &e.after {
        s += &format!(" after {}", a.observation);
    }
    if e.first {
        s = format!("first {s}");
    }
    if e.never {
        s = format!("never {s}");
    }
    if let Some((lo, hi)) = e.count {
        s += &format!(" {lo} to {hi} times");
    }
    s
}

/// Writes `runs.csv`, `summary.json`, `report.md`, `report.html` and `scenario.json` into
/// `dir` from the rows alone. Returns the failing seeds.
pub fn write_outputs(dir: &Path, header: &Header, rows: &[Row]) -> std::io::Result<Vec<u64>> {
    let sc: Scenario = serde_json::from_value(header.scenario.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the header's scenario: {e}")))?;
    let n = rows.len() as u64;
    let failing: Vec<u64> = rows.iter().filter(|r| !r.ok).map(|r| r.seed).collect();
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    // runs.csv
    let mut csv = String::from("seed,ok,hash");
    for i in 0..sc.expect.len() {
        let _ = write!(csv, ",expect{i}_ok,expect{i}_s");
    }
    if sc.converge.expected_failures().is_some() {
        csv += ",converge_ok";
    }
    if sc.expect_anomalies.is_some() {
        csv += ",anomalies_ok";
    }
    for m in &sc.measure {
        let _ = write!(csv, ",{}_s", m.name);
    }
    csv.push('\n');
    for r in rows {
        let _ = write!(csv, "{},{},{}", r.seed, r.ok, r.hash);
        for (ok, t) in &r.expect {
            let _ = write!(csv, ",{ok},{}", opt(*t));
        }
        for b in [r.converge, r.anomalies].into_iter().flatten() {
            let _ = write!(csv, ",{b}");
        }
        for v in &r.measure {
            let _ = write!(csv, ",{}", opt(*v));
        }
        csv.push('\n');
    }
    // summary.json
    let mut samples: Vec<(String, Vec<f64>)> = Vec::new();
    let expect = sc
        .expect
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (t, v) = times(rows.iter().map(|r| r.expect[i].1));
            samples.push((format!("expect[{i}]: {}", describe(e)), v));
            let passed = rows.iter().filter(|r| r.expect[i].0).count() as u64;
            ExpectSummary { index: i, what: describe(e), passed: rate(passed, n), time_s: t }
        })
        .collect();
    let measure = sc
        .measure
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (t, v) = times(rows.iter().map(|r| r.measure[i]));
            samples.push((m.name.clone(), v));
            MeasureSummary { name: m.name.clone(), time_s: t }
        })
        .collect();
    let share = |f: &dyn Fn(&Row) -> Option<bool>| {
        rows.first().and_then(f).map(|_| rate(rows.iter().filter(|r| f(r) == Some(true)).count() as u64, n))
    };
    let summary = SummaryFile {
        scenario: sc.name.clone(),
        first_seed: header.first_seed,
        seeds: header.seeds,
        all_passed: rate(n - failing.len() as u64, n),
        expect,
        converge: share(&|r| r.converge),
        anomalies: share(&|r| r.anomalies),
        measure,
        failing_seeds: failing.clone(),
    };
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes") + "\n";
    let md = markdown(&summary);
    let html = html(&summary, &md, &samples);
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("runs.csv"), csv)?;
    std::fs::write(dir.join("summary.json"), json)?;
    std::fs::write(dir.join("report.md"), md)?;
    std::fs::write(dir.join("report.html"), html)?;
    let scenario = serde_json::to_string_pretty(&header.scenario).expect("scenario serializes") + "\n";
    std::fs::write(dir.join("scenario.json"), scenario)?;
    Ok(failing)
}

fn fmt_rate(r: &Rate) -> String {
    format!(
        "{} ({:.1} %, 95 % CI {:.1}–{:.1} %)",
        r.count,
        100.0 * r.rate,
        100.0 * r.rate_ci95.0,
        100.0 * r.rate_ci95.1
    )
}

fn times_rows(md: &mut String, what: &str, t: &Times) {
    match (&t.s, &t.ci95) {
        (Some(s), Some(c)) => {
            let _ = writeln!(
                md,
                "| {what} | {} | {} | {:.3} | {:.3} [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] | {:.3} |",
                t.reached, t.never_reached, s.min, s.p50, c.p50.0, c.p50.1, s.mean, c.mean.0, c.mean.1, s.p90, c.p90.0,
                c.p90.1, s.p99, c.p99.0, c.p99.1, s.max
            );
        }
        _ => {
            let _ = writeln!(md, "| {what} | 0 | {} | | | | | | |", t.never_reached);
        }
    }
}

fn markdown(s: &SummaryFile) -> String {
    let mut md = format!("# Sweep of `{}`\n\n", s.scenario);
    let last = s.first_seed + s.seeds.saturating_sub(1);
    let _ = writeln!(
        md,
        "{} seeds ({} to {last}). All expectations held in {}.\n",
        s.seeds,
        s.first_seed,
        fmt_rate(&s.all_passed)
    );
    if !s.expect.is_empty() || s.converge.is_some() || s.anomalies.is_some() {
        md += "## Expectations\n\n| entry | held in |\n|---|---|\n";
        for e in &s.expect {
            let _ = writeln!(md, "| `expect[{}]` {} | {} |", e.index, e.what.replace('|', "\\|"), fmt_rate(&e.passed));
        }
        if let Some(c) = &s.converge {
            let _ = writeln!(md, "| convergence check | {} |", fmt_rate(c));
        }
        if let Some(a) = &s.anomalies {
            let _ = writeln!(md, "| `expect_anomalies` | {} |", fmt_rate(a));
        }
        md.push('\n');
    }
    md += "## Times (seconds; 95 % intervals in brackets)\n\n";
    md += "| time | seeds | never reached | min | p50 | mean | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for m in &s.measure {
        times_rows(&mut md, &format!("`{}`", m.name), &m.time_s);
    }
    for e in &s.expect {
        times_rows(&mut md, &format!("`expect[{}]`: to its first match", e.index), &e.time_s);
    }
    md.push('\n');
    if s.failing_seeds.is_empty() {
        md += "No seed failed.\n";
    } else {
        let shown: Vec<String> = s.failing_seeds.iter().take(20).map(u64::to_string).collect();
        let more = s.failing_seeds.len().saturating_sub(20);
        let _ = writeln!(
            md,
            "Failing seeds: {}{}. Replay one with `nacos-sim run scenario.json --seed SEED` in this directory.",
            shown.join(", "),
            if more > 0 { format!(" and {more} more (all in summary.json)") } else { String::new() }
        );
    }
    md
}

fn html(s: &SummaryFile, md: &str, samples: &[(String, Vec<f64>)]) -> String {
    let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sweep of {}</title>\
         <style>body{{font:14px system-ui,sans-serif;max-width:1100px;margin:20px auto;padding:0 10px}}\
         pre{{white-space:pre-wrap;background:#f6f6f6;padding:8px}}</style></head><body>\n<pre>{}</pre>\n",
        esc(&s.scenario),
        esc(md)
    );
    for (name, v) in samples.iter().filter(|(_, v)| !v.is_empty()) {
        let cdf = Plot {
            title: format!("{name}: CDF over {} seeds", v.len()),
            x_label: "seconds".into(),
            y_label: "fraction of seeds".into(),
            series: vec![Series {
                label: name.clone(),
                points: stats::ecdf(v),
                step: true,
                dashed: false,
                bars: vec![],
            }],
            log_y: false,
        };
        let hist = Plot {
            title: format!("{name}: histogram"),
            x_label: "seconds".into(),
            y_label: "seeds".into(),
            series: vec![Series { label: name.clone(), points: histogram(v), step: true, dashed: false, bars: vec![] }],
            log_y: false,
        };
        page += &cdf.render();
        page += &hist.render();
        page.push('\n');
    }
    page + "</body></html>\n"
}

/// A staircase outline of 30 equal bins over the sample's range.
fn histogram(v: &[f64]) -> Vec<(f64, f64)> {
    let (lo, hi) = (v[0], v[v.len() - 1]);
    let bins = 30;
    let width = ((hi - lo) / bins as f64).max(1e-9);
    let mut counts = vec![0u64; bins];
    for x in v {
        counts[(((x - lo) / width) as usize).min(bins - 1)] += 1;
    }
    let mut points = vec![(lo, 0.0)];
    for (i, c) in counts.iter().enumerate() {
        points.push((lo + i as f64 * width, *c as f64));
    }
    points.push((lo + bins as f64 * width, 0.0));
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_intervals_match_known_values() {
        // 8 of 10: the Wilson interval is [0.490, 0.943].
        let r = rate(8, 10);
        assert!((r.rate_ci95.0 - 0.4902).abs() < 1e-3 && (r.rate_ci95.1 - 0.9433).abs() < 1e-3, "{:?}", r.rate_ci95);
        assert_eq!(rate(0, 10).rate_ci95.0, 0.0);
        assert_eq!(rate(10, 10).rate_ci95.1, 1.0);
    }

    #[test]
    fn quantile_intervals_are_order_statistics_around_the_quantile() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        // n q = 50, half-width 1.96 * 5 = 9.8: ranks 40 and 61.
        assert_eq!(quantile_ci(&v, 0.5), (40.0, 61.0));
        assert_eq!(quantile_ci(&v[..3], 0.99), (2.0, 3.0));
    }
}
