//! Descriptive statistics and confidence intervals for reports. Small, exact and tested on
//! known inputs, because every number in a report goes through here.

use serde::Serialize;

/// The distribution summary used throughout `summary.json`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub min: f64,
    pub p50: f64,
    pub mean: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Summary of a sample; `None` when empty. Percentiles interpolate linearly between order
/// statistics (Hyndman–Fan type 7, the default of R and NumPy).
pub fn summarize(sample: &[f64]) -> Option<Summary> {
    if sample.is_empty() {
        return None;
    }
    let mut v = sample.to_vec();
    v.sort_by(f64::total_cmp);
    Some(Summary {
        min: v[0],
        p50: quantile_sorted(&v, 0.5),
        mean: mean(&v),
        p90: quantile_sorted(&v, 0.9),
        p99: quantile_sorted(&v, 0.99),
        max: v[v.len() - 1],
    })
}

/// Type-7 quantile of a sorted, non-empty sample.
pub fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let h = (v.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n − 1).
pub fn std_dev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// 95 % normal-approximation interval of the mean: mean ± 1.96 s/√n.
pub fn mean_ci95(v: &[f64]) -> (f64, f64) {
    let m = mean(v);
    let half = 1.96 * std_dev(v) / (v.len() as f64).sqrt();
    (m - half, m + half)
}

/// 95 % interval of a Poisson rate `count / exposure`: the exact (Garwood) bounds through the
/// Wilson–Hilferty chi-square approximation, good to a few parts in a thousand even for small
/// counts, and with a lower bound of 0 when nothing was seen.
pub fn rate_ci95(count: u64, exposure: f64) -> (f64, f64) {
    let n = count as f64;
    let z = 1.959_964;
    let lower = if count == 0 {
        0.0
    } else {
        // chi2(0.025, 2n) / 2
        n * (1.0 - 1.0 / (9.0 * n) - z / (3.0 * n.sqrt())).powi(3)
    };
    let m = n + 1.0;
    // chi2(0.975, 2n + 2) / 2; exactly −ln(0.025) when nothing was seen.
    let upper = if count == 0 { -(0.025f64).ln() } else { m * (1.0 - 1.0 / (9.0 * m) + z / (3.0 * m.sqrt())).powi(3) };
    (lower / exposure, upper / exposure)
}

/// Empirical CDF points `(x, F(x))` of a sample, one per distinct value.
pub fn ecdf(sample: &[f64]) -> Vec<(f64, f64)> {
    let mut v = sample.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, x) in v.iter().enumerate() {
        let f = (i + 1) as f64 / n;
        match out.last_mut() {
            Some(last) if last.0 == *x => last.1 = f,
            _ => out.push((*x, f)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_one_to_a_hundred() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&v).unwrap();
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 100.0);
        assert_eq!(s.mean, 50.5);
        assert!((s.p50 - 50.5).abs() < 1e-12);
        assert!((s.p90 - 90.1).abs() < 1e-12);
        assert!((s.p99 - 99.01).abs() < 1e-12);
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn quantiles_match_numpy_type_7() {
        // numpy.percentile([3, 1, 4, 1, 5], [50, 90]) == [3.0, 4.6]
        let s = summarize(&[3.0, 1.0, 4.0, 1.0, 5.0]).unwrap();
        assert_eq!(s.p50, 3.0);
        assert!((s.p90 - 4.6).abs() < 1e-12);
    }

    #[test]
    fn mean_interval_of_a_known_sample() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd 2.138; half-width 1.96 * 2.138 / sqrt(8)
        let (lo, hi) = mean_ci95(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((lo - 3.5184).abs() < 1e-3, "{lo}");
        assert!((hi - 6.4816).abs() < 1e-3, "{hi}");
    }

    #[test]
    fn poisson_interval_matches_garwood() {
        // Exact Garwood 95 % bounds: n=0 → [0, 3.689]; n=10 → [4.795, 18.390].
        let (lo, hi) = rate_ci95(0, 1.0);
        assert_eq!(lo, 0.0);
        assert!((hi - 3.689).abs() < 1e-3, "{hi}");
        let (lo, hi) = rate_ci95(10, 2.0);
        assert!((lo - 4.795 / 2.0).abs() < 0.02, "{lo}");
        assert!((hi - 18.390 / 2.0).abs() < 0.02, "{hi}");
    }

    #[test]
    fn ecdf_merges_ties() {
        assert_eq!(ecdf(&[2.0, 1.0, 2.0, 3.0]), vec![(1.0, 0.25), (2.0, 0.75), (3.0, 1.0)]);
    }
}
