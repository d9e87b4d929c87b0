//! The `nacos-sim` command line.

use clap::{Parser, Subcommand};
use nacos_sim::scenario::{self, world};
use nacos_sim::time::{parse_dur, Dur, Time};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "nacos-sim",
    version,
    about = "Deterministic simulator of the Nacos 1.x naming subsystem",
    long_about = "Deterministic discrete-event simulator of the Nacos 1.x naming subsystem: registry, \
client heartbeats, heartbeat expiry, UDP push and subscription, driven by a virtual clock.\n\n\
Same scenario file + same seed = same trace hash, on any machine."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario and print a summary; exit 0 if every `expect` holds, 1 if one fails, 2 on
    /// invalid input.
    Run {
        /// Scenario file (JSON).
        file: String,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Stop at this simulated time instead of the scenario's duration (e.g. "90s").
        #[arg(long, value_parser = dur_arg)]
        until: Option<Dur>,
        /// Write every observation as JSON Lines to this file.
        #[arg(long)]
        trace: Option<String>,
    },
    /// Run a scenario and compare its trace hash; exit 1 with the first divergence if it differs.
    Replay {
        file: String,
        #[arg(long)]
        seed: Option<u64>,
        /// The expected trace hash (as printed by `run`, hex).
        #[arg(long)]
        expect_hash: String,
        /// The original run's `--trace` file: on a mismatch, print the first diverging
        /// observation with the lines before it.
        #[arg(long)]
        against: Option<String>,
    },
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Monte Carlo reports over many seeds.
    Report {
        #[command(subcommand)]
        kind: ReportKind,
    },
}

