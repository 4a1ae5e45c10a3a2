//! The HTML report: a self-contained page (inline CSS and SVG, no scripts,
//! no external files) with the run's settings, a summary table per store,
//! and the panels, each with one chart per store side by side on shared
//! axes.

use std::fmt::Write as _;

use plotters::style::RGBColor;

use super::charts::{self, ChartSpec, Markers, Series, Style, YScale};
use super::sampler::Sample;
use super::store::StoreKind;
use super::StoreRun;

const PUTS: RGBColor = RGBColor(31, 119, 180);
const GETS: RGBColor = RGBColor(44, 160, 44);
const DELETES: RGBColor = RGBColor(214, 39, 40);
const RANGES: RGBColor = RGBColor(148, 103, 189);
const FLUSH: RGBColor = RGBColor(255, 127, 14);
const COMPACTION: RGBColor = RGBColor(140, 86, 75);
const MEMTABLE: RGBColor = RGBColor(31, 119, 180);
const IMMUTABLE: RGBColor = RGBColor(23, 190, 207);
const P50: RGBColor = RGBColor(44, 160, 44);
const P99: RGBColor = RGBColor(31, 119, 180);
const MAX: RGBColor = RGBColor(214, 39, 40);
const QUEUE: RGBColor = RGBColor(31, 119, 180);
const LAG: RGBColor = RGBColor(214, 39, 40);
const LEVEL_COLORS: [RGBColor; 8] = [
    RGBColor(255, 127, 14),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The report's panel titles, in order (the last only with an async run).
pub const PANEL_TITLES: [&str; 6] = [
    "Throughput",
    "Memtable",
    "Tables per level",
    "Bytes per level",
    "Put latency",
    "Apply queue and watermark lag",
];

/// The settings line printed at the top of the report.
#[derive(Clone, Debug)]
pub struct Settings {
    /// One `(name, value)` per setting.
    pub items: Vec<(String, String)>,
    /// Where the CSV is (named in the report).
    pub csv_path: String,
}

/// What one legend entry looks like.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    Line,
    Band,
    Marker,
}

/// One cell of a panel row: a chart or a note saying why there is none.
enum Cell {
    Chart(String),
    Note(String),
}

struct Row {
    legend: Vec<(String, RGBColor, Swatch)>,
    cells: Vec<(StoreKind, Cell)>,
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
        xs: events(samples, |s| s.flushes),
    }
}

fn compaction_markers(samples: &[Sample]) -> Markers {
    Markers {
        label: "compaction".into(),
        color: COMPACTION,
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

/// The largest point of all series (at least `floor`).
fn max_of(all: &[Vec<Series>], floor: f64) -> f64 {
    all.iter()
        .flatten()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(floor, f64::max)
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
) -> Vec<(String, RGBColor, Swatch)> {
    let mut legend: Vec<_> = series
        .iter()
        .map(|s| (s.label.clone(), s.color, swatch))
        .collect();
    legend.extend(
        markers
            .iter()
            .map(|m| (m.label.clone(), m.color, Swatch::Marker)),
    );
    legend
}

/// One chart per run on shared axes: `build` gives each run's series and
/// markers.
fn chart_row(
    runs: &[&StoreRun],
    x_max: f64,
    y_desc: &str,
    scale: YScale,
    style: Style,
    build: impl Fn(&StoreRun) -> (Vec<Series>, Vec<Markers>),
) -> anyhow::Result<Row> {
    let built: Vec<(Vec<Series>, Vec<Markers>)> = runs.iter().map(|r| build(r)).collect();
    let all: Vec<Vec<Series>> = built.iter().map(|(s, _)| s.clone()).collect();
    let y_range = match (scale, style) {
        (YScale::Log, _) => min_positive(&all, 1.0)..max_of(&all, 1.0),
        (YScale::Linear, Style::StackedAreas) => {
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
                        .fold(1.0, f64::max)
                })
                .fold(1.0, f64::max);
            0.0..stacked_max * 1.1
        }
        (YScale::Linear, Style::Lines) => 0.0..max_of(&all, 1.0) * 1.1,
    };
    let swatch = match style {
        Style::Lines => Swatch::Line,
        Style::StackedAreas => Swatch::Band,
    };
    let legend = built
        .first()
        .map(|(s, m)| legend_of(s, swatch, m))
        .unwrap_or_default();
    let mut cells = Vec::with_capacity(runs.len());
    for (run, (series, markers)) in runs.iter().zip(&built) {
        let svg = charts::render(&ChartSpec {
            y_desc,
            x_max,
            y_range: y_range.clone(),
            scale,
            style,
            series,
            markers,
        })?;
        cells.push((run.kind, Cell::Chart(svg)));
    }
    Ok(Row { legend, cells })
}

