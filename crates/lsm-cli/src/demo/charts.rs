//! Line and stacked-area charts as SVG text, drawn with plotters' SVG
//! backend. Plotters is built without a font stack, so text is laid out
//! with its estimated glyph sizes and emitted as SVG `<text>` for the
//! browser to render; titles and legends are plain HTML around the SVG
//! (see `report`), the charts carry only axes, tick labels and data.
//!
//! Log-scale axes (x or y) are drawn as linear axes over `log10(v)` with
//! decade tick labels, which keeps one code path for both scales. Tick
//! labels follow the axis [`Unit`]: latencies read `100 µs`, `1 ms`,
//! `10 ms`, shares read `99%`.

use std::ops::Range;

use anyhow::anyhow;
use plotters::prelude::*;

/// Chart size in pixels (two fit side by side on a laptop screen).
pub const CHART_SIZE: (u32, u32) = (600, 300);

/// One line (or stacked band) of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// `(x, y)` points in x order.
    pub points: Vec<(f64, f64)>,
}

/// Vertical marker lines at event times (flushes, compactions).
#[derive(Clone, Debug)]
pub struct Markers {
    /// Legend text.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// Dashed (to tell two kinds of marker apart by more than colour).
    pub dashed: bool,
    /// Event times in seconds.
    pub xs: Vec<f64>,
}

/// A horizontal reference line (a limit or a trigger).
#[derive(Clone, Debug)]
pub struct HLine {
    /// Legend text.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// Where, in the y axis' units.
    pub y: f64,
}

/// How an axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// Linear over the given range.
    Linear,
    /// Logarithmic over whole decades covering the range (values `<= 0`
    /// are left out).
    Log,
}

/// What an axis' values are, for its tick labels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    /// Plain numbers: `950`, `1.5k`, `12M`.
    Plain,
    /// Microseconds, labelled `250 µs`, `1 ms`, `1.5 s`.
    Micros,
    /// Percentages (0 to 100), labelled `99%`, `0.01%`.
    Percent,
}

/// One axis: its description, range, scale and unit.
#[derive(Clone, Debug)]
pub struct Axis<'a> {
    /// The description printed along the axis.
    pub desc: &'a str,
    /// The data range (for a log axis, of positive values).
    pub range: Range<f64>,
    /// Linear or log.
    pub scale: Scale,
    /// How tick labels read.
    pub unit: Unit,
}

impl<'a> Axis<'a> {
    /// A linear axis of plain numbers.
    pub fn linear(desc: &'a str, range: Range<f64>) -> Axis<'a> {
        Axis {
            desc,
            range,
            scale: Scale::Linear,
            unit: Unit::Plain,
        }
    }

    /// The same axis with another scale.
    pub fn scale(self, scale: Scale) -> Axis<'a> {
        Axis { scale, ..self }
    }

    /// The same axis with another unit.
    pub fn unit(self, unit: Unit) -> Axis<'a> {
        Axis { unit, ..self }
    }

    /// The drawn range (log10 of whole decades for a log axis) and how many
    /// tick labels to ask for.
    fn drawn(&self, linear_labels: usize) -> (Range<f64>, usize) {
        match self.scale {
            Scale::Log => {
                let decades = log_decades(&self.range);
                let count = (decades.end - decades.start) as usize + 1;
                (decades, count)
            }
            Scale::Linear => {
                let end = if self.range.end > self.range.start {
                    self.range.end
                } else {
                    self.range.start + 1.0
                };
                (self.range.start..end, linear_labels)
            }
        }
    }

    /// A data value in drawing coordinates (`None`: not drawable on a log
    /// axis).
    fn map(&self, drawn: &Range<f64>, v: f64) -> Option<f64> {
        match self.scale {
            Scale::Log => (v > 0.0).then(|| v.log10().clamp(drawn.start, drawn.end)),
            Scale::Linear => Some(v),
        }
    }

    /// The tick label of a drawing coordinate.
    fn label(&self, v: f64) -> String {
        let value = match self.scale {
            Scale::Log => 10f64.powf(v),
            Scale::Linear => v,
        };
        match self.unit {
            Unit::Plain => compact(value),
            Unit::Micros => micros(value),
            Unit::Percent => percent(value),
        }
    }
}

/// How series are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// Lines.
    Lines,
    /// Stacked filled bands: the first series at the bottom.
    StackedAreas,
}

