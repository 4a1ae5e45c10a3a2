//! Line and stacked-area charts as SVG text, drawn with plotters' SVG
//! backend. Plotters is built without a font stack, so text is laid out
//! with its estimated glyph sizes and emitted as SVG `<text>` for the
//! browser to render; titles and legends are plain HTML around the SVG
//! (see `report`), the charts carry only axes, tick labels and data.
//!
//! Log-scale axes are drawn as linear axes over `log10(y)` with decade
//! tick labels, which keeps one code path for both scales.

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
    /// `(seconds, value)` points in time order.
    pub points: Vec<(f64, f64)>,
}

/// Vertical marker lines at event times (flushes, compactions).
#[derive(Clone, Debug)]
pub struct Markers {
    /// Legend text.
    pub label: String,
    /// Line colour.
    pub color: RGBColor,
    /// Event times in seconds.
    pub xs: Vec<f64>,
}

/// How the y axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum YScale {
    /// Linear from `min` to `max`.
    Linear,
    /// Logarithmic over whole decades covering `min..max` (`min > 0`);
    /// values `<= 0` are left out.
    Log,
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
    /// The y axis description, with its unit.
    pub y_desc: &'a str,
    /// The x axis spans `0..x_max` seconds.
    pub x_max: f64,
    /// The y axis range (shared by the charts of one panel).
    pub y_range: Range<f64>,
    /// Linear or log.
    pub scale: YScale,
    /// Lines or stacked bands.
    pub style: Style,
    /// The data.
    pub series: &'a [Series],
    /// Event markers, drawn behind the data.
    pub markers: &'a [Markers],
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
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// The y range a log axis draws: whole decades around `range`.
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

/// Renders one chart to SVG text.
pub fn render(spec: &ChartSpec<'_>) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw(spec, &mut svg).map_err(|e| anyhow!("cannot draw a chart: {e}"))?;
    Ok(svg)
}

fn draw(spec: &ChartSpec<'_>, svg: &mut String) -> Result<(), Box<dyn std::error::Error>> {
    let log = spec.scale == YScale::Log;
    let (y_range, y_labels) = if log {
        let decades = log_decades(&spec.y_range);
        let count = (decades.end - decades.start) as usize + 1;
        (decades, count)
    } else {
        let end = if spec.y_range.end > spec.y_range.start {
            spec.y_range.end
        } else {
            spec.y_range.start + 1.0
        };
        (spec.y_range.start..end, 6)
    };
    let map_y = |y: f64| -> Option<f64> {
        if log {
            (y > 0.0).then(|| y.log10().clamp(y_range.start, y_range.end))
        } else {
            Some(y)
        }
    };
    let y_label = |v: &f64| {
        if log {
            compact(10f64.powf(*v))
        } else {
            compact(*v)
        }
    };
    let x_label = |v: &f64| compact(*v);
    let x_max = spec.x_max.max(0.001);

    let root = SVGBackend::with_string(svg, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, y_range.clone())?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(spec.y_desc)
        .x_labels(8)
        .y_labels(y_labels)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    for markers in spec.markers {
        let style = markers.color.mix(0.55).stroke_width(1);
        for &x in &markers.xs {
            chart.draw_series(LineSeries::new(
                [(x, y_range.start), (x, y_range.end)],
                style,
            ))?;
        }
    }

    match spec.style {
        Style::Lines => {
            for series in spec.series {
                let points: Vec<(f64, f64)> = series
                    .points
                    .iter()
                    .filter_map(|&(x, y)| map_y(y).map(|y| (x, y)))
                    .collect();
                chart.draw_series(LineSeries::new(points, series.color.stroke_width(2)))?;
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
                        let below = if i == 0 { 0.0 } else { stacked[i - 1][j].1 };
                        (x, below + y)
                    })
                    .collect();
                stacked.push(points);
            }
            for (series, points) in spec.series.iter().zip(&stacked).rev() {
                chart.draw_series(
                    AreaSeries::new(
                        points.iter().copied(),
                        y_range.start,
                        series.color.mix(0.85),
                    )
                    .border_style(series.color.stroke_width(1)),
                )?;
            }
        }
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
    fn charts_are_svg_with_text_tick_labels_in_both_styles() {
        let series = [Series {
            label: "puts".into(),
            color: BLUE,
            points: vec![(0.0, 1.0), (1.0, 100.0), (2.0, 10_000.0)],
        }];
        let markers = [Markers {
            label: "flush".into(),
            color: RED,
            xs: vec![1.0],
        }];
        let svg = render(&ChartSpec {
            y_desc: "ops/s",
            x_max: 2.0,
            y_range: 1.0..10_000.0,
            scale: YScale::Log,
            style: Style::Lines,
            series: &series,
            markers: &markers,
        })
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("<text"));
        let flat = svg.replace('\n', "");
        assert!(flat.contains(">10k</text>"), "decade labels are missing");
        assert!(flat.contains(">ops/s</text>"));
        let stacked = render(&ChartSpec {
            y_desc: "tables",
            x_max: 2.0,
            y_range: 0.0..5.0,
            scale: YScale::Linear,
            style: Style::StackedAreas,
            series: &series,
            markers: &[],
        })
        .unwrap();
        assert!(stacked.contains("<polygon") || stacked.contains("<path"));
    }
}
