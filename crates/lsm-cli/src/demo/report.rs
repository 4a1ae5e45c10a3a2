//! The HTML report: a self-contained page (inline CSS and SVG, no scripts,
//! no external files): the headline numbers of put latency, the machine,
//! build and settings the run used, a summary table per store, and the
//! panels: the put latency distribution (both stores in one chart), then
//! one chart per store side by side on shared axes.

use std::fmt::Write as _;

use plotters::style::RGBColor;

use super::charts::{self, Axis, ChartSpec, HLine, Markers, Scale, Series, Style, Unit};
use super::latency::{self, Headline};
use super::sampler::Sample;
use super::store::StoreKind;
use super::StoreRun;

const PUTS: RGBColor = RGBColor(31, 119, 180);
const GETS: RGBColor = RGBColor(44, 160, 44);
const DELETES: RGBColor = RGBColor(214, 39, 40);
const RANGES: RGBColor = RGBColor(148, 103, 189);
/// Flush markers: solid orange.
const FLUSH: RGBColor = RGBColor(255, 127, 14);
/// Compaction markers: dashed dark violet, unlike any series colour.
const COMPACTION: RGBColor = RGBColor(90, 40, 140);
const MEMTABLE: RGBColor = RGBColor(31, 119, 180);
const IMMUTABLE: RGBColor = RGBColor(23, 190, 207);
const P50: RGBColor = RGBColor(44, 160, 44);
const P99: RGBColor = RGBColor(31, 119, 180);
const MAX: RGBColor = RGBColor(214, 39, 40);
const QUEUE: RGBColor = RGBColor(31, 119, 180);
const LAG: RGBColor = RGBColor(214, 39, 40);
/// Reference lines (memtable limit, L0 trigger).
const LIMIT: RGBColor = RGBColor(60, 60, 60);
const LEVEL_COLORS: [RGBColor; 8] = [
    RGBColor(23, 190, 207),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The colour of a store's line where both stores share a chart.
fn store_color(kind: StoreKind) -> RGBColor {
    match kind {
        StoreKind::Simple => RGBColor(214, 39, 40),
        StoreKind::Async => RGBColor(31, 119, 180),
    }
}

/// The report's panel titles, in order (the last only with an async run).
pub const PANEL_TITLES: [&str; 7] = [
    "Put latency distribution",
    "Put latency over time",
    "Throughput",
    "Memtable",
    "Tables per level",
    "Bytes per level",
    "Apply queue and watermark lag",
];

/// What the report shows besides the runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The demo's settings, one `(name, value)` each.
    pub items: Vec<(String, String)>,
    /// The machine and build, one `(name, value)` each.
    pub metadata: Vec<(String, String)>,
    /// Where the samples CSV is (named in the report).
    pub csv_path: String,
    /// Where the put latency distribution CSV is.
    pub latency_csv_path: String,
    /// Memtable bytes that trigger a flush (a line on the memtable chart).
    pub memtable_limit_bytes: u64,
    /// L0 tables that trigger a compaction (a line on the tables chart).
    pub l0_trigger: u64,
}

/// What one legend entry looks like.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    Line,
    Band,
    Marker,
    DashedMarker,
    Limit,
}

/// One cell of a panel row: a chart or a note saying why there is none.
enum Cell {
    Chart(String),
    Note(String),
}

struct Row {
    legend: Vec<(String, RGBColor, Swatch)>,
    /// `(caption, cell)`.
    cells: Vec<(String, Cell)>,
}

struct Panel {
    title: &'static str,
    id: &'static str,
    description: &'static str,
    row: Row,
}

fn seconds(sample: &Sample) -> f64 {
    sample.elapsed_ms as f64 / 1000.0
}

const MIB: f64 = 1024.0 * 1024.0;

/// Times of the samples at which `counter` had grown since the one before.
fn events(samples: &[Sample], counter: impl Fn(&Sample) -> u64) -> Vec<f64> {
    let mut previous = 0;
    let mut xs = Vec::new();
    for sample in samples {
        let now = counter(sample);
        if now > previous {
            xs.push(seconds(sample));
        }
        previous = now;
    }
    xs
}

