//! `--plot out.svg`: one timeline panel per cluster, readable without a
//! legend hunt. Time runs left to right; each replica gets a lane labelled
//! with its name; its bar is coloured by size and labelled with the size,
//! pale while hydrating (or crash-looping), solid once hydrated. Demand is
//! shaded behind the lanes, actions are marked above them (▲ create,
//! ▼ drop), OOM kills are red crosses. The title carries the credits next to
//! both baselines. Drawn with primitives in pixel space on plotters' SVG
//! backend, so the layout does not depend on font metrics.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::engine::{Run, Slot};
use super::report::{self, num, ClusterReport, Report};
use super::scenario::{Scenario, DAY, HOUR};
use super::SimError;
use crate::plan::ActionKind;

/// Panels drawn at most; the others are counted in a note.
const MAX_PANELS: usize = 12;
const WIDTH: i32 = 1400;
const LEFT: i32 = 170;
const RIGHT: i32 = 30;
const LANE: i32 = 22;
const TITLE: i32 = 40;
const MARKS: i32 = 16;
const AXIS: i32 = 22;
const GAP: i32 = 18;
const HEADER: i32 = 64;

/// Distinct, colour-blind-friendly-ish colours, by size rank.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (23, 190, 207),
    (188, 189, 34),
    (127, 127, 127),
    (214, 39, 40),
];

fn err<E: std::fmt::Debug>(e: E) -> SimError {
    SimError::Io(format!("drawing the plot: {e:?}"))
}

