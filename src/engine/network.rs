//! The network model: directed links with latency distributions, UDP loss and duplication,
//! TCP segment loss turned into retransmission delay, and partitions.
//!
//! Links are directed so that asymmetric partitions and asymmetric latencies are expressible.

use crate::time::{Dur, MAX_SPAN};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One-way latency of a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always the same delay.
    Fixed(Dur),
    /// Uniform in `[lo, hi]`.
    Uniform(Dur, Dur),
    /// Normal with the given mean and standard deviation, truncated at zero.
    Normal { mean: Dur, stddev: Dur },
    /// Log-normal with the given median and shape `sigma` (heavy right tail, as real RTTs).
    Lognormal { median: Dur, sigma: f64 },
}

impl Latency {
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Dur {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform(lo, hi) => {
                if hi.0 <= lo.0 {
                    lo
                } else {
                    Dur(rng.gen_range(lo.0..=hi.0))
                }
            }
            Latency::Normal { mean, stddev } => {
                let z = standard_normal(rng);
                clamped((mean.0 as f64) + z * stddev.0 as f64)
            }
            Latency::Lognormal { median, sigma } => {
                let z = standard_normal(rng);
                // A zero median stays zero even when the factor overflows to infinity.
                if median.0 == 0 {
                    return Dur::ZERO;
                }
                clamped((median.0 as f64) * (sigma * z).exp())
            }
        }
    }

    /// Checks the parameters; the error says what was expected.
    pub fn params_valid(&self) -> Result<(), String> {
        match self {
            Latency::Fixed(d) if d.is_negative() => Err("must not be negative".into()),
            Latency::Uniform(lo, hi) if lo.is_negative() || hi < lo => {
                Err("expected [lo, hi] with 0 <= lo <= hi".into())
            }
            Latency::Normal { mean, stddev } if mean.is_negative() || stddev.is_negative() => {
                Err("mean and stddev must not be negative".into())
            }
            Latency::Lognormal { median, sigma } if median.is_negative() || sigma.is_nan() || *sigma < 0.0 => {
                Err("median must not be negative and sigma must be >= 0".into())
            }
            _ => Ok(()),
        }
    }
}

/// A sampled delay in nanoseconds, rounded and clamped to `[0, MAX_SPAN]`: a heavy tail can
/// draw more than any run lasts, and such a packet still arrives after the run's end.
fn clamped(nanos: f64) -> Dur {
    Dur(nanos.round().clamp(0.0, MAX_SPAN.0 as f64) as i64)
}

/// Box–Muller: written out here so the stream of draws never changes with a dependency upgrade.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// What happens to an HTTP exchange that the abstract loss mode drops.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HttpLossMode {
    /// The request is lost silently; the caller fails at its read timeout.
    #[default]
    Timeout,
    /// The request never reaches the server and the caller sees an IO error one round trip later.
    FailFast,
}

/// The properties of one directed link.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    pub latency: Latency,
    /// Extra uniform delay in `[0, jitter]` added to every packet; reorders UDP datagrams.
    pub jitter: Dur,
    /// Probability that a UDP datagram is lost.
    pub udp_loss: f64,
    /// Probability that a UDP datagram is delivered twice.
    pub udp_duplicate: f64,
    /// Probability that a TCP segment is lost; costs retransmission delay, never the request.
    pub tcp_loss: f64,
    /// Opt-in abstract loss of whole HTTP exchanges (for failure-detector studies).
    pub http_loss: f64,
    pub http_loss_mode: HttpLossMode,
    /// Probability that an HTTP response arrives with a body the caller cannot parse (a proxy's
    /// error page, a truncated body): the exchange succeeds, its content is garbage.
    pub http_garble: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::Fixed(Dur::from_millis(1)),
            jitter: Dur::ZERO,
            udp_loss: 0.0,
            udp_duplicate: 0.0,
            tcp_loss: 0.0,
            http_loss: 0.0,
            http_loss_mode: HttpLossMode::Timeout,
            http_garble: 0.0,
        }
    }
}

/// Linux's minimum retransmission timeout; each further loss of the same segment doubles it.
pub const TCP_INITIAL_RTO: Dur = Dur::from_millis(200);
/// A segment is retransmitted at most this many times before the delay stops growing (keeps the
/// model finite when `tcp_loss` is close to 1; the exchange's own timeout fires long before).
const TCP_MAX_RETRANSMITS: u32 = 15;