/// Everything one chart needs.
#[derive(Clone, Debug)]
pub struct ChartSpec<'a> {
    /// The x axis.
    pub x: Axis<'a>,
    /// The y axis (its range shared by the charts of one panel).
    pub y: Axis<'a>,
    /// Lines or stacked bands.
    pub style: Style,
    /// Step-shaped: each value holds until the next point, then jumps
    /// (for counts that change at events, like tables per level).
    pub step: bool,
    /// The data.
    pub series: &'a [Series],
    /// Event markers, drawn behind the data.
    pub markers: &'a [Markers],
    /// Horizontal reference lines, drawn over the data.
    pub hlines: &'a [HLine],
}

/// `#rrggbb` of a colour, for HTML legends.
pub fn hex(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// A compact number for tick labels: 950, 1.5k, 12M, 0.25.
pub fn compact(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = if scaled.abs() >= 100.0 || scaled.fract().abs() < 1e-9 {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    format!("{}{suffix}", trim_zeros(text))
}

fn trim_zeros(text: String) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A duration in microseconds as a tick label: `250 µs`, `1 ms`, `1.5 s`.
pub fn micros(us: f64) -> String {
    if us.abs() >= 1e6 {
        format!("{} s", compact(us / 1e6))
    } else if us.abs() >= 1e3 {
        format!("{} ms", compact(us / 1e3))
    } else if us.abs() >= 1.0 || us == 0.0 {
        format!("{} µs", compact(us))
    } else {
        format!("{} ns", compact(us * 1e3))
    }
}

/// A percentage as a tick label: `100%`, `2.5%`, `0.001%`.
pub fn percent(value: f64) -> String {
    if value == 0.0 || value.abs() >= 0.01 {
        return format!("{}%", compact(value));
    }
    // Enough decimals for one significant digit of a small share.
    let decimals = (-value.abs().log10().floor()) as usize;
    format!("{}%", trim_zeros(format!("{value:.decimals$}")))
}

/// The range a log axis draws: whole decades (as log10) around `range`.
fn log_decades(range: &Range<f64>) -> Range<f64> {
    let low = range.start.max(1e-9).log10().floor();
    let high = range
        .end
        .max(range.start * 10.0)
        .log10()
        .ceil()
        .max(low + 1.0);
    low..high
}

/// `points` as a staircase: each y holds until the next x.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push((x, points[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// Renders one chart to SVG text.
pub fn render(spec: &ChartSpec<'_>) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw(spec, &mut svg).map_err(|e| anyhow!("cannot draw a chart: {e}"))?;
    Ok(svg)
}

fn draw(spec: &ChartSpec<'_>, svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let (x_range, x_labels) = spec.x.drawn(8);
    let (y_range, y_labels) = spec.y.drawn(6);
    let map = |&(x, y): &(f64, f64)| -> Option<(f64, f64)> {
        Some((spec.x.map(&x_range, x)?, spec.y.map(&y_range, y)?))
    };
    let x_label = |v: &f64| spec.x.label(*v);
    let y_label = |v: &f64| spec.y.label(*v);

    let root = SVGBackend::with_string(svg, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .margin_right(20)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range.clone(), y_range.clone())?;
    chart
        .configure_mesh()
        .x_desc(spec.x.desc)
        .y_desc(spec.y.desc)
        .x_labels(x_labels)
        .y_labels(y_labels)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    for markers in spec.markers {
        let style = markers.color.mix(0.7).stroke_width(1);
        for &x in &markers.xs {
            let Some(x) = spec.x.map(&x_range, x) else {
                continue;
            };
            let line = [(x, y_range.start), (x, y_range.end)];
            if markers.dashed {
                chart.draw_series(DashedLineSeries::new(line, 4, 3, style))?;
            } else {
                chart.draw_series(LineSeries::new(line, style))?;
            }
        }
    }

    let shaped = |points: &[(f64, f64)]| -> Vec<(f64, f64)> {
        let mapped: Vec<(f64, f64)> = points.iter().filter_map(map).collect();
        if spec.step {
            steps(&mapped)
        } else {
            mapped
        }
    };
    match spec.style {
        Style::Lines => {
            for series in spec.series {
                chart.draw_series(LineSeries::new(
                    shaped(&series.points),
                    series.color.stroke_width(2),
                ))?;
            }
        }
        Style::StackedAreas => {
            // Cumulative sums, drawn top band first so lower bands paint
            // over the part of it below their own top.
            let mut stacked: Vec<Vec<(f64, f64)>> = Vec::with_capacity(spec.series.len());
            for (i, series) in spec.series.iter().enumerate() {
                let points = series
                    .points
                    .iter()
                    .enumerate()
                    .map(|(j, &(x, y))| {
                        let below = if i == 0 {
                            0.0
                        } else {
                            stacked[i - 1].get(j).map_or(0.0, |p| p.1)
                        };
                        (x, below + y)
                    })
                    .collect();
                stacked.push(points);
            }
            for (series, points) in spec.series.iter().zip(&stacked).rev() {
                chart.draw_series(
                    AreaSeries::new(shaped(points), y_range.start, series.color.mix(0.85))
                        .border_style(series.color.stroke_width(1)),
                )?;
            }
        }
    }

    for hline in spec.hlines {
        let Some(y) = spec.y.map(&y_range, hline.y) else {
            continue;
        };
        chart.draw_series(DashedLineSeries::new(
            [(x_range.start, y), (x_range.end, y)],
            8,
            4,
            hline.color.stroke_width(2),
        ))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers_read_well() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(1500.0), "1.5k");
        assert_eq!(compact(12_000_000.0), "12M");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(100_000.0), "100k");
    }

    #[test]
    fn latency_and_percent_labels_read_as_units() {
        assert_eq!(micros(250.0), "250 µs");
        assert_eq!(micros(1000.0), "1 ms");
        assert_eq!(micros(10_000.0), "10 ms");
        assert_eq!(micros(1_500_000.0), "1.5 s");
        assert_eq!(micros(0.1), "100 ns");
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(99.9), "99.9%");
        assert_eq!(percent(0.001), "0.001%");
        assert_eq!(percent(10f64.powf(-4.0)), "0.0001%");
    }

    #[test]
    fn steps_hold_each_value_until_the_next_point() {
        assert_eq!(
            steps(&[(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)]),
            vec![(0.0, 1.0), (1.0, 1.0), (1.0, 3.0), (2.0, 3.0), (2.0, 2.0)]
        );
        assert!(steps(&[]).is_empty());
    }

    #[test]
    fn charts_are_svg_with_text_tick_labels_in_both_styles() {
        let series = [Series {
            label: "puts".into(),
            color: BLUE,
            points: vec![(0.0, 1.0), (1.0, 100.0), (2.0, 10_000.0)],
        }];
        let markers = [Markers {
            label: "flush".into(),
            color: RED,
            dashed: true,
            xs: vec![1.0],
        }];
        let svg = render(&ChartSpec {
            x: Axis::linear("seconds", 0.0..2.0),
            y: Axis::linear("ops/s", 1.0..10_000.0).scale(Scale::Log),
            style: Style::Lines,
            step: false,
            series: &series,
            markers: &markers,
            hlines: &[],
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<text"));
        let flat = svg.replace('\n', "");
        assert!(flat.contains(">10k</text>"), "decade labels are missing");
        assert!(flat.contains(">ops/s</text>"));
        let limit = [HLine {
            label: "limit".into(),
            color: RED,
            y: 4.0,
        }];
        let stacked = render(&ChartSpec {
            x: Axis::linear("seconds", 0.0..2.0),
            y: Axis::linear("tables", 0.0..5.0),
            style: Style::StackedAreas,
            step: true,
            series: &series,
            markers: &[],
            hlines: &limit,
        })
        .unwrap();
        assert!(stacked.contains("<polygon") || stacked.contains("<path"));
    }

    #[test]
    fn a_log_latency_x_axis_has_millisecond_ticks() {
        let series = [Series {
            label: "cdf".into(),
            color: BLUE,
            points: vec![(5.0, 10.0), (800.0, 99.0), (25_000.0, 100.0)],
        }];
        let svg = render(&ChartSpec {
            x: Axis::linear("put latency", 5.0..25_000.0)
                .scale(Scale::Log)
                .unit(Unit::Micros),
            y: Axis::linear("puts at most this slow", 0.0..100.0).unit(Unit::Percent),
            style: Style::Lines,
            step: true,
            series: &series,
            markers: &[],
            hlines: &[],
        })
        .unwrap();
        let flat = svg.replace('\n', "");
        for tick in [
            ">1 µs</text>",
            ">1 ms</text>",
            ">10 ms</text>",
            ">100 ms</text>",
        ] {
            assert!(flat.contains(tick), "no {tick} tick");
        }
        assert!(flat.contains(">100%</text>"));
    }
}
