//! The soak's plot: RSS over time, with the median and the ±10% band, as a small PNG (plotters'
//! bitmap backend; text drawn with ab_glyph from a system font, so that nothing needs
//! fontconfig or freetype).

use std::path::Path;

use plotters::prelude::*;

use super::soak::Sample;

/// Fonts tried in turn (Debian's DejaVu comes with Chromium's dependencies).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

pub fn rss_over_time(
    png: &Path,
    title: &str,
    samples: &[Sample],
    median: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let font = FONTS
        .iter()
        .find_map(|f| std::fs::read(f).ok())
        .ok_or("no font found (DejaVu Sans or Liberation Sans)")?;
    // plotters keeps registered fonts for the life of the process.
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "the font could not be read")?;
    let minutes = samples.last().map_or(1.0, |s| s.at_s / 60.0).max(1.0);
    let top = samples
        .iter()
        .map(|s| s.rss_mib)
        .fold(median * 1.2, f64::max)
        * 1.1;
    let root = BitMapBackend::new(png, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..minutes, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("RSS, MiB")
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let band = RGBColor(120, 170, 120);
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, median * 0.9), (minutes, median * 1.1)],
            band.mix(0.18).filled(),
        )))?
        .label("median ±10%")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 18, y + 5)], band.mix(0.3).filled())
        });
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (s.at_s / 60.0, s.rss_mib)),
            BLUE.stroke_width(2),
        ))?
        .label("RSS (every 10 s)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}
