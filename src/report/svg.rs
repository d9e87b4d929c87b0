//! Minimal SVG line plots: enough for CDFs and rate curves that open in any browser, without a
//! plotting dependency.

use std::fmt::Write;

/// One series: a polyline (`step` draws a staircase, as an empirical CDF), or points with
/// vertical error bars when `bars` is set.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub step: bool,
    pub dashed: bool,
    /// `(x, low, high)` error bars drawn as markers with whiskers.
    pub bars: Vec<(f64, f64, f64)>,
}

pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic y axis (values ≤ 0 are clipped to the lowest decade).
    pub log_y: bool,
}

const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
const COLORS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

/// "Nice" tick positions covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| span / s <= n as f64).unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Plot {
    pub fn render(&self) -> String {
        let all_x = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.0).chain(s.bars.iter().map(|b| b.0)));
        let all_y =
            self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1).chain(s.bars.iter().flat_map(|b| [b.1, b.2])));
        let (mut x0, mut x1) = all_x.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        let ys: Vec<f64> = all_y.filter(|y| y.is_finite()).collect();
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let (y0, y1) = if self.log_y {
            let pos: Vec<f64> = ys.iter().copied().filter(|y| *y > 0.0).collect();
            let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = pos.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() {
                (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0))
            } else {
                (-3.0, 0.0)
            }
        } else {
            let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (0.0, if hi.is_finite() && hi > 0.0 { hi * 1.05 } else { 1.0 })
        };
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| {
            let v = if self.log_y { y.max(10f64.powf(y0)).log10() } else { y };
            TOP + ph - (v - y0) / (y1 - y0) * ph
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = write!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        for t in ticks(x0, x1, 8) {
            let x = sx(t);
            let _ = write!(s, r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/>"##, TOP + ph);
            let _ =
                write!(s, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, TOP + ph + 16.0, fmt_tick(t));
        }
        let yt: Vec<(f64, String)> = if self.log_y {
            (y0 as i32..=y1 as i32).map(|e| (10f64.powi(e), fmt_tick(10f64.powi(e)))).collect()
        } else {
            ticks(y0, y1, 6).into_iter().map(|t| (t, fmt_tick(t))).collect()
        };
        for (t, label) in yt {
            let y = sy(t);
            let _ = write!(s, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/>"##, LEFT + pw);
            let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#, LEFT - 6.0, y + 4.0);
        }
        let _ = write!(s, r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##);
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            H - 12.0,
            escape(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"#,
            TOP + ph / 2.0,
            TOP + ph / 2.0,
            escape(&self.y_label)
        );
        for (i, ser) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            if !ser.points.is_empty() {
                let mut d = String::new();
                let mut prev: Option<(f64, f64)> = None;
                for &(x, y) in &ser.points {
                    let (px, py) = (sx(x), sy(y));
                    match prev {
                        None => {
                            let _ = write!(d, "M{px:.1},{py:.1}");
                        }
                        Some((_, ly)) if ser.step => {
                            let _ = write!(d, " L{px:.1},{ly:.1} L{px:.1},{py:.1}");
                        }
                        Some(_) => {
                            let _ = write!(d, " L{px:.1},{py:.1}");
                        }
                    }
                    prev = Some((px, py));
                }
                let dash = if ser.dashed { r#" stroke-dasharray="6 4""# } else { "" };
                let _ = write!(s, r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>"#);
            }
            for &(x, lo, hi) in &ser.bars {
                let (px, plo, phi) = (sx(x), sy(lo), sy(hi));
                let mid = sy((lo + hi) / 2.0);
                let _ = write!(s, r#"<line x1="{px:.1}" y1="{plo:.1}" x2="{px:.1}" y2="{phi:.1}" stroke="{color}"/>"#);
                let _ = write!(s, r#"<circle cx="{px:.1}" cy="{mid:.1}" r="3" fill="{color}"/>"#);
            }
            let ly = TOP + 14.0 + 16.0 * i as f64;
            let lx = LEFT + 10.0;
            let dash = if ser.dashed { r#" stroke-dasharray="6 4""# } else { "" };
            let _ = write!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>"#,
                lx + 22.0
            );
            let _ = write!(s, r#"<text x="{}" y="{}">{}</text>"#, lx + 28.0, ly + 4.0, escape(&ser.label));
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(9.7, 20.3, 8), vec![10.0, 12.0, 14.0, 16.0, 18.0, 20.0]);
    }

    #[test]
    fn renders_a_closed_svg_with_escaped_labels() {
        let p = Plot {
            title: "a < b".into(),
            x_label: "s".into(),
            y_label: "F".into(),
            series: vec![Series {
                label: "x".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                step: true,
                dashed: false,
                bars: vec![],
            }],
            log_y: false,
        };
        let svg = p.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt; b"));
    }
}
