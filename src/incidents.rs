//! The incident catalogue: twelve failures Nacos users reported, each replayed by scenario files
//! under `scenarios/incidents/` (the release where it happens and, where one exists, the
//! release or what-if fix where it does not). The files are compiled in, so `nacos-sim
//! incidents run` works from any directory; each is also a plain scenario for `run`.

use crate::scenario::{self, expect, world};

/// One scenario file of an incident, and what it shows.
pub struct File {
    pub path: &'static str,
    pub text: &'static str,
    /// The release or fix it runs, and whether the failure happens there.
    pub shows: &'static str,
}

pub struct Incident {
    pub name: &'static str,
    /// The releases affected.
    pub releases: &'static str,
    /// What happens, in one line.
    pub story: &'static str,
    /// The Nacos issues and pull requests behind it.
    pub source: &'static str,
    pub files: &'static [File],
}

macro_rules! file {
    ($name:literal, $shows:literal) => {
        File {
            path: concat!("scenarios/incidents/", $name),
            text: include_str!(concat!("../scenarios/incidents/", $name)),
            shows: $shows,
        }
    };
}

pub const CATALOGUE: &[Incident] = &[
    Incident {
        name: "crashed-node-keeps-its-services",
        releases: "1.3.0",
        story: "a killed Nacos node stays in the Distro hash ring: its services' dead providers never expire until it is back",
        source: "#3110, #4510; fixed by #3168 (1.3.1)",
        files: &[
            file!("crashed-node-keeps-its-services-1.3.0.json", "1.3.0: happens"),
            file!("crashed-node-keeps-its-services-1.4.1.json", "1.4.1: the service moves, the provider expires"),
        ],
    },
    Incident {
        name: "dead-member-stuck-suspicious",
        releases: "1.3.1-1.4.0",
        story: "a powered-off member stays SUSPICIOUS for ever and keeps its services: beats forwarded to it fail",
        source: "#4364, #4626, #4702, #6268; fixed by #4371 (1.4.1)",
        files: &[
            file!("version-1.3.2-dead-host-stays-suspicious.json", "1.3.2: happens"),
            file!("version-1.4.1-dead-host-goes-down.json", "1.4.1: DOWN after the fourth failed probe"),
        ],
    },
    Incident {
        name: "restarts-close-together",
        releases: "1.4.x",
        story: "two nodes restarted close together: one loads the other's half-loaded store and its partial lists overwrite the full ones; even spaced apart, the new owner's stale lastBeat deletes live instances",
        source: "#8436, #8437 (closed), #7697",
        files: &[
            file!("restarts-partial-snapshot-1.4.1.json", "1.4.1: a load with 0 keys, 23 instances overwritten"),
            file!("restarts-apart-fix-7697.json", "restarts apart, what-if fix issue-7697: nothing lost"),
            file!("distro-two-restarts.json", "1.4.1: happens"),
            file!("distro-two-restarts-fix-7697.json", "what-if fix issue-7697: no instance lost"),
        ],
    },
    Incident {
        name: "serves-before-loaded",
        releases: "1.x",
        story: "a restarted node answers with empty lists while its 16 s snapshot load runs; with warmup it answers 503 instead",
        source: "#7687, #7697, #3923, #4470, #3880, #5163",
        files: &[
            file!("snapshot-load-300k-serves-empty.json", "1.4.1, warmup off: empty lists"),
            file!("snapshot-load-300k-warmup-503.json", "1.4.1, warmup on: 503 until loaded"),
        ],
    },
    Incident {
        name: "whole-cluster-restart",
        releases: "all 1.x",
        story: "every node restarted: all ephemeral state and console changes are lost, rebuilt by the clients' beats",
        source: "#5243, #3934, #6486",
        files: &[
            file!("whole-cluster-restart-1.4.1.json", "1.4.1 clients: 20404, then re-registration"),
            file!("whole-cluster-restart-1.1.4-clients.json", "1.1.4 clients: re-created from full beats"),
            file!("whole-cluster-outage-poll-backoff-1.4.1.json", "a minute down: polls back off to 32 s, a change reaches the consumer 4 s late"),
        ],
    },
    Incident {
        name: "out-of-date-data-clock-skew",
        releases: "all 1.x",
        story: "servers' clocks apart: the client logs \"out of date data received\" and applies the data anyway",
        source: "#2247, #3158, #7058, #9937",
        files: &[
            file!("client-out-of-date-data-clock-skew.json", "10 s skew: the warning"),
            file!("client-out-of-date-data-no-skew.json", "no skew: never"),
        ],
    },
    Incident {
        name: "raft-partitioned-follower-term",
        releases: "0.8-1.3.x (legacy Raft)",
        story: "a partitioned follower inflates its term and wins the election on rejoin, unless the leader wrote meanwhile",
        source: "#785, #3635",
        files: &[
            file!("version-1.3.2-raft-partitioned-follower-wins.json", "1.3.2, no write: it wins"),
            file!("version-1.3.2-raft-partitioned-follower-loses-after-writes.json", "1.3.2, one write: it loses"),
            file!("jraft-partitioned-follower-1.4.1.json", "1.4.1 JRaft: pre-vote, the term stays"),
        ],
    },
    Incident {
        name: "raft-two-leaders",
        releases: "up to 1.3.x (legacy Raft)",
        story: "a split elects a second leader; the minority leader keeps writing locally and writes are lost at the heal",
        source: "#771, #3652",
        files: &[
            file!("version-1.3.2-raft-two-leaders.json", "1.3.2: two leaders for 45 s"),
            file!("version-1.3.2-raft-two-leaders-minority-writes-lost.json", "1.3.2: writes without a majority survive"),
            file!("version-1.3.2-raft-two-leaders-committed-write-lost.json", "1.3.2: a committed write vanishes"),
            file!("jraft-split-one-leader-1.4.1.json", "1.4.1 JRaft: the old leader steps down first"),
        ],
    },
    Incident {
        name: "raft-leader-loss",
        releases: "legacy Raft up to 1.4.x; JRaft gate in 1.4.x",
        story: "the leader dies: a new one in 15-20 s; with two of three dead, elections forever and every persistent write fails",
        source: "#9882, #5300, #5311, #5281",
        files: &[
            file!("version-1.3.2-raft-leader-loss.json", "1.3.2: re-election, and none without a majority"),
            file!("version-1.3.2-raft-majority-dead-writes-fail.json", "1.3.2: writes fail, the instance is served"),
            file!("version-1.4.2-jraft-never-had-leader-503.json", "1.4.2 JRaft first: 503 until a leader"),
        ],
    },
    Incident {
        name: "empty-service-auto-clean",
        releases: "1.3.x-1.4.x (shipped config)",
        story: "a service empty for five clean passes is removed; a later provider re-creates it, its subscribers lag behind",
        source: "#5799, #6150, #4984",
        files: &[
            file!("empty-service-auto-clean-1.4.1.json", "1.4.1: removed after 129 s empty"),
            file!("empty-service-auto-clean-survives-1.4.1.json", "1.4.1: back in time, never removed"),
        ],
    },
    Incident {
        name: "ghost-instances",
        releases: "up to 1.4.1",
        story: "a datum removed by verification leaves the Service's instances served from memory, for ever if no responsible node holds them; a check task that outlives its deleted service drops re-registered instances every 5 s",
        source: "#4829, #4676; fixed by #5131 and putIfAbsent / computeIfAbsent (1.4.2)",
        files: &[
            file!("ghost-after-verify-removal-1.4.1.json", "1.4.1: the instance stays served"),
            file!("ghost-after-verify-removal-1.4.2.json", "1.4.2: removed with the datum"),
            file!("ghost-never-expires-1.4.1.json", "1.4.1: a dead provider served healthy for ever"),
            file!("ghost-never-expires-1.4.2.json", "1.4.2: gone with the datum at 60 s"),
            file!("check-task-outlives-service-delete-1.3.2.json", "1.3.2: re-registered instances drop every 5 s"),
            file!("check-task-outlives-service-delete-1.4.2.json", "1.4.2: one task, cancelled with its service"),
        ],
    },
    Incident {
        name: "member-flapping-after-reread",
        releases: "1.4.1",
        story: "re-reading cluster.conf re-creates a dead member as UP: it flaps between DOWN and UP and takes services back",
        source: "#4821, #4925; fixed by #4948 (1.4.2)",
        files: &[
            file!("version-1.4.1-member-reread-revives-dead-node.json", "1.4.1: happens"),
            file!("version-1.4.2-member-reread-keeps-states.json", "1.4.2: stays DOWN"),
        ],
    },
];