/// Replica lanes of a cluster: names in order of first creation.
fn lanes(slot: &Slot) -> Vec<String> {
    let mut all: Vec<(i64, u64, &str)> = slot
        .sim
        .history
        .iter()
        .chain(slot.sim.replicas.iter())
        .map(|r| (r.created_ms, r.id, r.name.as_str()))
        .collect();
    all.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, _, n) in all {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

fn panel_height(slot: &Slot) -> i32 {
    TITLE + MARKS + LANE * (lanes(slot).len() as i32 + 1) + AXIS + GAP
}

pub fn render(sc: &Scenario, run: &Run, rep: &Report) -> Result<String, SimError> {
    let shown = run.slots.len().min(MAX_PANELS);
    let more = run.slots.len() - shown;
    let height = HEADER
        + run.slots[..shown].iter().map(panel_height).sum::<i32>()
        + if more > 0 { 24 } else { 0 };
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        header(&root, sc, rep)?;
        let mut y = HEADER;
        for (slot, cr) in run.slots.iter().zip(&rep.clusters).take(shown) {
            panel(&root, sc, slot, cr, y)?;
            y += panel_height(slot);
        }
        if more > 0 {
            let style = ("sans-serif", 15).into_font().color(&BLACK);
            let text = format!(
                "… and {more} more cluster(s) not drawn (the first {MAX_PANELS} are shown; see the report for all)"
            );
            root.draw_text(&text, &style, (LEFT, y + 4)).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn header(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    sc: &Scenario,
    rep: &Report,
) -> Result<(), SimError> {
    let big = ("sans-serif", 20)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK);
    let small = ("sans-serif", 13).into_font().color(&RGBColor(60, 60, 60));
    let t = &rep.total;
    root.draw_text(
        &format!(
            "{} — {} days, controller every {}, seed {}: {} credits (always-on {}, oracle {}), demand served {:.1}%",
            sc.name,
            num(sc.days()),
            report::secs(sc.interval_ms as f64 / 1000.0),
            sc.seed,
            num(t.credits),
            num(t.always_on_credits),
            num(t.oracle_credits),
            t.availability_pct
        ),
        &big,
        (12, 10),
    )
    .map_err(err)?;
    // The key, in words, once.
    let mut x = 12;
    let key_y = 40;
    let swatch =
        |x: i32, c: RGBAColor| Rectangle::new([(x, key_y), (x + 26, key_y + 14)], c.filled());
    let blue = RGBColor(31, 119, 180);
    root.draw(&swatch(x, blue.mix(0.3))).map_err(err)?;
    root.draw_text("hydrating / crash-looping", &small, (x + 32, key_y + 1))
        .map_err(err)?;
    x += 210;
    root.draw(&swatch(x, blue.mix(1.0))).map_err(err)?;
    root.draw_text(
        "hydrated, serving (colour = size, named on the bar)",
        &small,
        (x + 32, key_y + 1),
    )
    .map_err(err)?;
    x += 360;
    root.draw(&swatch(x, RGBColor(255, 170, 40).mix(1.0)))
        .map_err(err)?;
    root.draw_text("demand served", &small, (x + 32, key_y + 1))
        .map_err(err)?;
    x += 140;
    root.draw(&swatch(x, RGBColor(210, 30, 30).mix(1.0)))
        .map_err(err)?;
    root.draw_text(
        "demand waiting (no hydrated replica)",
        &small,
        (x + 32, key_y + 1),
    )
    .map_err(err)?;
    x += 270;
    root.draw_text(
        "▲ create   ▼ drop   ✕ OOM kill   (time in days from the start)",
        &small,
        (x, key_y + 1),
    )
    .map_err(err)?;
    Ok(())
}

fn panel(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    sc: &Scenario,
    slot: &Slot,
    cr: &ClusterReport,
    top: i32,
) -> Result<(), SimError> {
    let lanes = lanes(slot);
    let n = lanes.len() as i32 + 1;
    let plot_w = WIDTH - LEFT - RIGHT;
    let horizon = sc.horizon_ms.max(1);
    let x_of =
        |t: i64| LEFT + ((t.clamp(0, horizon) as f64 / horizon as f64) * plot_w as f64) as i32;
    let marks_top = top + TITLE;
    let lanes_top = marks_top + MARKS;
    let lanes_bottom = lanes_top + LANE * n;

    // Title: what it cost against the baselines, and how well it served.
    let title = ("sans-serif", 16)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK);
    let sub = ("sans-serif", 13).into_font().color(&RGBColor(70, 70, 70));
    root.draw_text(&cr.name, &title, (12, top + 4))
        .map_err(err)?;
    root.draw_text(
        &format!(
            "{} credits   |   always-on {} ({})   |   oracle {} ({})   |   saved {:.1}% vs always-on   |   demand served {:.1}%, p95 wait {}, worst {}",
            num(cr.credits),
            num(cr.always_on.credits),
            cr.always_on.size.as_deref().unwrap_or("-"),
            num(cr.oracle.credits),
            cr.oracle.size.as_deref().unwrap_or("-"),
            cr.savings_pct,
            cr.availability_pct,
            report::secs(cr.waits.p95_s),
            report::secs(cr.waits.worst_s),
        ),
        &sub,
        (12, top + 23),
    )
    .map_err(err)?;

    // Background and demand shading.
    root.draw(&Rectangle::new(
        [(LEFT, lanes_top), (LEFT + plot_w, lanes_bottom)],
        RGBColor(248, 248, 248).filled(),
    ))
    .map_err(err)?;
    let demand = report::demand(&slot.sim.spec, sc);
    for (a, b) in &demand {
        let (x0, x1) = (x_of(*a), x_of(*b).max(x_of(*a) + 1));
        root.draw(&Rectangle::new(
            [(x0, lanes_top), (x1, lanes_bottom)],
            RGBColor(255, 200, 80).mix(0.25).filled(),
        ))
        .map_err(err)?;
        root.draw(&Rectangle::new(
            [(x0, lanes_top + 3), (x1, lanes_top + LANE - 3)],
            RGBColor(255, 170, 40).filled(),
        ))
        .map_err(err)?;
    }
    // Demand with no hydrated replica: queries wait.
    let covered = report::coverage(slot, sc.horizon_ms);
    for (a, b) in report::subtract(&demand, &covered) {
        let (x0, x1) = (x_of(a), x_of(b).max(x_of(a) + 2));
        root.draw(&Rectangle::new(
            [(x0, lanes_top + 3), (x1, lanes_top + LANE - 3)],
            RGBColor(210, 30, 30).filled(),
        ))
        .map_err(err)?;
    }

    // Day lines and labels.
    let axis = ("sans-serif", 12).into_font().color(&RGBColor(90, 90, 90));
    let step = if horizon <= 2 * DAY {
        6 * HOUR
    } else if horizon <= 14 * DAY {
        DAY
    } else {
        7 * DAY
    };
    let mut t = 0;
    while t <= horizon {
        let x = x_of(t);
        root.draw(&PathElement::new(
            vec![(x, lanes_top), (x, lanes_bottom + 3)],
            RGBColor(200, 200, 200),
        ))
        .map_err(err)?;
        let label = if step < DAY {
            format!("d{} {:02}:00", t / DAY, (t % DAY) / HOUR)
        } else {
            let when = sc.start + chrono::Duration::milliseconds(t);
            format!("d{} {}", t / DAY, when.format("%a"))
        };
        let centred = axis.pos(Pos::new(HPos::Center, VPos::Top));
        root.draw_text(&label, &centred, (x, lanes_bottom + 5))
            .map_err(err)?;
        t += step;
    }

    // Replica bars, by lane.
    let name_style = ("sans-serif", 13).into_font().color(&BLACK);
    let right = name_style.pos(Pos::new(HPos::Right, VPos::Center));
    root.draw_text("demand", &right, (LEFT - 8, lanes_top + LANE / 2))
        .map_err(err)?;
    for (i, lane) in lanes.iter().enumerate() {
        let y0 = lanes_top + LANE * (i as i32 + 1);
        let label = if lane.chars().count() > 22 {
            format!("{}…", lane.chars().take(21).collect::<String>())
        } else {
            lane.clone()
        };
        root.draw_text(&label, &right, (LEFT - 8, y0 + LANE / 2))
            .map_err(err)?;
        for r in slot
            .sim
            .history
            .iter()
            .chain(slot.sim.replicas.iter())
            .filter(|r| &r.name == lane)
        {
            bar(root, sc, r, y0, &x_of)?;
        }
    }

    // Actions above the lanes.
    let up = ("sans-serif", 13).into_font().color(&RGBColor(20, 130, 40));
    let down = ("sans-serif", 13).into_font().color(&RGBColor(200, 30, 30));
    for a in slot.actions.iter().filter(|a| a.ok) {
        let (glyph, style) = match a.kind {
            ActionKind::DropReplica => ("▼", &down),
            ActionKind::SetReplicationFactor if a.replication_factor == Some(0) => ("▼", &down),
            _ => ("▲", &up),
        };
        let centred = style.pos(Pos::new(HPos::Center, VPos::Top));
        root.draw_text(glyph, &centred, (x_of(a.t), marks_top))
            .map_err(err)?;
    }
    Ok(())
}

fn size_colour(sc: &Scenario, size: &crate::model::Size) -> RGBColor {
    let rank = sc.sizes.rank(size).unwrap_or(0);
    let (r, g, b) = PALETTE[rank % PALETTE.len()];
    RGBColor(r, g, b)
}

fn bar(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    sc: &Scenario,
    r: &super::env::SimReplica,
    y0: i32,
    x_of: &dyn Fn(i64) -> i32,
) -> Result<(), SimError> {
    let colour = size_colour(sc, &r.size);
    let end = r.gone_ms.unwrap_or(sc.horizon_ms);
    let hydrated = r.hydrated_ms.filter(|h| *h < end);
    let (y_a, y_b) = (y0 + 3, y0 + LANE - 3);
    let x0 = x_of(r.created_ms);
    let xh = hydrated.map(x_of).unwrap_or(x_of(end));
    let x1 = x_of(end).max(x0 + 2);
    if xh > x0 {
        root.draw(&Rectangle::new(
            [(x0, y_a), (xh, y_b)],
            colour.mix(0.3).filled(),
        ))
        .map_err(err)?;
    }
    if hydrated.is_some() {
        root.draw(&Rectangle::new([(xh, y_a), (x1, y_b)], colour.filled()))
            .map_err(err)?;
    }
    root.draw(&Rectangle::new(
        [(x0, y_a), (x1, y_b)],
        colour.stroke_width(1),
    ))
    .map_err(err)?;
    if x1 - x0 > 44 {
        let on_solid = hydrated.is_some_and(|_| x1 - xh > 44);
        let text_colour = if on_solid { WHITE } else { BLACK };
        let style = ("sans-serif", 12).into_font().color(&text_colour);
        let x = if on_solid { xh + 4 } else { x0 + 4 };
        root.draw_text(&r.size.0, &style, (x, y_a + 1))
            .map_err(err)?;
    }
    let cross = ("sans-serif", 12).into_font().color(&RGBColor(200, 0, 0));
    let centred = cross.pos(Pos::new(HPos::Center, VPos::Center));
    for o in &r.ooms {
        root.draw_text("✕", &centred, (x_of(*o), y0 + LANE / 2))
            .map_err(err)?;
    }
    Ok(())
}