fn flush_markers(samples: &[Sample]) -> Markers {
    Markers {
        label: "flush".into(),
        color: FLUSH,
        dashed: false,
        xs: events(samples, |s| s.flushes),
    }
}

fn compaction_markers(samples: &[Sample]) -> Markers {
    Markers {
        label: "compaction".into(),
        color: COMPACTION,
        dashed: true,
        xs: events(samples, |s| s.compactions),
    }
}

fn series(
    label: &str,
    color: RGBColor,
    samples: &[Sample],
    value: impl Fn(&Sample) -> Option<f64>,
) -> Series {
    Series {
        label: label.to_string(),
        color,
        points: samples
            .iter()
            .filter_map(|s| value(s).map(|v| (seconds(s), v)))
            .collect(),
    }
}

/// The largest point of all series, or `empty` if none is above zero.
fn max_of(all: &[Vec<Series>], empty: f64) -> f64 {
    let max = all
        .iter()
        .flatten()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    if max > 0.0 {
        max
    } else {
        empty
    }
}

/// The smallest positive point of all series (for log axes).
fn min_positive(all: &[Vec<Series>], fallback: f64) -> f64 {
    let min = all
        .iter()
        .flatten()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if min.is_finite() {
        min
    } else {
        fallback
    }
}

fn legend_of(
    series: &[Series],
    swatch: Swatch,
    markers: &[Markers],
    hlines: &[HLine],
) -> Vec<(String, RGBColor, Swatch)> {
    let mut legend: Vec<_> = series
        .iter()
        .map(|s| (s.label.clone(), s.color, swatch))
        .collect();
    legend.extend(markers.iter().map(|m| {
        let swatch = if m.dashed {
            Swatch::DashedMarker
        } else {
            Swatch::Marker
        };
        (m.label.clone(), m.color, swatch)
    }));
    legend.extend(
        hlines
            .iter()
            .map(|h| (h.label.clone(), h.color, Swatch::Limit)),
    );
    legend
}

/// How the charts of one time-series row look.
struct RowSpec<'a> {
    y_desc: &'a str,
    y_scale: Scale,
    y_unit: Unit,
    style: Style,
    /// Step-shaped series (values that jump at events).
    step: bool,
    /// Reference lines, on every chart of the row.
    hlines: Vec<HLine>,
}

