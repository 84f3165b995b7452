//! The suite's figures: printed as a table with the baseline beside each,
//! written to `target/bench/results.json`, and the scaling plot.

use crate::{BenchError, Result};
use plotters::prelude::*;
use serde::Serialize;
use std::path::Path;

/// One measured figure and what it is judged against.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The measurement.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The baseline measured in the same run (or the target's bound).
    pub baseline: Option<f64>,
    /// `value / baseline`.
    pub ratio: Option<f64>,
    /// What the baseline is.
    pub baseline_is: String,
    /// The target of DESIGN §4, if one applies.
    pub target: Option<String>,
    /// Whether the target is met (when there is one).
    pub met: Option<bool>,
}

impl Figure {
    /// A figure with a baseline from the same run.
    pub fn against(name: &str, value: f64, unit: &str, baseline: f64, baseline_is: &str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: Some(baseline),
            ratio: (baseline > 0.0).then(|| value / baseline),
            baseline_is: baseline_is.into(),
            target: None,
            met: None,
        }
    }

    /// A figure judged against a fixed bound (the bound is its baseline).
    pub fn bounded(name: &str, value: f64, unit: &str, bound: f64) -> Figure {
        Figure::against(name, value, unit, bound, "target bound")
            .target(&format!("≤ {} {unit}", trim(bound)), value <= bound)
    }

    /// A figure with nothing to compare to.
    pub fn plain(name: &str, value: f64, unit: &str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            baseline: None,
            ratio: None,
            baseline_is: String::new(),
            target: None,
            met: None,
        }
    }

    /// Attaches a target and whether it is met.
    pub fn target(mut self, target: &str, met: bool) -> Figure {
        self.target = Some(target.into());
        self.met = Some(met);
        self
    }
}

fn trim(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// One figure as the cells of a table row: figure, value, baseline, ratio,
/// target.
fn cells(f: &Figure) -> [String; 5] {
    [
        f.name.clone(),
        format!("{} {}", trim(f.value), f.unit),
        f.baseline
            .map(|b| format!("{} ({})", trim(b), f.baseline_is))
            .unwrap_or_default(),
        f.ratio.map(|r| format!("{r:.2}×")).unwrap_or_default(),
        match (&f.target, f.met) {
            (Some(t), Some(true)) => format!("{t} ✓"),
            (Some(t), _) => format!("{t} ✗"),
            _ => String::new(),
        },
    ]
}

const HEADER: [&str; 5] = ["Figure", "Value", "Baseline", "Ratio", "Target"];

/// The figures as an aligned text table.
pub fn table(figures: &[Figure]) -> String {
    let mut rows = vec![HEADER.map(str::to_owned)];
    rows.extend(figures.iter().map(cells));
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}

/// The figures as the Markdown table `BENCHMARKS.md` shows.
pub fn markdown(figures: &[Figure]) -> String {
    let mut out = format!(
        "| {} |\n| --- | ---: | ---: | ---: | --- |\n",
        HEADER.join(" | ")
    );
    for f in figures {
        out.push_str(&format!("| {} |\n", cells(f).join(" | ")));
    }
    out
}

/// Writes the figures as JSON to `path`.
pub fn write_json(figures: &[Figure], path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(figures)?)?;
    Ok(())
}

/// One point of the scaling grid.
#[derive(Clone, Debug, Serialize)]
pub struct ScalePoint {
    /// Members.
    pub members: usize,
    /// Years of history.
    pub years: f64,
    /// A newcomer's first sync, seconds.
    pub catch_up_s: f64,
    /// The founder's store, MB.
    pub store_mb: f64,
}

/// Plots catch-up time and store size against years (8 members) and against
/// members (two years) as an SVG.
pub fn plot_scaling(points: &[ScalePoint], path: &Path) -> Result<()> {
    let draw = |e: &dyn std::fmt::Display| BenchError::Check(format!("plot: {e}"));
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let halves = root.split_evenly((1, 2));
    let max_members = points.iter().map(|p| p.members).max().unwrap_or(8);
    // (x label, [(x, catch-up seconds, store MB)])
    type Series<'a> = (&'a str, Vec<(f64, f64, f64)>);
    let series: [Series<'_>; 2] = [
        (
            "years of history (8 members)",
            points
                .iter()
                .filter(|p| p.members == max_members)
                .map(|p| (p.years, p.catch_up_s, p.store_mb))
                .collect(),
        ),
        (
            "members (2 years)",
            points
                .iter()
                .filter(|p| (p.years - 2.0).abs() < 1e-9)
                .map(|p| (p.members as f64, p.catch_up_s, p.store_mb))
                .collect(),
        ),
    ];
    for (area, (x_label, mut data)) in halves.iter().zip(series) {
        data.sort_by(|a, b| a.0.total_cmp(&b.0));
        let x_max = data.iter().map(|d| d.0).fold(1.0, f64::max) * 1.05;
        let y_max = data.iter().map(|d| d.1.max(d.2)).fold(0.1, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("newcomer catch-up vs {x_label}"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| draw(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("seconds / MB")
            .draw()
            .map_err(|e| draw(&e))?;
        chart
            .draw_series(LineSeries::new(data.iter().map(|d| (d.0, d.1)), &BLUE))
            .map_err(|e| draw(&e))?
            .label("first sync, s")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        chart
            .draw_series(
                data.iter()
                    .map(|d| Circle::new((d.0, d.1), 3, BLUE.filled())),
            )
            .map_err(|e| draw(&e))?;
        chart
            .draw_series(LineSeries::new(data.iter().map(|d| (d.0, d.2)), &RED))
            .map_err(|e| draw(&e))?
            .label("founder's store, MB")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
        chart
            .draw_series(
                data.iter()
                    .map(|d| Circle::new((d.0, d.2), 3, RED.filled())),
            )
            .map_err(|e| draw(&e))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw(&e))?;
    }
    root.present().map_err(|e| draw(&e))?;
    Ok(())
}