/// The verdict of one file.
pub struct Verdict {
    pub path: &'static str,
    pub trace_hash: u64,
    /// The messages of the entries that failed (none: it holds).
    pub failures: Vec<String>,
}

/// Runs one catalogue file to its end and checks every `expect` entry.
pub fn run(f: &File) -> Result<Verdict, String> {
    let sc = scenario::parse(f.path, f.text).map_err(|e| e.to_string())?;
    let mut w = world::build(&sc, sc.seed);
    w.run_until(w.duration);
    let failures = expect::check_expectations(&sc.expect, &w)
        .into_iter()
        .filter(|o| !o.ok)
        .map(|o| format!("expect[{}]: {}", o.index, o.message))
        .collect();
    Ok(Verdict { path: f.path, trace_hash: w.engine.trace_hash(), failures })
}

/// The incidents named (all if none); an unknown name is an error listing the known ones.
pub fn select(names: &[String]) -> Result<Vec<&'static Incident>, String> {
    if names.is_empty() {
        return Ok(CATALOGUE.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            CATALOGUE.iter().find(|i| i.name == n).ok_or_else(|| {
                let known: Vec<&str> = CATALOGUE.iter().map(|i| i.name).collect();
                format!("no incident named {n:?}; the catalogue has: {}", known.join(", "))
            })
        })
        .collect()
}
