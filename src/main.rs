//! The `nacos-sim` command line.

use clap::{Parser, Subcommand};
use nacos_sim::scenario::{self, expect, world};
use nacos_sim::time::{parse_dur, Dur, Time};
use nacos_sim::timeline::Timeline;
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
enum IncidentsCmd {
    /// Run the files of the incidents named (all without a name).
    Run { names: Vec<String> },
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
        /// Write the run's timeline to this HTML file (self-contained: open it in any browser).
        #[arg(long)]
        timeline: Option<String>,
        /// Write the run in the Chrome trace-event format (open it in ui.perfetto.dev).
        #[arg(long)]
        perfetto: Option<String>,
        /// Draw only this service in the timeline (`name` or `GROUP@@name`); repeatable.
        #[arg(long = "timeline-service", value_name = "SERVICE")]
        timeline_services: Vec<String>,
        /// Check the naming invariants after every event; stop at the first violation (exit 1).
        #[arg(long)]
        check_invariants: bool,
        /// Change the scenario before running it: `PATH=VALUE`, e.g.
        /// `switches.server_version=1.4.2` (as for `diff --set-a`); repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
    },
    /// What each modelled range of Nacos server releases does differently, and the what-if
    /// fixes `switches.fixes` takes.
    Versions,
    /// The catalogue of real Nacos incidents: list them, or `incidents run [NAME]...` to run
    /// their scenario files and print which hold (exit 1 if one does not).
    Incidents {
        #[command(subcommand)]
        action: Option<IncidentsCmd>,
    },
    /// Serve real Nacos 1.x clients with the server cores: HTTP on 127.0.0.1:PORT, PORT+1, …
    /// (one per server) and UDP pushes, on the wall clock, with the scenario's faults between
    /// servers applied on schedule. Without FILE, one standalone server (or --servers N).
    Live {
        /// Scenario file: its servers, switches, network between servers, faults and
        /// operations (its clients are left out: the clients are real).
        file: Option<String>,
        #[arg(long, default_value_t = 8848)]
        port: u16,
        /// Without FILE: a cluster of this many servers.
        #[arg(long)]
        servers: Option<usize>,
        /// How long to serve (default: the scenario's duration; without FILE, 1h).
        #[arg(long, value_parser = dur_arg)]
        duration: Option<Dur>,
        /// Write every observation as JSON Lines to this file (`-`: standard output).
        #[arg(long)]
        trace: Option<String>,
        /// Record every input from the sockets, with its time, for `replay`.
        #[arg(long)]
        record: Option<String>,
    },
    /// Run a scenario and compare its trace hash; exit 1 with the first divergence if it differs.
    /// Given a live record (`live --record`), re-run the servers' side of that live run and
    /// compare with the hash it recorded.
    Replay {
        /// A scenario file, or a live record.
        file: String,
        #[arg(long)]
        seed: Option<u64>,
        /// The expected trace hash (as printed by `run`, hex); a live record carries its own.
        #[arg(long)]
        expect_hash: Option<String>,
        /// FILE is a live record (also recognised by its first line).
        #[arg(long)]
        live_record: bool,
        /// For a live record: write the replayed observations as JSON Lines here.
        #[arg(long)]
        trace: Option<String>,
        /// The original run's `--trace` file: on a mismatch, print the first diverging
        /// observation with the lines before it.
        #[arg(long)]
        against: Option<String>,
        /// Write the replayed run's timeline to this HTML file (as `run --timeline`).
        #[arg(long)]
        timeline: Option<String>,
    },
    /// Run two scenario files, or one file under two seeds, and print the first observation where
    /// their traces diverge with the lines before it; exit 0 if identical, 1 if not.
    Diff {
        a: String,
        /// The second scenario (default: A again, under --seed-b).
        b: Option<String>,
        #[arg(long)]
        seed_a: Option<u64>,
        #[arg(long)]
        seed_b: Option<u64>,
        /// Change A before running it: PATH=VALUE, e.g. `switches.distro_version=1.3` or
        /// `clients.*.version=1.4.2` (repeatable).
        #[arg(long)]
        set_a: Vec<String>,
        /// Change B before running it (repeatable).
        #[arg(long)]
        set_b: Vec<String>,
        /// Observations shown before the divergence.
        #[arg(long, default_value_t = 5)]
        context: usize,
        /// Write both runs' timelines, stacked, with the first divergence marked, to this HTML file.
        #[arg(long)]
        timeline: Option<String>,
    },
    /// Swarm fuzzing: each seed draws a whole scenario (1–5 servers, clients, services, random
    /// faults), heals, waits, and checks convergence; failing seeds are written as scenario files.
    Fuzz {
        /// How many seeds (from --first-seed).
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: Option<u64>,
        /// `K/N`: run only seeds whose index ≡ K (mod N), K from 0; for job arrays.
        #[arg(long, default_value = "0/1")]
        shard: String,
        /// Quiet seconds after the heal before the convergence check (at most 10 years).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=315_000_000))]
        quiet: u64,
        /// Fix the number of servers of every case (default: drawn, 1 to 5).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
        servers: Option<u64>,
        /// Only the fault classes under which Nacos 1.4.1 should converge (UDP loss, jitter,
        /// client crashes, client→server partitions of at most 3 s): every seed must pass.
        #[arg(long)]
        benign: bool,
        /// Servers boot up to 3 s apart (`servers[].boot_at`) instead of together. Off by
        /// default: about one seed in nine then shows the late-peer snapshot anomaly
        /// (`scenarios/anomaly-late-peer-stale-snapshot.json`), a Nacos behaviour, not a bug here.
        #[arg(long)]
        boot_offsets: bool,
        /// One registration in three is of a persistent instance (through the CP store, with
        /// health checks) instead of all ephemeral.
        #[arg(long)]
        persistent: bool,
        /// Nacos release of every case's servers (`switches.server_version`; e.g. 1.3.2 for the
        /// legacy Raft, as 1.4.x switches to JRaft) [default: 1.4.1]
        #[arg(long)]
        server_version: Option<String>,
        /// Output directory for results-shard-K-of-N.jsonl and failing scenarios.
        #[arg(long, default_value = "fuzz-out")]
        out: String,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Shrink each failing scenario and also write it as fuzz-SEED.min.json.
        #[arg(long)]
        shrink: bool,
    },
    /// Validate scenario files without running them.
    Check {
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the JSON Schema of scenario files.
    Schema {
        /// Print the schema of trace records instead: every observation kind and its fields,
        /// which is what `expect` blocks are checked against.
        #[arg(long)]
        observations: bool,
    },
    /// Run one scenario over many seeds and summarize its `expect` entries and `measure` times
    /// (pass rates, distributions, confidence intervals); exit 1 if a seed failed.
    Sweep {
        file: String,
        /// How many seeds (from --first-seed).
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: Option<u64>,
        /// `K/N`: run only seeds whose index ≡ K (mod N), K from 0, and write only the rows;
        /// `merge` joins the shards.
        #[arg(long, default_value = "0/1")]
        shard: String,
        /// Output directory [default: sweep-out/NAME, NAME the scenario's].
        #[arg(long)]
        out: Option<String>,
        /// Change the scenario before running it (as for `run`); repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
    },
    /// Join the rows of sharded sweeps (`sweep --shard K/N`) or expiry reports (`report expiry
    /// --shard K/N`), every shard once, into the outputs one unsharded run writes.
    Merge {
        /// Directories holding rows-shard-K-of-N.jsonl files.
        #[arg(required = true)]
        dirs: Vec<String>,
        #[arg(long)]
        out: String,
    },
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
        /// `K/N`: only every N-th run from the K-th (K from 0), writing only its rows;
        /// `merge` makes the report from every shard's.
        #[arg(long, default_value = "0/1")]
        shard: String,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn report_expiry(opts: nacos_sim::report::expiry::Options) -> ExitCode {
    if let Some(p) = opts.loss.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        eprintln!("error: --loss: {p} is not a probability in [0, 1]");
        return ExitCode::from(2);
    }
    if opts.runs == 0 || opts.loss_instance_hours <= 0.0 || !opts.loss_instance_hours.is_finite() {
        eprintln!("error: --runs and --loss-hours must be positive");
        return ExitCode::from(2);
    }
    let (jobs, (k, n)) = (opts.jobs, opts.shard);
    let started = std::time::Instant::now();
    match nacos_sim::report::expiry::run(&opts) {
        Ok(o) if n > 1 => {
            println!(
                "{} runs (shard {k}/{n}) on {jobs} threads in {:.1} s; wrote {}/rows-shard-{k}-of-{n}.jsonl (`merge` makes the report)",
                o.runs,
                started.elapsed().as_secs_f64(),
                o.out.display()
            );
            ExitCode::SUCCESS
        }
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

/// A command-line duration: as in scenario files, and not negative.
fn dur_arg(s: &str) -> Result<Dur, String> {
    let d = parse_dur(s)?;
    if d.is_negative() {
        return Err(format!("expected a non-negative duration, found \"{s}\""));
    }
    Ok(d)
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`nacos-sim … | head`) would panic;
    // restore the default action: the process ends quietly, like other Unix tools.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run { file, seed, until, trace, timeline, perfetto, timeline_services, check_invariants, sets } => {
            let outputs = RunOutputs {
                trace: trace.as_deref(),
                timeline: timeline.as_deref(),
                perfetto: perfetto.as_deref(),
                timeline_services,
            };
            run(&file, &sets, seed, until, &outputs, check_invariants)
        }
        Cmd::Report { kind: ReportKind::Expiry { runs, loss, loss_hours, jobs, out, seed, shard, quiet } } => {
            let (shard, jobs) = match campaign_args(&shard, 0, 0, jobs.map(|j| j as u64)) {
                Ok(x) => x,
                Err(code) => return code,
            };
            report_expiry(nacos_sim::report::expiry::Options {
                shard,
                runs,
                loss,
                loss_instance_hours: loss_hours,
                jobs,
                out: out.into(),
                seed,
                progress: !quiet,
            })
        }
        Cmd::Fuzz {
            seeds,
            first_seed,
            jobs,
            shard,
            quiet,
            servers,
            benign,
            boot_offsets,
            persistent,
            server_version,
            out,
            no_progress,
            shrink,
        } => {
            if let Some(Err(e)) = server_version.as_deref().map(nacos_sim::naming::versions::server_release) {
                eprintln!("error: --server-version: {e}");
                return ExitCode::from(2);
            }
            let (shard, jobs) = match campaign_args(&shard, first_seed, seeds, jobs) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let campaign = nacos_sim::fuzz::Campaign {
                first: first_seed,
                count: seeds,
                shard,
                jobs: jobs.max(1),
                quiet_s: quiet,
                servers: servers.map(|n| n as usize),
                benign,
                boot_offsets,
                persistent,
                server_version,
                determinism_every: 20,
                progress: !no_progress,
            };
            fuzz(&campaign, &out, shrink)
        }
        Cmd::Sweep { file, seeds, first_seed, jobs, shard, out, sets, no_progress } => {
            let (shard, jobs) = match campaign_args(&shard, first_seed, seeds, jobs) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let sc = match scenario::load_with(&file, &sets) {
                Ok(sc) => sc,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let out = out.unwrap_or_else(|| format!("sweep-out/{}", sc.name));
            let s = nacos_sim::sweep::Sweep { scenario: &sc, first_seed, seeds, shard, jobs, progress: !no_progress };
            sweep(&s, &out)
        }
        Cmd::Merge { dirs, out } => {
            let expiry = nacos_sim::sweep::shard_files(&dirs).is_ok_and(|f| nacos_sim::sweep::is_expiry_rows(&f[0]));
            if expiry {
                return match nacos_sim::report::expiry::merge(&dirs, std::path::Path::new(&out)) {
                    Ok(o) => {
                        println!(
                            "{} runs merged; wrote {out}/report.md, runs.csv, summary.json, *.svg, scenarios/",
                            o.runs
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: merge: {e}");
                        ExitCode::from(2)
                    }
                };
            }
            match nacos_sim::sweep::read_shards(&dirs) {
                Ok((header, rows)) => sweep_outputs(&header, &rows, &out),
                Err(e) => {
                    eprintln!("error: merge: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Diff { a, b, seed_a, seed_b, set_a, set_b, context, timeline } => {
            diff((&a, seed_a, &set_a), (b.as_deref().unwrap_or(&a), seed_b, &set_b), context, timeline.as_deref())
        }
        Cmd::Replay { file, live_record, trace, .. } if live_record || nacos_sim::live::is_record(&file) => {
            replay_live(&file, trace.as_deref())
        }
        Cmd::Replay { file, seed, expect_hash, against, timeline, .. } => {
            let Some(expect_hash) = expect_hash else {
                eprintln!("error: {file} is not a live record: --expect-hash is required");
                return ExitCode::from(2);
            };
            replay(&file, seed, &expect_hash, against.as_deref(), timeline.as_deref())
        }
        Cmd::Versions => {
            println!("{}\n", nacos_sim::naming::versions::table());
            println!("Any 1.x.y from 1.0.0 to 1.4.8 runs as its range (`switches.server_version`).");
            println!("What-if fixes (`switches.fixes`), in no 1.x release:");
            for (name, _) in nacos_sim::naming::versions::Fix::ALL {
                println!("  {name}");
            }
            ExitCode::SUCCESS
        }
        Cmd::Incidents { action: None } => {
            for i in nacos_sim::incidents::CATALOGUE {
                println!("{}  ({})\n    {}\n    source: {}", i.name, i.releases, i.story, i.source);
                for f in i.files {
                    println!("    {}  [{}]", f.path, f.shows);
                }
            }
            ExitCode::SUCCESS
        }
        Cmd::Incidents { action: Some(IncidentsCmd::Run { names }) } => incidents_run(&names),
        Cmd::Live { file, port, servers, duration, trace, record } => {
            let o = nacos_sim::live::Options { file, port, servers, duration, trace, record };
            match nacos_sim::live::run(&o) {
                Ok(s) => {
                    println!(
                        "ended     {} requests, {} datagrams in, {} pushes out",
                        s.requests, s.datagrams_in, s.datagrams_out
                    );
                    println!("trace hash    {:016x}", s.trace_hash);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
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
        Cmd::Schema { observations } => {
            let schema = if observations {
                serde_json::to_string_pretty(&expect::observation_schema()).expect("schema serializes")
            } else {
                scenario::json_schema()
            };
            println!("{schema}");
            ExitCode::SUCCESS
        }
    }
}

fn incidents_run(names: &[String]) -> ExitCode {
    let incidents = match nacos_sim::incidents::select(names) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut held, mut failed) = (0, 0);
    for i in incidents {
        println!("{}  ({})", i.name, i.releases);
        for f in i.files {
            match nacos_sim::incidents::run(f) {
                Ok(v) if v.failures.is_empty() => {
                    held += 1;
                    println!("    holds  {}  [{}]  trace hash {:016x}", v.path, f.shows, v.trace_hash);
                }
                Ok(v) => {
                    failed += 1;
                    println!("    FAILS  {}  [{}]", v.path, f.shows);
                    for m in v.failures {
                        println!("           {m}");
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    println!("{held} files hold, {failed} fail");
    ExitCode::from(u8::from(failed > 0))
}

fn replay_live(file: &str, trace: Option<&str>) -> ExitCode {
    let sink: Option<Box<dyn Write>> = match trace.map(std::fs::File::create).transpose() {
        Ok(f) => f.map(|f| Box::new(std::io::BufWriter::new(f)) as Box<dyn Write>),
        Err(e) => {
            eprintln!("error: {}: {e}", trace.unwrap_or_default());
            return ExitCode::from(2);
        }
    };
    match nacos_sim::live::replay(file, sink) {
        Ok(r) if r.recorded == r.replayed => {
            println!("replayed {} inputs: trace hash {:016x}, as recorded", r.inputs, r.replayed);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!("replayed {} inputs: trace hash {:016x}, recorded {:016x}", r.inputs, r.replayed, r.recorded);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn load_or_exit(file: &str) -> Result<scenario::Scenario, ExitCode> {
    scenario::load(file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// What `run` writes besides its summary.
struct RunOutputs<'a> {
    trace: Option<&'a str>,
    timeline: Option<&'a str>,
    perfetto: Option<&'a str>,
    timeline_services: Vec<String>,
}

fn run(
    file: &str,
    sets: &[String],
    seed: Option<u64>,
    until: Option<Dur>,
    outputs: &RunOutputs,
    check_invariants: bool,
) -> ExitCode {
    let trace = outputs.trace;
    let loaded = scenario::load_with(file, sets).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    });
    let sc = match loaded {
        Ok(s) => s,
        Err(c) => return c,
    };
    let seed = seed.unwrap_or(sc.seed);
    // The trace file is opened first: an unwritable path is an error before the run, not after.
    let trace_file = match trace.map(|path| std::fs::File::create(path).map(|f| (path, f))).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot write trace {}: {e}", trace.unwrap_or_default());
            return ExitCode::from(2);
        }
    };
    let mut drawings = Vec::new();
    for (what, path) in [("timeline", outputs.timeline), ("perfetto", outputs.perfetto)] {
        let Some(path) = path else { continue };
        match std::fs::File::create(path) {
            Ok(f) => drawings.push((what, path, f)),
            Err(e) => {
                eprintln!("error: cannot write {what} {path}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let wall = std::time::Instant::now(); // timing the tool itself, never read by the simulation
    let mut w = world::build(&sc, seed);
    let end = until.map(|d| Time(d.0)).unwrap_or(w.duration);
    let mut checker = expect::ExpectChecker::new(&sc.expect, &w.fault_times);
    let mut measures = nacos_sim::scenario::measure::MeasureChecker::new(&sc.measure, &w.fault_times);
    let mut trace_out = trace_file.map(|(path, f)| (path, std::io::BufWriter::new(f), Ok(()), 0u64));
    // Each observation goes to the trace file, if any, and to the expectations, then is dropped.
    let mut timeline = (!drawings.is_empty()).then(|| {
        w.engine.record_deliveries(nacos_sim::timeline::MESSAGES_KEPT);
        Timeline::new(&sc.name, &w.names, sc.servers.len(), &outputs.timeline_services, &w.faults)
    });
    let mut sink = |r: &nacos_sim::engine::Record<nacos_sim::naming::wire::Observation>, names: &[String]| {
        checker.observe(r, names);
        measures.observe(r, names);
        if let Some(t) = &mut timeline {
            t.observe(r);
        }
        if let Some((_, f, status, lines)) = &mut trace_out {
            if status.is_ok() {
                *status = writeln!(f, "{}", world::trace_line(r, names));
                *lines += 1;
            }
        }
    };
    if check_invariants {
        let violation = world::run_checked(&mut w, end);
        for r in w.engine.records.drain(..) {
            sink(&r, &w.names);
        }
        if let Some(v) = violation {
            println!("INVARIANT VIOLATED at {} on {}: {}", v.at, v.node, v.what);
            println!("last observations:");
            for line in &v.history {
                println!("    {line}");
            }
            return ExitCode::from(1);
        }
    } else {
        world::run_streaming(&mut w, end, &mut sink);
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let s = &w.engine.stats;
    println!("scenario      {} (seed {seed})", sc.name);
    if let Ok(r) = nacos_sim::naming::versions::server_release(&sc.switches.server_version) {
        let overridden =
            sc.switches.distro_version.map_or("", |_| ", Distro pipeline and membership overridden by distro_version");
        println!("server        Nacos {} (modelled as {}{overridden})", r.version, r.range);
        let mut behaviour = r.behaviour;
        for fix in &sc.switches.fixes {
            let f = fix.fix();
            let effect = if f.apply(&mut behaviour) { "applied" } else { "already in this release, no change" };
            println!("fix           {}: {effect}", f.name());
        }
    }
    println!("simulated     {}", end);
    println!("events        {}", s.events);
    println!("udp           sent {} delivered {} lost {}", s.udp_sent, s.udp_delivered, s.udp_lost);
    println!("http          requests {} answered {} failed {}", s.http_requests, s.http_responses, s.http_failed);
    println!("observations  {}", s.observations);
    println!("wall time     {elapsed:.3}s ({:.0} events/s)", s.events as f64 / elapsed.max(1e-9));
    println!("trace hash    {:016x}", w.engine.trace_hash());
    if let Some((path, mut f, status, lines)) = trace_out {
        if let Err(e) = status.and_then(|()| f.flush()) {
            eprintln!("error: cannot write trace {path}: {e}");
            return ExitCode::from(2);
        }
        println!("trace         {path} ({lines} lines)");
    }
    if let Some(t) = &mut timeline {
        t.messages(&w.engine.deliveries, w.engine.deliveries_dropped, 0);
        for (what, path, mut f) in drawings {
            let text = if what == "timeline" { t.html(end) } else { t.perfetto(end) };
            if let Err(e) = f.write_all(text.as_bytes()) {
                eprintln!("error: cannot write {what} {path}: {e}");
                return ExitCode::from(2);
            }
            println!("{what:<13} {path}");
        }
    }
    for a in w.anomalies.found() {
        println!("anomaly       {} at {} on {}: {}", a.name, a.at, w.names[a.node as usize], a.detail);
    }
    for (m, v) in sc.measure.iter().zip(measures.values(end)) {
        let value = v.map_or("never reached".to_string(), |d| format!("{:.6} s", d.0 as f64 / 1e9));
        println!("measure       {}: {value}", m.name);
    }
    let outcomes = checker.outcomes(&w);
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

/// `--shard K/N`, the seed range and `--jobs` of a campaign, checked.
fn campaign_args(shard: &str, first_seed: u64, seeds: u64, jobs: Option<u64>) -> Result<((u64, u64), usize), ExitCode> {
    let parsed = shard.split_once('/').and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
    let Some(shard) = parsed.filter(|(k, n)| *n > 0 && k < n) else {
        eprintln!("error: --shard: expected K/N with 0 <= K < N, found \"{shard}\"");
        return Err(ExitCode::from(2));
    };
    if first_seed.checked_add(seeds.saturating_sub(1)).is_none() {
        eprintln!("error: --first-seed {first_seed} with --seeds {seeds} runs past the last seed, {}", u64::MAX);
        return Err(ExitCode::from(2));
    }
    let jobs = jobs.map_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), |j| j as usize);
    Ok((shard, jobs.max(1)))
}

/// Runs a sweep; writes its rows, and without `--shard` every output, into `out`.
fn sweep(s: &nacos_sim::sweep::Sweep, out: &str) -> ExitCode {
    let started = std::time::Instant::now();
    let (header, rows) = nacos_sim::sweep::run(s);
    let wall = started.elapsed().as_secs_f64();
    let dir = std::path::Path::new(out);
    let rows_path = dir.join(nacos_sim::sweep::rows_file(s.shard));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&rows_path, nacos_sim::sweep::rows_text(&header, &rows)));
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", rows_path.display());
        return ExitCode::from(2);
    }
    println!(
        "{} seeds in {wall:.1} s on {} threads ({:.0} seeds/min); rows in {}",
        rows.len(),
        s.jobs,
        rows.len() as f64 / wall.max(1e-9) * 60.0,
        rows_path.display()
    );
    if s.shard.1 > 1 {
        let failing = rows.iter().filter(|r| !r.ok).count();
        println!(
            "shard {}/{}: {failing} failing; join the shards with `nacos-sim merge DIR... --out DIR`",
            s.shard.0, s.shard.1
        );
        return if failing > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS };
    }
    sweep_outputs(&header, &rows, out)
}

fn sweep_outputs(header: &nacos_sim::sweep::Header, rows: &[nacos_sim::sweep::Row], out: &str) -> ExitCode {
    let dir = std::path::Path::new(out);
    match nacos_sim::sweep::write_outputs(dir, header, rows) {
        Ok(failing) => {
            println!("wrote {out}/report.md, report.html, summary.json, runs.csv, scenario.json");
            print!("{}", std::fs::read_to_string(dir.join("report.md")).unwrap_or_default());
            if failing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: cannot write {out}: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs a campaign, writes its JSON Lines results and failing scenarios into `out`.
fn fuzz(campaign: &nacos_sim::fuzz::Campaign, out: &str, shrink: bool) -> ExitCode {
    let (k, n) = campaign.shard;
    let jobs = campaign.jobs;
    let started = std::time::Instant::now();
    let results = nacos_sim::fuzz::run_campaign(campaign);
    let wall = started.elapsed().as_secs_f64();
    let dir = std::path::Path::new(out);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {out}: {e}");
        return ExitCode::from(2);
    }
    // Every file is written before anything is printed: `nacos-sim fuzz | head -1` closes the
    // pipe early, and the process then ends at its next print.
    let mut lines = String::new();
    let mut report = Vec::new();
    let mut failing = 0;
    for (o, text) in &results {
        lines += &serde_json::to_string(o).expect("outcome serializes");
        lines.push('\n');
        if let Some(text) = text {
            failing += 1;
            let file = dir.join(format!("fuzz-{}.json", o.seed));
            if let Err(e) = std::fs::write(&file, format!("{text}\n")) {
                eprintln!("error: writing {}: {e}", file.display());
                return ExitCode::from(2);
            }
            report.push(format!(
                "FAIL seed {}: {} (reproduce: nacos-sim run {})",
                o.seed,
                o.problems[0],
                file.display()
            ));
        }
    }
    let results_file = dir.join(format!("results-shard-{k}-of-{n}.jsonl"));
    if let Err(e) = std::fs::write(&results_file, lines) {
        eprintln!("error: writing {}: {e}", results_file.display());
        return ExitCode::from(2);
    }
    for line in &report {
        println!("{line}");
    }
    for (o, _) in results.iter().filter(|(_, text)| shrink && text.is_some()) {
        let case = campaign.case(o.seed);
        let (small, runs) = nacos_sim::fuzz::shrink(&case.json, &case.untouched_clients);
        let count = |k: &str| small.get(k).and_then(|v| v.as_array()).map_or(0, |a| a.len());
        let min = dir.join(format!("fuzz-{}.min.json", o.seed));
        let text = serde_json::to_string_pretty(&small).expect("json");
        if let Err(e) = std::fs::write(&min, format!("{text}\n")) {
            eprintln!("error: writing {}: {e}", min.display());
            return ExitCode::from(2);
        }
        println!(
            "seed {} shrunk in {runs} runs to {} servers, {} clients, {} faults: {}",
            o.seed,
            count("servers"),
            count("clients"),
            count("faults"),
            min.display()
        );
    }
    println!(
        "{} seeds, {failing} failing, {:.1} s wall on {jobs} threads ({:.0} seeds/min); results in {}",
        results.len(),
        wall,
        results.len() as f64 / wall * 60.0,
        results_file.display()
    );
    // Known Nacos anomalies are the real system's behaviour: counted, never failing a seed.
    let mut anomalies: std::collections::BTreeMap<&str, usize> = Default::default();
    for (o, _) in &results {
        let names: std::collections::BTreeSet<&str> = o.anomalies.iter().filter_map(|a| a.split(' ').next()).collect();
        for n in names {
            *anomalies.entry(n).or_default() += 1;
        }
    }
    for (name, seeds) in anomalies {
        println!("known anomaly {name}: in {seeds} seeds (Nacos behaviour, not a failure; see the results file)");
    }
    if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the first index where two traces differ, with `context` common lines before it.
/// Returns false when they are identical.
fn print_divergence(a: &[String], b: &[String], names: (&str, &str), context: usize) -> bool {
    let Some(i) = (0..a.len().max(b.len())).find(|&i| a.get(i) != b.get(i)) else { return false };
    println!("first divergence at observation {i}:");
    for line in &a[i.saturating_sub(context)..i.min(a.len())] {
        println!("    {line}");
    }
    println!("  - {}", a.get(i).cloned().unwrap_or(format!("({} ends here)", names.0)));
    println!("  + {}", b.get(i).cloned().unwrap_or(format!("({} ends here)", names.1)));
    true
}

/// One side of a diff: the file, its seed override, its `--set` changes.
type Side<'a> = (&'a str, Option<u64>, &'a [String]);

fn diff(a: Side, b: Side, context: usize, timeline: Option<&str>) -> ExitCode {
    let trace = |(file, seed, sets): Side| -> Result<(Vec<String>, u64, world::World, String), ExitCode> {
        let sc = scenario::load_with(file, sets).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        })?;
        let mut w = world::build(&sc, seed.unwrap_or(sc.seed));
        if timeline.is_some() {
            w.engine.record_deliveries(nacos_sim::timeline::MESSAGES_KEPT);
        }
        w.run_until(w.duration);
        let lines = w.engine.records.iter().map(|r| world::trace_line(r, &w.names)).collect();
        Ok((lines, w.engine.trace_hash(), w, sc.name))
    };
    let (ta, ha, wa, name) = match trace(a) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let (tb, hb, wb, _) = match trace(b) {
        Ok(t) => t,
        Err(c) => return c,
    };
    if let Some(path) = timeline {
        let first = (0..ta.len().max(tb.len())).find(|&i| ta.get(i) != tb.get(i));
        let at = first.and_then(|i| wa.engine.records.get(i).or(wb.engine.records.get(i)).map(|r| r.at));
        let page = Timeline::stacked(&format!("{name}: A over B"), [&wa, &wb], at);
        if let Err(e) = std::fs::write(path, page) {
            eprintln!("error: cannot write timeline {path}: {e}");
            return ExitCode::from(2);
        }
        println!("timeline: {path}");
    }
    let show = |(file, _, sets): Side| {
        if sets.is_empty() {
            file.to_string()
        } else {
            format!("{file} with {}", sets.join(", "))
        }
    };
    println!("A: {} ({} observations, trace hash {ha:016x})", show(a), ta.len());
    println!("B: {} ({} observations, trace hash {hb:016x})", show(b), tb.len());
    if print_divergence(&ta, &tb, ("A", "B"), context) {
        return ExitCode::from(1);
    }
    if ha != hb {
        println!("observations are identical; message deliveries differ");
        return ExitCode::from(1);
    }
    println!("identical");
    ExitCode::SUCCESS
}

fn replay(file: &str, seed: Option<u64>, expect_hash: &str, against: Option<&str>, timeline: Option<&str>) -> ExitCode {
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
    if timeline.is_some() {
        w.engine.record_deliveries(nacos_sim::timeline::MESSAGES_KEPT);
    }
    w.run_until(w.duration);
    let got = w.engine.trace_hash();
    if let Some(path) = timeline {
        let mut t = Timeline::new(&sc.name, &w.names, sc.servers.len(), &[], &w.faults);
        for r in &w.engine.records {
            t.observe(r);
        }
        t.messages(&w.engine.deliveries, w.engine.deliveries_dropped, 0);
        if let Err(e) = std::fs::write(path, t.html(w.duration)) {
            eprintln!("error: cannot write timeline {path}: {e}");
            return ExitCode::from(2);
        }
        println!("timeline: {path}");
    }
    if got == want {
        println!("trace hash {got:016x} matches");
        return ExitCode::SUCCESS;
    }
    println!("trace hash {got:016x} differs from expected {want:016x}");
    let now: Vec<String> = w.engine.records.iter().map(|r| world::trace_line(r, &w.names)).collect();
    match original {
        Some(text) => {
            let before: Vec<String> = text.lines().map(String::from).collect();
            if !print_divergence(&before, &now, ("original trace", "this run"), 5) {
                println!("observations are identical: the difference is in message deliveries");
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