impl LinkConfig {
    /// One-way delay of one packet.
    pub fn delay(&self, rng: &mut ChaCha8Rng) -> Dur {
        let mut d = self.latency.sample(rng);
        if self.jitter.0 > 0 {
            d = (d + Dur(rng.gen_range(0..=self.jitter.0))).min(MAX_SPAN);
        }
        d
    }

    /// One-way delay of a TCP message: latency plus, for each consecutive loss of the segment,
    /// a retransmission timeout starting at 200 ms and doubling.
    pub fn tcp_delay(&self, rng: &mut ChaCha8Rng) -> Dur {
        let mut d = self.delay(rng);
        if self.tcp_loss > 0.0 {
            let mut rto = TCP_INITIAL_RTO;
            let mut n = 0;
            while n < TCP_MAX_RETRANSMITS && rng.gen_bool(self.tcp_loss) {
                d = d + rto;
                rto = Dur(rto.0 * 2);
                n += 1;
            }
        }
        d
    }
}

/// A stateful firewall rule on connections opened from one node to another: packets of
/// connections opened the other way, and UDP, pass.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FirewallRule {
    /// DROP: the SYN is dropped, the connect attempt times out.
    DropConnections,
    /// REJECT: the connect attempt is refused at once (one round trip).
    Reject,
}

/// Directed link table with partition counters: a pair is blocked while at least one active
/// partition blocks it, so overlapping partition windows compose. Firewall rules count the
/// same way, per rule.
pub struct Network {
    n: usize,
    configs: Vec<LinkConfig>,
    link: Vec<u32>,
    blocked: Vec<u32>,
    dropped_connections: Vec<u32>,
    rejected_connections: Vec<u32>,
}

impl Network {
    pub fn new(n: usize, default: LinkConfig) -> Network {
        Network {
            n,
            configs: vec![default],
            link: vec![0; n * n],
            blocked: vec![0; n * n],
            dropped_connections: vec![0; n * n],
            rejected_connections: vec![0; n * n],
        }
    }

    fn rule_table(&mut self, rule: FirewallRule) -> &mut Vec<u32> {
        match rule {
            FirewallRule::DropConnections => &mut self.dropped_connections,
            FirewallRule::Reject => &mut self.rejected_connections,
        }
    }

    /// Adds (or, with `heal`, removes) one firewall rule on connections from → to.
    pub fn set_rule(&mut self, rule: FirewallRule, from: usize, to: usize, heal: bool) {
        let at = from * self.n + to;
        let c = &mut self.rule_table(rule)[at];
        *c = if heal { c.saturating_sub(1) } else { c.saturating_add(1) };
    }

    /// The rule a new connection from → to meets, if any (REJECT before DROP, as the first
    /// matching rule of a chain).
    pub fn connection_rule(&self, from: usize, to: usize) -> Option<FirewallRule> {
        let at = from * self.n + to;
        if self.rejected_connections[at] > 0 {
            Some(FirewallRule::Reject)
        } else if self.dropped_connections[at] > 0 {
            Some(FirewallRule::DropConnections)
        } else {
            None
        }
    }

    pub fn config(&self, from: usize, to: usize) -> &LinkConfig {
        &self.configs[self.link[from * self.n + to] as usize]
    }

    pub fn set_config(&mut self, from: usize, to: usize, cfg: LinkConfig) {
        let idx = match self.configs.iter().position(|c| *c == cfg) {
            Some(i) => i,
            None => {
                self.configs.push(cfg);
                self.configs.len() - 1
            }
        };
        self.link[from * self.n + to] = idx as u32;
    }

    pub fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.blocked[from * self.n + to] > 0
    }

    pub fn block(&mut self, from: usize, to: usize) {
        let b = &mut self.blocked[from * self.n + to];
        *b = b.saturating_add(1);
    }

    pub fn unblock(&mut self, from: usize, to: usize) {
        let b = &mut self.blocked[from * self.n + to];
        *b = b.saturating_sub(1);
    }

    /// Clears every partition and firewall rule.
    pub fn heal_all(&mut self) {
        for table in [&mut self.blocked, &mut self.dropped_connections, &mut self.rejected_connections] {
            table.iter_mut().for_each(|b| *b = 0);
        }
    }
}