impl<'a> RowSpec<'a> {
    fn new(y_desc: &'a str, style: Style) -> RowSpec<'a> {
        RowSpec {
            y_desc,
            y_scale: Scale::Linear,
            y_unit: Unit::Plain,
            style,
            step: false,
            hlines: Vec::new(),
        }
    }
}

/// One chart per run on shared axes over time: `build` gives each run's
/// series and markers.
fn chart_row(
    runs: &[&StoreRun],
    x_max: f64,
    spec: &RowSpec<'_>,
    build: impl Fn(&StoreRun) -> (Vec<Series>, Vec<Markers>),
) -> anyhow::Result<Row> {
    let built: Vec<(Vec<Series>, Vec<Markers>)> = runs.iter().map(|r| build(r)).collect();
    let all: Vec<Vec<Series>> = built.iter().map(|(s, _)| s.clone()).collect();
    let limit_max = spec.hlines.iter().map(|h| h.y).fold(0.0, f64::max);
    let y_range = match (spec.y_scale, spec.style) {
        (Scale::Log, _) => min_positive(&all, 1.0)..max_of(&all, 1.0).max(limit_max),
        (Scale::Linear, Style::StackedAreas) => {
            let stacked_max = all
                .iter()
                .map(|series| {
                    let len = series.first().map_or(0, |s| s.points.len());
                    (0..len)
                        .map(|j| {
                            series
                                .iter()
                                .map(|s| s.points.get(j).map_or(0.0, |p| p.1))
                                .sum::<f64>()
                        })
                        .fold(0.0, f64::max)
                })
                .fold(0.0, f64::max);
            let stacked_max = if stacked_max > 0.0 { stacked_max } else { 1.0 };
            0.0..stacked_max.max(limit_max) * 1.1
        }
        (Scale::Linear, Style::Lines) => 0.0..max_of(&all, 1.0).max(limit_max) * 1.1,
    };
    let swatch = match spec.style {
        Style::Lines => Swatch::Line,
        Style::StackedAreas => Swatch::Band,
    };
    let legend = built
        .first()
        .map(|(s, m)| legend_of(s, swatch, m, &spec.hlines))
        .unwrap_or_default();
    let mut cells = Vec::with_capacity(runs.len());
    for (run, (series, markers)) in runs.iter().zip(&built) {
        let svg = charts::render(&ChartSpec {
            x: Axis::linear("seconds", 0.0..x_max),
            y: Axis::linear(spec.y_desc, y_range.clone())
                .scale(spec.y_scale)
                .unit(spec.y_unit),
            style: spec.style,
            step: spec.step,
            series,
            markers,
            hlines: &spec.hlines,
        })?;
        cells.push((run.kind.type_name().to_string(), Cell::Chart(svg)));
    }
    Ok(Row { legend, cells })
}

/// The put latency distribution of every run, both stores on one chart:
/// the CDF (share of puts at most this slow) and its tail (share of puts
/// at least this slow, log scale), on a log latency axis.
fn distribution_row(runs: &[StoreRun]) -> anyhow::Result<Row> {
    let mut cdfs = Vec::new();
    let mut tails = Vec::new();
    for run in runs {
        let total = run.put_histogram.len();
        if total == 0 {
            continue;
        }
        let points = latency::thin(&latency::cdf(&run.put_histogram));
        let share = |n: u64| n as f64 * 100.0 / total as f64;
        let label = run.kind.type_name().to_string();
        let color = store_color(run.kind);
        cdfs.push(Series {
            label: label.clone(),
            color,
            points: points
                .iter()
                .map(|p| (p.latency_us, share(p.cumulative)))
                .collect(),
        });
        // Puts at least as slow as each bucket: all but those before it.
        let mut before = 0;
        let tail = points
            .iter()
            .map(|p| {
                let point = (p.latency_us, share(total - before));
                before = p.cumulative;
                point
            })
            .collect();
        tails.push(Series {
            label,
            color,
            points: tail,
        });
    }
    let legend = legend_of(&cdfs, Swatch::Line, &[], &[]);
    if cdfs.is_empty() {
        return Ok(Row {
            legend,
            cells: vec![(
                "CDF".to_string(),
                Cell::Note("No puts: run with a --write-rate other than off.".to_string()),
            )],
        });
    }
    let all = [cdfs.clone()];
    let latency_range = {
        let xs = || cdfs.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        xs().fold(f64::INFINITY, f64::min).max(1e-3)..xs().fold(1.0, f64::max)
    };
    let smallest_share = min_positive(&[tails.clone()], 100.0).min(min_positive(&all, 100.0));
    let cdf = charts::render(&ChartSpec {
        x: Axis::linear("put latency (log scale)", latency_range.clone())
            .scale(Scale::Log)
            .unit(Unit::Micros),
        y: Axis::linear("puts at most this slow", 0.0..100.0).unit(Unit::Percent),
        style: Style::Lines,
        step: true,
        series: &cdfs,
        markers: &[],
        hlines: &[],
    })?;
    let tail = charts::render(&ChartSpec {
        x: Axis::linear("put latency (log scale)", latency_range)
            .scale(Scale::Log)
            .unit(Unit::Micros),
        y: Axis::linear("puts at least this slow", smallest_share..100.0)
            .scale(Scale::Log)
            .unit(Unit::Percent),
        style: Style::Lines,
        step: true,
        series: &tails,
        markers: &[],
        hlines: &[],
    })?;
    Ok(Row {
        legend,
        cells: vec![
            ("CDF".to_string(), Cell::Chart(cdf)),
            ("Tail (log scale)".to_string(), Cell::Chart(tail)),
        ],
    })
}

fn panels(runs: &[StoreRun], settings: &Settings) -> anyhow::Result<Vec<Panel>> {
    let every: Vec<&StoreRun> = runs.iter().collect();
    let x_max = runs
        .iter()
        .flat_map(|r| r.samples.last().map(seconds))
        .fold(1.0, f64::max);
    let levels = runs
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| s.level_files.len()))
        .max()
        .unwrap_or(0);
    let mut panels = Vec::new();

    panels.push(Panel {
        title: PANEL_TITLES[0],
        id: "latency-distribution",
        description: "Every put of the run, both stores on one chart, on a log latency axis. \
            Left, the CDF: the share of puts that took at most this long. Right, its tail: \
            the share that took at least this long, on a log scale, where the slowest \
            0.1% and the single worst put (the last step) are visible.",
        row: distribution_row(runs)?,
    });

    panels.push(Panel {
        title: PANEL_TITLES[1],
        id: "latency",
        description: "Put latency percentiles within each sample window (log scale), with \
            flush (solid) and compaction (dashed) markers. The simple store flushes and \
            compacts on the writing thread, so its slowest puts wait for that work; the \
            async store's puts return after the WAL append.",
        row: chart_row(
            &every,
            x_max,
            &RowSpec {
                y_scale: Scale::Log,
                y_unit: Unit::Micros,
                ..RowSpec::new("put latency", Style::Lines)
            },
            |run| {
                let s = &run.samples;
                (
                    vec![
                        series("p50", P50, s, |x| x.put_latency.map(|l| l.p50_us)),
                        series("p99", P99, s, |x| x.put_latency.map(|l| l.p99_us)),
                        series("max", MAX, s, |x| x.put_latency.map(|l| l.max_us)),
                    ],
                    vec![flush_markers(s), compaction_markers(s)],
                )
            },
        )?,
    });

    panels.push(Panel {
        title: PANEL_TITLES[2],
        id: "throughput",
        description: "Operations completed per second in each sample window (log scale). \
            Dips in puts are writers blocked by the store.",
        row: chart_row(
            &every,
            x_max,
            &RowSpec {
                y_scale: Scale::Log,
                ..RowSpec::new("ops/s", Style::Lines)
            },
            |run| {
                let s = &run.samples;
                (
                    vec![
                        series("puts", PUTS, s, |x| Some(x.puts_per_s)),
                        series("gets", GETS, s, |x| Some(x.gets_per_s)),
                        series("deletes", DELETES, s, |x| Some(x.deletes_per_s)),
                        series("range scans", RANGES, s, |x| Some(x.ranges_per_s)),
                    ],
                    vec![],
                )
            },
        )?,
    });

    panels.push(Panel {
        title: PANEL_TITLES[3],
        id: "memtable",
        description: "Bytes in the active memtable and in frozen memtables waiting for \
            flush, with the limit that freezes the memtable; a marker wherever the flush \
            counter grew since the previous sample.",
        row: chart_row(
            &every,
            x_max,
            &RowSpec {
                hlines: vec![HLine {
                    label: format!(
                        "memtable limit ({})",
                        fmt_mib(settings.memtable_limit_bytes)
                    ),
                    color: LIMIT,
                    y: settings.memtable_limit_bytes as f64 / MIB,
                }],
                ..RowSpec::new("MiB", Style::Lines)
            },
            |run| {
                let s = &run.samples;
                (
                    vec![
                        series("active memtable", MEMTABLE, s, |x| {
                            Some(x.memtable_bytes as f64 / MIB)
                        }),
                        series("frozen memtables", IMMUTABLE, s, |x| {
                            Some(x.immutable_bytes as f64 / MIB)
                        }),
                    ],
                    vec![flush_markers(s)],
                )
            },
        )?,
    });

    let level_series = |run: &StoreRun, bytes: bool| -> Vec<Series> {
        (0..levels)
            .map(|level| {
                let color = LEVEL_COLORS[level % LEVEL_COLORS.len()];
                series(&format!("L{level}"), color, &run.samples, |x| {
                    Some(if bytes {
                        x.level_bytes.get(level).copied().unwrap_or(0) as f64 / MIB
                    } else {
                        x.level_files.get(level).copied().unwrap_or(0) as f64
                    })
                })
            })
            .collect()
    };
    panels.push(Panel {
        title: PANEL_TITLES[4],
        id: "tables",
        description: "Tables in each level, stacked (L0 at the bottom), as steps: a count \
            holds until the sample where it changed. The line is the L0 trigger: when L0 \
            reaches it, L0 is compacted into L1. Flush and compaction markers where the \
            counters grew since the previous sample.",
        row: chart_row(
            &every,
            x_max,
            &RowSpec {
                step: true,
                hlines: vec![HLine {
                    label: format!("L0 trigger ({} tables)", settings.l0_trigger),
                    color: LIMIT,
                    y: settings.l0_trigger as f64,
                }],
                ..RowSpec::new("tables", Style::StackedAreas)
            },
            |run| {
                (
                    level_series(run, false),
                    vec![
                        flush_markers(&run.samples),
                        compaction_markers(&run.samples),
                    ],
                )
            },
        )?,
    });
    panels.push(Panel {
        title: PANEL_TITLES[5],
        id: "bytes",
        description: "Table bytes in each level, as steps, with compaction markers: flushes \
            grow L0, compactions move bytes down.",
        row: chart_row(
            &every,
            x_max,
            &RowSpec {
                step: true,
                ..RowSpec::new("MiB", Style::Lines)
            },
            |run| {
                (
                    level_series(run, true),
                    vec![compaction_markers(&run.samples)],
                )
            },
        )?,
    });

    let async_runs: Vec<&StoreRun> = runs.iter().filter(|r| r.kind == StoreKind::Async).collect();
    if !async_runs.is_empty() {
        let build = |run: &StoreRun| {
            let s = &run.samples;
            (
                vec![
                    series("apply queue depth (max in window)", QUEUE, s, |x| {
                        x.apply_queue_max.map(|d| d as f64)
                    }),
                    series("watermark lag (last_seq - visible_seq)", LAG, s, |x| {
                        Some(x.watermark_lag() as f64)
                    }),
                ],
                vec![flush_markers(s)],
            )
        };
        let mut row = chart_row(
            &async_runs,
            x_max,
            &RowSpec::new("writes", Style::Lines),
            build,
        )?;
        let mut cells = Vec::new();
        for run in runs {
            if run.kind == StoreKind::Async {
                if !row.cells.is_empty() {
                    cells.push(row.cells.remove(0));
                }
            } else {
                cells.push((
                    run.kind.type_name().to_string(),
                    Cell::Note(
                        "Not applicable: SimpleLsmStore applies every write to the memtable \
                         before the put returns, so it has no apply queue and no lag."
                            .to_string(),
                    ),
                ));
            }
        }
        row.cells = cells;
        panels.push(Panel {
            title: PANEL_TITLES[6],
            id: "apply-queue",
            description: "AsyncLsmStore only: the most writes seen waiting in the apply queue \
                during each window (AsyncLsmStore::queued_writes, polled every 2 ms), and the \
                watermark lag last_seq - visible_seq from StoreStats at the sample: writes \
                acknowledged but not yet readable. Both stay near zero while the applier \
                keeps up; they grow when writes arrive faster than it applies them.",
            row,
        });
    }
    Ok(panels)
}

