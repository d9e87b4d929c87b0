//! Closed forms for the simple model of heartbeat expiry, printed beside the simulation.
//!
//! The model: a provider's beat is processed every `P = interval + RTT` ms (the next beat is
//! scheduled one interval after the previous call returned, R2.6); the server's
//! `ClientBeatCheckTask` runs every `C = 5000` ms at a phase independent of the beats (R2.13)
//! and marks an instance unhealthy at the first run with `now − lastBeat > T`, deletes it at the
//! first run with `now − lastBeat > D` (strict `>`, R2.14). Beat calls fail independently with
//! probability `p_call`.

/// Timing parameters of one setting, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Model {
    /// Beat cycle: interval plus the round trip.
    pub cycle: f64,
    /// Cycle of a failed call: interval plus one round trip per try (each try fails fast).
    pub failed_cycle: f64,
    /// Unhealthy timeout `T`.
    pub unhealthy: f64,
    /// Delete timeout `D`.
    pub delete: f64,
    /// Check period `C`.
    pub check: f64,
}

/// `∫₀ˢ clamp(t/P, 0, 1) dt`.
fn ramp_integral(s: f64, p: f64) -> f64 {
    if s <= 0.0 {
        0.0
    } else if s <= p {
        s * s / (2.0 * p)
    } else {
        p / 2.0 + (s - p)
    }
}

impl Model {
    /// CDF of the time from a crash to the first check that sees `now − lastBeat > timeout`:
    /// `X = timeout − U + V` with `U ~ U(0, P)` (time since the last processed beat) and
    /// `V ~ U(0, C)` (wait for the next check), a trapezoid:
    /// `F(x) = [G(P + y) − G(P + y − C)] / C` with `y = x − timeout` and
    /// `G(s) = ∫₀ˢ clamp(t/P, 0, 1) dt`.
    pub fn crash_cdf(&self, timeout: f64, x: f64) -> f64 {
        let (p, c) = (self.cycle, self.check);
        let y = x - timeout;
        ((ramp_integral(p + y, p) - ramp_integral(p + y - c, p)) / c).clamp(0.0, 1.0)
    }

    /// Mean of that distribution: `timeout − P/2 + C/2`.
    pub fn crash_mean(&self, timeout: f64) -> f64 {
        timeout - self.cycle / 2.0 + self.check / 2.0
    }

    /// Quantile of the crash distribution, by bisection on the CDF.
    pub fn crash_quantile(&self, timeout: f64, q: f64) -> f64 {
        let (mut lo, mut hi) = (timeout - self.cycle, timeout + self.check);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if self.crash_cdf(timeout, mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    }

    /// False marks and deletes per instance-hour, and the mean duration (ms) of a false mark,
    /// for beat calls failing independently with probability `p_call`.
    ///
    /// After a processed beat (time 0), `k` calls fail with probability `pᵏ q` and the next
    /// beat is processed at `S = k·P_fail + P`. With the check phase `φ ~ U(0, C]`, the mark
    /// comes at `M`, the first check after `T`, if `M < S`; the delete at `E`, the first check
    /// after `D`, if `E < S`; the mark lasts `min(S, E) − M`. Per hour there are `3.6e6 / E[S]`
    /// processed beats, each opening one such interval; the phase integral is evaluated on a
    /// fine grid for the mark duration only.
    pub fn false_expiry(&self, p_call: f64) -> LossTheory {
        let c = self.check;
        let q = 1.0 - p_call;
        if q <= 0.0 {
            return LossTheory::default();
        }
        let mean_interval = self.cycle + p_call / q * self.failed_cycle;
        let intervals_per_hour = 3.6e6 / mean_interval;
        let grid = 2000;
        let first_check_after = |t: f64, phi: f64| phi + ((t - phi) / c).floor().max(-1.0) * c + c;
        let (mut marks, mut deletes, mut mark_time) = (0.0, 0.0, 0.0);
        let mut weight = q; // p^k q
        for k in 0..10_000 {
            if weight < 1e-18 {
                break;
            }
            let s = k as f64 * self.failed_cycle + self.cycle;
            if s > self.unhealthy {
                // The first check after T (or D) is uniform in (T, T + C]: exact probabilities.
                // A delete implies a mark, since D > T.
                marks += weight * ((s - self.unhealthy) / c).clamp(0.0, 1.0);
                deletes += weight * ((s - self.delete) / c).clamp(0.0, 1.0);
                let mut dur_k = 0.0;
                for i in 0..grid {
                    let phi = (i as f64 + 0.5) / grid as f64 * c;
                    let m = first_check_after(self.unhealthy, phi);
                    if m < s {
                        dur_k += s.min(first_check_after(self.delete, phi)) - m;
                    }
                }
                mark_time += weight * dur_k / grid as f64;
            }
            weight *= p_call;
        }
        LossTheory {
            false_unhealthy_per_instance_hour: intervals_per_hour * marks,
            false_delete_per_instance_hour: intervals_per_hour * deletes,
            mean_false_unhealthy_ms: if marks > 0.0 { mark_time / marks } else { 0.0 },
            fraction_unhealthy: intervals_per_hour * mark_time / 3.6e6,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LossTheory {
    pub false_unhealthy_per_instance_hour: f64,
    pub false_delete_per_instance_hour: f64,
    pub mean_false_unhealthy_ms: f64,
    pub fraction_unhealthy: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Model =
        Model { cycle: 5002.0, failed_cycle: 5006.0, unhealthy: 15_000.0, delete: 30_000.0, check: 5000.0 };

    #[test]
    fn crash_distribution_spans_timeout_minus_cycle_to_timeout_plus_check() {
        let m = DEFAULT;
        assert_eq!(m.crash_cdf(15_000.0, 9_998.0), 0.0);
        assert_eq!(m.crash_cdf(15_000.0, 20_000.0), 1.0);
        // Symmetric trapezoid around its mean (here almost a triangle).
        let mean = m.crash_mean(15_000.0);
        assert!((mean - 14_999.0).abs() < 1e-9);
        assert!((m.crash_cdf(15_000.0, mean) - 0.5).abs() < 1e-3);
        assert!((m.crash_quantile(15_000.0, 0.5) - mean).abs() < 5.0);
        // Triangle with base 10 s: F(12.5 s) = (2.5/5)^2 / 2 = 0.125.
        assert!((m.crash_cdf(15_000.0, 12_500.0) - 0.125).abs() < 2e-3);
    }

    #[test]
    fn no_loss_no_false_expiry() {
        let t = DEFAULT.false_expiry(0.0);
        assert_eq!(t.false_unhealthy_per_instance_hour, 0.0);
        assert_eq!(t.false_delete_per_instance_hour, 0.0);
    }

    #[test]
    fn three_lost_calls_always_mark_two_almost_never() {
        // k = 3 gives S = 3·5006 + 5002 > T + C, so every phase marks; k = 2 gives S = 15014,
        // marked only when a check falls in (15000, 15014): 14/5000 of phases.
        let p = 0.1;
        let t = DEFAULT.false_expiry(p);
        let per_hour = 3.6e6 / (5002.0 + p / 0.9 * 5006.0);
        let per_interval = t.false_unhealthy_per_instance_hour / per_hour;
        let expected = p * p * 0.9 * 14.0 / 5000.0 + p.powi(3);
        assert!((per_interval - expected).abs() / expected < 1e-3, "{per_interval} vs {expected}");
    }
}
