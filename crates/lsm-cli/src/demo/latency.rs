//! The whole run's put latency distribution: the headline numbers (worst
//! put, p99.9, puts slower than 1 ms and 10 ms), the points of its CDF,
//! and `put_latency.csv`.
//!
//! Everything here reads the HDR histogram of every put of the run
//! (nanoseconds, 3 significant digits, see `driver::new_latency_histogram`),
//! not the per-window percentiles, so the counts are of puts, not windows.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::StoreRun;

/// 1 ms in nanoseconds.
pub const ONE_MS_NS: u64 = 1_000_000;
/// 10 ms in nanoseconds.
pub const TEN_MS_NS: u64 = 10_000_000;

/// The headline numbers of one store's puts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Headline {
    /// Puts recorded.
    pub puts: u64,
    /// Median, microseconds.
    pub p50_us: f64,
    /// 99.9th percentile, microseconds.
    pub p999_us: f64,
    /// The slowest put, microseconds.
    pub max_us: f64,
    /// Puts that took longer than 1 ms.
    pub over_1ms: u64,
    /// Puts that took longer than 10 ms.
    pub over_10ms: u64,
}

impl Headline {
    /// The headline of `histogram` (nanoseconds), or `None` if it is empty.
    pub fn of(histogram: &Histogram<u64>) -> Option<Headline> {
        if histogram.is_empty() {
            return None;
        }
        let us = |nanos: u64| nanos as f64 / 1000.0;
        Some(Headline {
            puts: histogram.len(),
            p50_us: us(histogram.value_at_quantile(0.5)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
            over_1ms: count_over(histogram, ONE_MS_NS),
            over_10ms: count_over(histogram, TEN_MS_NS),
        })
    }
}

/// Puts slower than `threshold_ns`: those recorded in buckets whose every
/// value is above it (a bucket holds values equal to 3 significant digits,
/// so only puts within 0.1% of the threshold can be counted on the wrong
/// side).
pub fn count_over(histogram: &Histogram<u64>, threshold_ns: u64) -> u64 {
    histogram
        .iter_recorded()
        .filter(|v| histogram.lowest_equivalent(v.value_iterated_to()) > threshold_ns)
        .map(|v| v.count_at_value())
        .sum()
}

/// One recorded latency bucket: its value and how many puts were at most
/// that slow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CdfPoint {
    /// The bucket's latency (its highest equivalent value), microseconds.
    pub latency_us: f64,
    /// Puts in this bucket.
    pub count: u64,
    /// Puts in this bucket and every faster one.
    pub cumulative: u64,
}

/// Every recorded bucket of `histogram`, fastest first.
pub fn cdf(histogram: &Histogram<u64>) -> Vec<CdfPoint> {
    let mut cumulative = 0;
    histogram
        .iter_recorded()
        .map(|v| {
            cumulative += v.count_at_value();
            CdfPoint {
                latency_us: v.value_iterated_to() as f64 / 1000.0,
                count: v.count_at_value(),
                cumulative,
            }
        })
        .collect()
}

/// `points` thinned for drawing: the last point of each 1/100 decade of
/// latency, and the first point. As the kept point of a run of close
/// buckets is its last, cumulative counts stay exact where drawn, and the
/// last point (the worst put) is always kept.
pub fn thin(points: &[CdfPoint]) -> Vec<CdfPoint> {
    let slot = |p: &CdfPoint| (p.latency_us.max(1e-3).log10() * 100.0).floor() as i64;
    let mut out: Vec<CdfPoint> = Vec::new();
    for (i, point) in points.iter().enumerate() {
        match out.last_mut() {
            Some(previous) if i > 1 && slot(previous) == slot(point) => *previous = *point,
            _ => out.push(*point),
        }
    }
    out
}

/// The header of `put_latency.csv`.
pub const CSV_HEADER: &str = "store,latency_us,count,cumulative_count,cumulative_fraction";

/// `put_latency.csv`: every recorded latency bucket of every store's puts
/// over the whole run, fastest first.
pub fn render_csv(runs: &[StoreRun]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for run in runs {
        let total = run.put_histogram.len().max(1) as f64;
        for point in cdf(&run.put_histogram) {
            let _ = writeln!(
                out,
                "{},{:.3},{},{},{:.6}",
                run.kind.name(),
                point.latency_us,
                point.count,
                point.cumulative,
                point.cumulative as f64 / total
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values_ns: &[u64]) -> Histogram<u64> {
        let mut h = super::super::driver::new_latency_histogram().unwrap();
        for &v in values_ns {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn headline_counts_puts_over_one_and_ten_ms() {
        let mut values = vec![20_000; 1000];
        values.extend([
            900_000,
            1_000_000,
            1_500_000,
            9_000_000,
            12_000_000,
            250_000_000,
        ]);
        let headline = Headline::of(&histogram(&values)).unwrap();
        assert_eq!(headline.puts, 1006);
        // 1.5 ms, 9 ms, 12 ms, 250 ms: exactly 1 ms is not over 1 ms.
        assert_eq!(headline.over_1ms, 4);
        assert_eq!(headline.over_10ms, 2);
        assert!((headline.max_us - 250_000.0).abs() < 250.0, "{headline:?}");
        assert!(headline.p999_us <= headline.max_us);
        assert!((headline.p50_us - 20.0).abs() < 0.1, "{headline:?}");
        assert_eq!(Headline::of(&histogram(&[])), None);
    }

    #[test]
    fn cdf_is_cumulative_and_thinning_keeps_the_ends() {
        let values: Vec<u64> = (1..=5000).map(|i| i * 1000).collect();
        let points = cdf(&histogram(&values));
        assert_eq!(points.last().map(|p| p.cumulative), Some(5000));
        assert!(points.windows(2).all(|w| w[0].cumulative < w[1].cumulative));
        let thinned = thin(&points);
        assert!(thinned.len() < points.len() / 4, "{} points", thinned.len());
        assert_eq!(thinned.first(), points.first());
        assert_eq!(thinned.last(), points.last());
    }
}
