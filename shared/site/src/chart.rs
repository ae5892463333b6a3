//! The response-time chart of a monitored component: inline SVG drawn at build time from
//! the daily median and 95th percentile, with no script and no styles of its own.

use crate::snapshot::MonitoredDay;
use std::fmt::Write as _;

/// Width of one day, and the chart's height, in the SVG's own units.
const DAY_WIDTH: f64 = 3.0;
const HEIGHT: f64 = 60.0;

/// A round ceiling for the scale: 1, 2 or 5 times a power of ten.
fn nice_ceiling(ms: u64) -> u64 {
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if step * factor >= ms {
                return step * factor;
            }
        }
        step *= 10;
    }
}

/// The chart over `days` consecutive days from `first`, or `None` when the checks
/// measured no response time in them (heartbeats have none).
pub fn response_time_svg(checked: &[MonitoredDay], first: jiff::civil::Date, days: i64) -> Option<String> {
    let index = |date: jiff::civil::Date| {
        date.since(first).ok().map(|s| i64::from(s.get_days())).filter(|n| (0..days).contains(n))
    };
    let points: Vec<(i64, u64, u64)> =
        checked.iter().filter_map(|d| Some((index(d.date)?, d.p50_ms?, d.p95_ms.or(d.p50_ms)?))).collect();
    let top = nice_ceiling(points.iter().map(|p| p.2).max()?.max(1));
    let y = |ms: u64| HEIGHT - (ms.min(top) as f64 / top as f64) * (HEIGHT - 2.0) - 1.0;
    let width = days as f64 * DAY_WIDTH;
    // Missing days break the line instead of bridging it.
    let lines = |pick: fn(&(i64, u64, u64)) -> u64| {
        let mut runs: Vec<String> = Vec::new();
        let mut previous: Option<i64> = None;
        for p in &points {
            let x = p.0 as f64 * DAY_WIDTH + DAY_WIDTH / 2.0;
            let point = format!("{x:.1},{:.1}", y(pick(p)));
            match (previous, runs.last_mut()) {
                (Some(n), Some(run)) if n + 1 == p.0 => {
                    run.push(' ');
                    run.push_str(&point);
                }
                _ => runs.push(point),
            }
            previous = Some(p.0);
        }
        runs
    };
    let (_, last_p50, last_p95) = points.last().copied()?;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {width} {HEIGHT}" preserveAspectRatio="none" role="img" aria-label="Response time over the last {days} days: latest day's median {last_p50} ms, 95th percentile {last_p95} ms; scale up to {top} ms"><title>Response time (median and 95th percentile per day)</title>"#
    );
    let _ = write!(
        svg,
        r#"<line x1="0" y1="{HEIGHT}" x2="{width}" y2="{HEIGHT}" stroke="currentColor" stroke-opacity="0.25" vector-effect="non-scaling-stroke"/>"#
    );
    for (pick, opacity) in [((|p: &(i64, u64, u64)| p.2) as fn(&(i64, u64, u64)) -> u64, "0.35"), (|p| p.1, "1")] {
        for run in lines(pick) {
            if run.contains(' ') {
                let _ = write!(
                    svg,
                    r#"<polyline points="{run}" fill="none" stroke="currentColor" stroke-opacity="{opacity}" stroke-width="1.5" vector-effect="non-scaling-stroke"/>"#
                );
            } else if let Some((x, y)) = run.split_once(',') {
                let _ =
                    write!(svg, r#"<circle cx="{x}" cy="{y}" r="1.2" fill="currentColor" fill-opacity="{opacity}"/>"#);
            }
        }
    }
    svg.push_str("</svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, p50: Option<u64>, p95: Option<u64>) -> MonitoredDay {
        MonitoredDay {
            date: date.parse().unwrap_or_else(|e| panic!("{e}")),
            down_seconds: 0,
            degraded_seconds: 0,
            observed_seconds: 86_400,
            maintenance_seconds: 0,
            p50_ms: p50,
            p95_ms: p95,
        }
    }

    fn first() -> jiff::civil::Date {
        "2026-06-01".parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_line_per_run_of_days_scaled_to_a_round_ceiling() {
        let checked = [
            day("2026-06-01", Some(100), Some(300)),
            day("2026-06-02", Some(120), Some(350)),
            // June 3 missing: the line breaks.
            day("2026-06-04", Some(90), Some(200)),
            day("2026-06-05", Some(95), Some(210)),
        ];
        let svg = response_time_svg(&checked, first(), 90).unwrap_or_else(|| panic!("a chart"));
        assert!(svg.starts_with("<svg viewBox=\"0 0 270 60\""), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 4, "two runs, each p50 and p95: {svg}");
        assert!(svg.contains("median 95 ms, 95th percentile 210 ms; scale up to 500 ms"), "{svg}");
        assert!(!svg.contains("<script") && !svg.contains("style="));
    }

    #[test]
    fn no_latency_no_chart() {
        assert_eq!(response_time_svg(&[day("2026-06-01", None, None)], first(), 90), None);
        assert_eq!(response_time_svg(&[], first(), 90), None);
        // Outside the window.
        assert_eq!(response_time_svg(&[day("2026-01-01", Some(5), Some(9))], first(), 90), None);
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!([1, 3, 7, 12, 150, 999, 1001].map(nice_ceiling), [1, 5, 10, 20, 200, 1000, 2000]);
    }
}