/// Bytes as `4 MiB` or `64 KiB`.
fn fmt_mib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", charts::compact(bytes as f64 / MIB))
    } else {
        format!("{} KiB", charts::compact(bytes as f64 / 1024.0))
    }
}

/// An integer with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The headline: the story in numbers, each store side by side. Every
/// number is also in a `data-value` attribute (raw: microseconds or a
/// count) with `data-store` and `data-metric`, for scripts and tests.
fn headline_html(runs: &[StoreRun]) -> String {
    let headlines: Vec<(StoreKind, Option<Headline>)> = runs
        .iter()
        .map(|r| (r.kind, Headline::of(&r.put_histogram)))
        .collect();
    let mut html = String::from(
        "<section id=\"headline\"><h2>Headline: how slow did puts get?</h2>\
         <table class=\"headline\"><tr><th></th>",
    );
    for (kind, _) in &headlines {
        let _ = write!(html, "<th>{}</th>", kind.type_name());
    }
    html.push_str("</tr>");
    type Metric = fn(&Headline) -> (f64, String);
    let metrics: [(&str, &str, Metric); 5] = [
        ("worst put", "max_us", |h| {
            (h.max_us, fmt_us(Some(h.max_us)))
        }),
        ("p99.9", "p999_us", |h| (h.p999_us, fmt_us(Some(h.p999_us)))),
        ("puts slower than 1 ms", "over_1ms", |h| {
            (h.over_1ms as f64, count_share(h.over_1ms, h.puts))
        }),
        ("puts slower than 10 ms", "over_10ms", |h| {
            (h.over_10ms as f64, count_share(h.over_10ms, h.puts))
        }),
        ("puts", "puts", |h| (h.puts as f64, thousands(h.puts))),
    ];
    for (name, metric, value) in metrics {
        let _ = write!(html, "<tr><th>{name}</th>");
        for (kind, headline) in &headlines {
            match headline {
                Some(h) => {
                    let (raw, text) = value(h);
                    let _ = write!(
                        html,
                        "<td data-store=\"{}\" data-metric=\"{metric}\" data-value=\"{raw}\">{}</td>",
                        kind.name(),
                        escape(&text)
                    );
                }
                None => html.push_str("<td>no puts</td>"),
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</table><p class=\"desc\">");
    let sentences: Vec<String> = headlines
        .iter()
        .filter_map(|(kind, h)| {
            h.map(|h| {
                format!(
                    "{}: the slowest of {} puts took {}; {} took longer than 1 ms and {} \
                     longer than 10 ms.",
                    kind.type_name(),
                    thousands(h.puts),
                    fmt_us(Some(h.max_us)),
                    thousands(h.over_1ms),
                    thousands(h.over_10ms)
                )
            })
        })
        .collect();
    html.push_str(&escape(&sentences.join(" ")));
    html.push_str(
        " Counted over every put of the run from an HDR histogram (3 significant digits), \
         not from the per-window percentiles.</p></section>\n",
    );
    html
}

/// `count` and its share of `total`: `1,234 (0.52%)`.
fn count_share(count: u64, total: u64) -> String {
    if total == 0 {
        return thousands(count);
    }
    let share = count as f64 * 100.0 / total as f64;
    let share = if share == 0.0 || share >= 0.1 {
        format!("{share:.1}%")
    } else {
        format!("{share:.3}%")
    };
    format!("{} ({share})", thousands(count))
}

/// The machine, build and settings block.
fn metadata_html(settings: &Settings) -> String {
    let mut html = String::from(
        "<section id=\"metadata\" class=\"meta\"><h2>Machine, build and settings</h2><dl>",
    );
    for (name, value) in settings.metadata.iter().chain(&settings.items) {
        let _ = write!(html, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(value));
    }
    html.push_str("</dl>");
    if cfg!(debug_assertions) {
        html.push_str(
            "<p class=\"warn\">This is a debug build: its latencies are many times those of \
             a release build. Run <code>cargo run --release -p lsm-cli -- demo</code>.</p>",
        );
    }
    html.push_str("</section>\n");
    html
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A latency in microseconds as `4.8 µs` or `118.75 ms` (`–` if none).
pub fn fmt_us(value: Option<f64>) -> String {
    match value {
        Some(us) if us >= 1000.0 => format!("{:.2} ms", us / 1000.0),
        Some(us) => format!("{us:.1} µs"),
        None => "–".to_string(),
    }
}

fn summary_table(runs: &[StoreRun]) -> String {
    let mut html = String::from("<table class=\"summary\"><tr><th></th>");
    for run in runs {
        let _ = write!(html, "<th>{}</th>", run.kind.type_name());
    }
    html.push_str("</tr>");
    let mut row = |name: &str, cell: &dyn Fn(&StoreRun) -> String| {
        let _ = write!(html, "<tr><th>{name}</th>");
        for run in runs {
            let _ = write!(html, "<td>{}</td>", escape(&cell(run)));
        }
        html.push_str("</tr>");
    };
    row("workload time", &|r| format!("{:.1} s", r.workload_secs));
    row("puts / gets / deletes / range scans", &|r| {
        format!(
            "{} / {} / {} / {}",
            r.totals.puts, r.totals.gets, r.totals.deletes, r.totals.ranges
        )
    });
    row("puts per second (average)", &|r| {
        charts::compact(r.totals.puts as f64 / r.workload_secs.max(1e-9))
    });
    row("flushes", &|r| r.final_stats.flushes.to_string());
    row("compactions (trivial moves)", &|r| {
        format!(
            "{} ({})",
            r.final_stats.compactions, r.final_stats.trivial_moves
        )
    });
    row("put latency p50 / p99 / p99.9 / max", &|r| {
        let l = r.put_latency;
        format!(
            "{} / {} / {} / {}",
            fmt_us(l.map(|l| l.p50_us)),
            fmt_us(l.map(|l| l.p99_us)),
            fmt_us(l.map(|l| l.p999_us)),
            fmt_us(l.map(|l| l.max_us))
        )
    });
    row("tables per level at the end", &|r| {
        r.final_stats
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("L{i}: {}", l.files))
            .collect::<Vec<_>>()
            .join("  ")
    });
    row(
        "write amplification (table + WAL bytes / user bytes)",
        &|r| {
            let s = &r.final_stats;
            let written = s.flush_bytes_written + s.compaction_bytes_written + s.wal_bytes_written;
            if s.user_bytes_written == 0 {
                "–".to_string()
            } else {
                format!("{:.2}", written as f64 / s.user_bytes_written as f64)
            }
        },
    );
    row("close time", &|r| format!("{:.2} s", r.close_secs));
    html.push_str("</table>");
    html
}

fn legend_html(legend: &[(String, RGBColor, Swatch)]) -> String {
    let mut html = String::from("<div class=\"legend\">");
    for (label, color, swatch) in legend {
        let class = match swatch {
            Swatch::Line => "line",
            Swatch::Band => "band",
            Swatch::Marker => "marker",
            Swatch::DashedMarker => "marker dashed",
            Swatch::Limit => "limit",
        };
        let _ = write!(
            html,
            "<span><i class=\"{class}\" style=\"--c:{}\"></i>{}</span>",
            charts::hex(*color),
            escape(label)
        );
    }
    html.push_str("</div>");
    html
}

/// The CSV columns and what they mean (also in the module docs).
pub const CSV_COLUMNS: [(&str, &str); 20] = [
    ("store", "simple or async"),
    ("elapsed_ms", "milliseconds since the store's workload started"),
    ("puts_per_s, gets_per_s, deletes_per_s, ranges_per_s", "operations completed per second in the window since the previous sample"),
    ("put_p50_us, put_p99_us, put_p999_us, put_max_us", "put latency percentiles in the window, microseconds (empty: no put completed)"),
    ("memtable_bytes", "bytes in the active memtable"),
    ("immutable_memtables", "frozen memtables waiting for flush"),
    ("immutable_bytes", "bytes in frozen memtables"),
    ("flushes", "memtable flushes since open (cumulative; a flush marker where it grew)"),
    ("compactions", "compactions since open, trivial moves included (cumulative; a compaction marker where it grew)"),
    ("lN_files", "tables in level N, one column per level"),
    ("lN_bytes", "table bytes in level N, one column per level"),
    ("wal_bytes", "bytes of WAL segments on disk"),
    ("last_seq", "last sequence number the WAL assigned"),
    ("visible_seq", "applied watermark: reads see writes up to here"),
    ("watermark_lag", "last_seq - visible_seq"),
    ("apply_queue_depth", "async store: writes waiting in the apply queue at the sample (empty for simple)"),
    ("apply_queue_max", "async store: the most writes seen waiting in the apply queue during the window, polled every 2 ms (empty for simple)"),
    ("pending_compactions", "async store: compaction jobs waiting to run (empty for simple)"),
    ("(sources)", "rates and latencies come from the workload driver; apply_queue_* and pending_compactions from AsyncLsmStore's public queued_writes() and pending_compactions(); every other column from the store's public stats()"),
    ("(sampling)", "one row per --sample-ms per store"),
];

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #222; max-width: 1280px; }
h1 { margin-bottom: 4px; }
h2 { margin: 32px 0 4px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.top { display: flex; flex-wrap: wrap; gap: 8px 40px; }
.top h2 { margin-top: 16px; }
#headline { flex: 1 1 520px; }
#metadata { flex: 1 1 460px; }
p.desc { margin: 4px 0 8px; color: #444; max-width: 1000px; }
table.summary { border-collapse: collapse; margin: 16px 0; font-size: 14px; }
table.summary th, table.summary td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
table.summary tr th:first-child { background: #f7f7f7; font-weight: 500; }
table.headline { border-collapse: collapse; margin: 8px 0; }
table.headline th, table.headline td { padding: 4px 18px 4px 0; text-align: left; }
table.headline tr:first-child th { font-size: 15px; color: #555; font-weight: 600; }
table.headline tr th:first-child { font-weight: 500; color: #444; }
table.headline td { font-size: 24px; font-weight: 700; font-variant-numeric: tabular-nums; }
.meta dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 13px; color: #444; margin: 8px 0; }
.meta dt { font-weight: 600; color: #222; }
.meta dd { margin: 0; }
.warn { background: #fff3cd; border: 1px solid #e0c36b; padding: 6px 10px; font-size: 14px; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 2px; }
.note { width: 600px; height: 300px; display: flex; align-items: center; justify-content: center; background: #fafafa; color: #666; border: 1px dashed #ccc; padding: 24px; box-sizing: border-box; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; font-size: 14px; margin-bottom: 6px; }
.legend i { display: inline-block; width: 22px; margin-right: 6px; vertical-align: middle; }
.legend i.line { height: 3px; background: var(--c); }
.legend i.band { height: 12px; background: var(--c); }
.legend i.marker { height: 14px; width: 0; border-left: 2px solid var(--c); margin-left: 10px; margin-right: 14px; }
.legend i.marker.dashed { border-left-style: dashed; }
.legend i.limit { height: 0; border-top: 2px dashed var(--c); }
dl.csv { font-size: 14px; } dl.csv dt { font-family: monospace; margin-top: 6px; } dl.csv dd { margin-left: 20px; color: #444; }
";

/// Renders the report page.
pub fn render(runs: &[StoreRun], settings: &Settings) -> anyhow::Result<String> {
    let mut html = String::new();
    let names: Vec<&str> = runs.iter().map(|r| r.kind.type_name()).collect();
    let title = format!("lsm demo: {}", names.join(" vs "));
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    html.push_str("<div class=\"top\">");
    html.push_str(&headline_html(runs));
    html.push_str(&metadata_html(settings));
    html.push_str("</div>\n");
    let _ = writeln!(
        html,
        "<p class=\"desc\">Each store ran the same seeded workload in a fresh directory, \
         sampled through its public <code>stats()</code>. The raw samples are in <code>{}</code>, \
         every put's latency in <code>{}</code>.</p>",
        escape(&settings.csv_path),
        escape(&settings.latency_csv_path)
    );
    html.push_str(&summary_table(runs));
    for (i, panel) in panels(runs, settings)?.iter().enumerate() {
        let _ = write!(
            html,
            "\n<section id=\"{}\"><h2>{}. {}</h2><p class=\"desc\">{}</p>{}<div class=\"row\">",
            panel.id,
            i + 1,
            panel.title,
            escape(panel.description),
            legend_html(&panel.row.legend)
        );
        for (caption, cell) in &panel.row.cells {
            let _ = write!(html, "<figure><figcaption>{}</figcaption>", escape(caption));
            match cell {
                Cell::Chart(svg) => html.push_str(svg),
                Cell::Note(text) => {
                    let _ = write!(html, "<div class=\"note\">{}</div>", escape(text));
                }
            }
            html.push_str("</figure>");
        }
        html.push_str("</div></section>\n");
    }
    html.push_str("\n<h2>CSV columns</h2><dl class=\"csv\">");
    for (name, meaning) in CSV_COLUMNS {
        let _ = write!(
            html,
            "<dt>{}</dt><dd>{}</dd>",
            escape(name),
            escape(meaning)
        );
    }
    let _ = write!(
        html,
        "<dt>put_latency.csv</dt><dd>{}: every recorded latency bucket of every store's puts \
         over the whole run (HDR histogram, 3 significant digits), fastest first</dd>",
        escape(latency::CSV_HEADER)
    );
    html.push_str("</dl>\n</body></html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separate_groups_of_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn shares_keep_small_fractions_visible() {
        assert_eq!(count_share(0, 100), "0 (0.0%)");
        assert_eq!(count_share(5, 100), "5 (5.0%)");
        assert_eq!(count_share(3, 100_000), "3 (0.003%)");
    }
}