#[derive(Subcommand)]
enum ReportKind {
    /// The 15 s / 30 s expiry behaviour: crash detection, false expiry under loss, sensitivity,
    /// theory beside simulation. Writes report.md, runs.csv, summary.json, SVG plots and the
    /// scenario files used.
    Expiry {
        /// Runs per crash-detection experiment.
        #[arg(long, default_value_t = 2000)]
        runs: usize,
        /// Loss probabilities per HTTP exchange, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "0,0.01,0.05,0.1,0.2,0.3,0.5")]
        loss: Vec<f64>,
        /// Simulated instance-hours per loss probability.
        #[arg(long, default_value_t = 4000.0)]
        loss_hours: f64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long, default_value = "reports/expiry")]
        out: String,
        /// First seed; run r uses seed + r.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn report_expiry(
    runs: usize,
    loss: Vec<f64>,
    loss_hours: f64,
    jobs: Option<usize>,
    out: String,
    seed: u64,
    quiet: bool,
) -> ExitCode {
    if let Some(p) = loss.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        eprintln!("error: --loss: {p} is not a probability in [0, 1]");
        return ExitCode::from(2);
    }
    if runs == 0 || loss_hours <= 0.0 || !loss_hours.is_finite() {
        eprintln!("error: --runs and --loss-hours must be positive");
        return ExitCode::from(2);
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let opts = nacos_sim::report::expiry::Options {
        runs,
        loss,
        loss_instance_hours: loss_hours,
        jobs,
        out: out.into(),
        seed,
        progress: !quiet,
    };
    let started = std::time::Instant::now();
    match nacos_sim::report::expiry::run(&opts) {
        Ok(o) => {
            println!(
                "{} runs on {jobs} threads in {:.1} s; wrote {}/report.md, runs.csv, summary.json, *.svg, scenarios/",
                o.runs,
                started.elapsed().as_secs_f64(),
                o.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing the report to {}: {e}", opts.out.display());
            ExitCode::from(2)
        }
    }
}

fn dur_arg(s: &str) -> Result<Dur, String> {
    parse_dur(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { file, seed, until, trace } => run(&file, seed, until, trace.as_deref()),
        Cmd::Report { kind: ReportKind::Expiry { runs, loss, loss_hours, jobs, out, seed, quiet } } => {
            report_expiry(runs, loss, loss_hours, jobs, out, seed, quiet)
        }
        Cmd::Replay { file, seed, expect_hash, against } => replay(&file, seed, &expect_hash, against.as_deref()),
        Cmd::Check { files } => {
            let mut bad = false;
            for f in files {
                match scenario::load(&f) {
                    Ok(_) => println!("{f}: ok"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        bad = true;
                    }
                }
            }
            ExitCode::from(if bad { 2 } else { 0 })
        }
        Cmd::Schema => {
            println!("{}", scenario::json_schema());
            ExitCode::SUCCESS
        }
    }
}

fn load_or_exit(file: &str) -> Result<scenario::Scenario, ExitCode> {
    scenario::load(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn run(file: &str, seed: Option<u64>, until: Option<Dur>, trace: Option<&str>) -> ExitCode {
    let sc = match load_or_exit(file) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let seed = seed.unwrap_or(sc.seed);
    let wall = std::time::Instant::now(); // timing the tool itself, never read by the simulation
    let mut w = world::build(&sc, seed);
    let end = until.map(|d| Time(d.0)).unwrap_or(w.duration);
    w.engine.run_until(end);
    let elapsed = wall.elapsed().as_secs_f64();
    let s = &w.engine.stats;
    println!("scenario      {} (seed {seed})", sc.name);
    println!("simulated     {}", end);
    println!("events        {}", s.events);
    println!("udp           sent {} delivered {} lost {}", s.udp_sent, s.udp_delivered, s.udp_lost);
    println!("http          requests {} answered {} failed {}", s.http_requests, s.http_responses, s.http_failed);
    println!("observations  {}", s.observations);
    println!("wall time     {elapsed:.3}s ({:.0} events/s)", s.events as f64 / elapsed.max(1e-9));
    println!("trace hash    {:016x}", w.engine.trace_hash());
    if let Some(path) = trace {
        if let Err(e) = write_trace(path, &w) {
            eprintln!("error: cannot write trace {path}: {e}");
            return ExitCode::from(2);
        }
        println!("trace         {path} ({} lines)", w.engine.records.len());
    }
    let outcomes = world::check_expectations(&sc.expect, &w);
    let failed = outcomes.iter().filter(|o| !o.ok).count();
    for o in &outcomes {
        println!("expect[{}]     {} {}", o.index, if o.ok { "ok  " } else { "FAIL" }, o.message);
    }
    if failed > 0 {
        println!("{failed} of {} expectations failed", outcomes.len());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn write_trace(path: &str, w: &world::World) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in &w.engine.records {
        writeln!(f, "{}", world::trace_line(r, &w.names))?;
    }
    f.flush()
}

fn replay(file: &str, seed: Option<u64>, expect_hash: &str, against: Option<&str>) -> ExitCode {
    let sc = match load_or_exit(file) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let Ok(want) = u64::from_str_radix(expect_hash.trim_start_matches("0x"), 16) else {
        eprintln!("error: --expect-hash: expected a hex hash as printed by `run`, found \"{expect_hash}\"");
        return ExitCode::from(2);
    };
    let original = match against.map(std::fs::read_to_string).transpose() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: --against: cannot read the original trace: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(sc.seed);
    let mut w = world::build(&sc, seed);
    w.engine.run_until(w.duration);
    let got = w.engine.trace_hash();
    if got == want {
        println!("trace hash {got:016x} matches");
        return ExitCode::SUCCESS;
    }
    println!("trace hash {got:016x} differs from expected {want:016x}");
    let now: Vec<String> = w.engine.records.iter().map(|r| world::trace_line(r, &w.names)).collect();
    match original {
        Some(text) => {
            let before: Vec<&str> = text.lines().collect();
            let first =
                (0..before.len().max(now.len())).find(|&i| before.get(i).copied() != now.get(i).map(|s| s.as_str()));
            match first {
                Some(i) => {
                    println!("first divergence at observation {i}:");
                    for line in &now[i.saturating_sub(5)..i.min(now.len())] {
                        println!("    {line}");
                    }
                    println!("  - {}", before.get(i).copied().unwrap_or("(original trace ends here)"));
                    println!("  + {}", now.get(i).map(|s| s.as_str()).unwrap_or("(this run ends here)"));
                }
                None => println!("observations are identical: the difference is in message deliveries"),
            }
        }
        None => {
            println!("pass the original run's trace with --against PATH to see the first divergence; first observations now:");
            for line in now.iter().take(10) {
                println!("    {line}");
            }
        }
    }
    ExitCode::from(1)
}