fn panels(runs: &[StoreRun]) -> anyhow::Result<Vec<Panel>> {
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
        id: "throughput",
        description: "Operations completed per second in each sample window (log scale). \
            Dips in puts are writers blocked by the store.",
        row: chart_row(&every, x_max, "ops/s", YScale::Log, Style::Lines, |run| {
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
        })?,
    });

    panels.push(Panel {
        title: PANEL_TITLES[1],
        id: "memtable",
        description: "Bytes in the active memtable and in frozen memtables waiting for \
            flush; a marker wherever the flush counter grew since the previous sample.",
        row: chart_row(&every, x_max, "MiB", YScale::Linear, Style::Lines, |run| {
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
        })?,
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
        title: PANEL_TITLES[2],
        id: "tables",
        description: "Tables in each level, stacked (L0 at the bottom); a marker wherever \
            the compaction counter grew since the previous sample.",
        row: chart_row(
            &every,
            x_max,
            "tables",
            YScale::Linear,
            Style::StackedAreas,
            |run| {
                (
                    level_series(run, false),
                    vec![compaction_markers(&run.samples)],
                )
            },
        )?,
    });
    panels.push(Panel {
        title: PANEL_TITLES[3],
        id: "bytes",
        description: "Table bytes in each level, with compaction markers: flushes grow L0, \
            compactions move bytes down.",
        row: chart_row(&every, x_max, "MiB", YScale::Linear, Style::Lines, |run| {
            (
                level_series(run, true),
                vec![compaction_markers(&run.samples)],
            )
        })?,
    });

    panels.push(Panel {
        title: PANEL_TITLES[4],
        id: "latency",
        description: "Put latency percentiles within each sample window, in microseconds \
            (log scale), with flush and compaction markers. The simple store flushes and \
            compacts on the writing thread, so its slowest puts wait for that work; the \
            async store's puts return after the WAL append.",
        row: chart_row(
            &every,
            x_max,
            "microseconds",
            YScale::Log,
            Style::Lines,
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
            "writes",
            YScale::Linear,
            Style::Lines,
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
                    run.kind,
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
            title: PANEL_TITLES[5],
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
p.desc { margin: 4px 0 8px; color: #444; max-width: 1000px; }
.settings { color: #555; font-size: 14px; }
.settings b { color: #222; font-weight: 600; }
table.summary { border-collapse: collapse; margin: 16px 0; font-size: 14px; }
table.summary th, table.summary td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
table.summary tr th:first-child { background: #f7f7f7; font-weight: 500; }
.row { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 2px; }
.note { width: 600px; height: 300px; display: flex; align-items: center; justify-content: center; background: #fafafa; color: #666; border: 1px dashed #ccc; padding: 24px; box-sizing: border-box; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; font-size: 14px; margin-bottom: 6px; }
.legend i { display: inline-block; width: 22px; margin-right: 6px; vertical-align: middle; }
.legend i.line { height: 3px; background: var(--c); }
.legend i.band { height: 12px; background: var(--c); }
.legend i.marker { height: 14px; width: 0; border-left: 2px solid var(--c); opacity: 0.7; margin-left: 10px; margin-right: 14px; }
dl { font-size: 14px; } dt { font-family: monospace; margin-top: 6px; } dd { margin-left: 20px; color: #444; }
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
    html.push_str("<p class=\"settings\">");
    let items: Vec<String> = settings
        .items
        .iter()
        .map(|(k, v)| format!("<b>{}</b> {}", escape(k), escape(v)))
        .collect();
    html.push_str(&items.join(" · "));
    html.push_str("</p>\n");
    let _ = writeln!(
        html,
        "<p class=\"desc\">Each store ran the same seeded workload in a fresh directory, \
         sampled through its public <code>stats()</code>. The raw samples are in <code>{}</code>.</p>",
        escape(&settings.csv_path)
    );
    html.push_str(&summary_table(runs));
    for (i, panel) in panels(runs)?.iter().enumerate() {
        let _ = write!(
            html,
            "\n<section id=\"{}\"><h2>{}. {}</h2><p class=\"desc\">{}</p>{}<div class=\"row\">",
            panel.id,
            i + 1,
            panel.title,
            escape(panel.description),
            legend_html(&panel.row.legend)
        );
        for (kind, cell) in &panel.row.cells {
            let _ = write!(
                html,
                "<figure><figcaption>{}</figcaption>",
                kind.type_name()
            );
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
    html.push_str("\n<h2>CSV columns</h2><dl>");
    for (name, meaning) in CSV_COLUMNS {
        let _ = write!(
            html,
            "<dt>{}</dt><dd>{}</dd>",
            escape(name),
            escape(meaning)
        );
    }
    html.push_str("</dl>\n</body></html>\n");
    Ok(html)
}
