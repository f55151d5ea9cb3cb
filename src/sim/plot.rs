//! `--plot out.svg`: the story of a run, readable without a legend hunt.
//! A header with the headline (queries served within the threshold, time
//! coverage, credits against the oracle and always-on) and one legend whose
//! swatches are drawn exactly like the bars. Then, for a few clusters, a
//! panel each: a demand lane (orange where a replica was hydrated, dark red
//! where queries waited), a lane of failed queries (red ticks), a lane per
//! replica (coloured by size, no colour near red; pale while not hydrated,
//! solid while hydrated, the size written on it; black triangles for OOM kills,
//! counted at the lane's end), ▲/▼ for creates and drops, hour ticks under
//! day labels, and the run's cumulative credits against the oracle's and
//! always-on's. A fleet starts with a summary panel (the fleet's
//! cumulative credits against the oracle's, the headline, the clusters that
//! cost most above their oracle) and then draws those clusters. Drawn with
//! primitives in pixel space on plotters' SVG backend, so the layout does
//! not depend on font metrics.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::engine::{Run, Slot};
use super::oracle::Oracle;
use super::replica::SimReplica;
use super::scenario::{Scenario, DAY, HOUR};
use super::scorecard::{self, num, secs, ClusterCard, Scorecard};
use super::SimError;
use crate::model::Size;
use crate::plan::ActionKind;

/// Cluster panels drawn at most (a fleet: the ones furthest above their oracle).
const MAX_PANELS: usize = 8;
const WIDTH: i32 = 1500;
const LEFT: i32 = 180;
const RIGHT: i32 = 90;
const LANE: i32 = 22;
const TITLE: i32 = 44;
const MARKS: i32 = 16;
const AXIS: i32 = 24;
const COST: i32 = 70;
const GAP: i32 = 22;
const HEADER: i32 = 112;

/// Size colours, by rank among the sizes drawn: distinct, and none near
/// the reds that mean waiting and failing, nor the demand's orange.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (23, 190, 207),
    (0, 100, 0),
    (127, 127, 127),
    (227, 119, 194),
    (0, 0, 139),
    (85, 107, 47),
];
const SERVED: RGBColor = RGBColor(255, 170, 40);
const WAITING: RGBColor = RGBColor(150, 0, 0);
const FAILED: RGBColor = RGBColor(230, 0, 0);
const OOM: RGBColor = RGBColor(0, 0, 0);
const RUN_LINE: RGBColor = RGBColor(20, 60, 160);
const ORACLE_LINE: RGBColor = RGBColor(0, 140, 70);
const ALWAYS_LINE: RGBColor = RGBColor(150, 150, 150);

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn err<E: std::fmt::Debug>(e: E) -> SimError {
    SimError::Io(format!("drawing the plot: {e:?}"))
}

fn replicas(slot: &Slot) -> impl Iterator<Item = &SimReplica> {
    slot.sim.history.iter().chain(slot.sim.replicas.iter())
}

/// Replica lanes of a cluster: names in order of first creation.
fn lanes(slot: &Slot) -> Vec<String> {
    let mut all: Vec<(i64, u64, &str)> = replicas(slot)
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
    TITLE + MARKS + LANE * (lanes(slot).len() as i32 + 2) + AXIS + COST + GAP
}

/// The sizes drawn, smallest first, and their colours.
struct Colours(Vec<(Size, RGBColor)>);

impl Colours {
    fn new(sc: &Scenario, slots: &[&Slot]) -> Colours {
        let mut sizes: Vec<Size> = slots
            .iter()
            .flat_map(|s| replicas(s).map(|r| r.size.clone()))
            .collect();
        sizes.sort_by_key(|s| sc.sizes.rank(s));
        sizes.dedup();
        Colours(
            sizes
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let (r, g, b) = PALETTE[i % PALETTE.len()];
                    (s, RGBColor(r, g, b))
                })
                .collect(),
        )
    }

    fn of(&self, size: &Size) -> RGBColor {
        self.0
            .iter()
            .find(|(s, _)| s == size)
            .map(|(_, c)| *c)
            .unwrap_or(RGBColor(90, 90, 90))
    }
}

/// A fleet cluster's family: its name without the index (`bi_07` → `bi`).
fn family(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches(['_', '-'])
}

/// Which clusters get a panel: all of a small run; of a fleet, those that
/// cost most above their oracle, at most two of a family so that one kind
/// of cluster does not hide the others.
fn chosen(card: &Scorecard) -> Vec<usize> {
    let n = card.clusters.len();
    if n <= MAX_PANELS {
        return (0..n).collect();
    }
    let excess = |i: usize| card.clusters[i].credits - card.clusters[i].oracle.credits;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| excess(*b).total_cmp(&excess(*a)).then(a.cmp(b)));
    let mut out: Vec<usize> = Vec::new();
    for i in idx {
        let fam = family(&card.clusters[i].name);
        let same = out
            .iter()
            .filter(|j| family(&card.clusters[**j].name) == fam)
            .count();
        if same < 2 {
            out.push(i);
        }
        if out.len() == MAX_PANELS {
            break;
        }
    }
    out
}

/// Per family of a fleet: clusters, credits, oracle, and the share of
/// queries served within the threshold.
fn families(card: &Scorecard) -> Vec<(String, usize, f64, f64, f64)> {
    let mut out: Vec<(String, usize, f64, f64, u64, u64)> = Vec::new();
    for c in &card.clusters {
        let fam = family(&c.name).to_string();
        let i = match out.iter().position(|f| f.0 == fam) {
            Some(i) => i,
            None => {
                out.push((fam, 0, 0.0, 0.0, 0, 0));
                out.len() - 1
            }
        };
        let f = &mut out[i];
        f.1 += 1;
        f.2 += c.credits;
        f.3 += c.oracle.credits;
        f.4 += c.service.served_within;
        f.5 += c.service.queries;
    }
    out.into_iter()
        .map(|(name, n, credits, oracle, within, queries)| {
            let pct = if queries > 0 {
                100.0 * within as f64 / queries as f64
            } else {
                100.0
            };
            (name, n, credits, oracle, pct)
        })
        .collect()
}

pub fn render(
    sc: &Scenario,
    run: &Run,
    card: &Scorecard,
    oracles: &[Oracle],
) -> Result<String, SimError> {
    let shown = chosen(card);
    let fleet = card.clusters.len() > MAX_PANELS;
    let slots: Vec<&Slot> = shown.iter().map(|i| &run.slots[*i]).collect();
    let colours = Colours::new(sc, &slots);
    let summary_h = if fleet { 270 } else { 0 };
    let height = HEADER + summary_h + slots.iter().map(|s| panel_height(s)).sum::<i32>() + 10;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        header(&root, sc, card, &colours)?;
        let mut y = HEADER;
        if fleet {
            fleet_summary(&root, sc, run, card, oracles, &shown, y)?;
            y += summary_h;
        }
        for i in &shown {
            let slot = &run.slots[*i];
            panel(
                &root,
                sc,
                slot,
                &card.clusters[*i],
                &oracles[*i],
                &colours,
                y,
            )?;
            y += panel_height(slot);
        }
        root.present().map_err(err)?;
    }
    Ok(xml_safe(svg))
}

/// XML 1.0 allows no control character but tab, line feed and carriage
/// return, even escaped: one in a cluster or size name (Materialize allows
/// them) made the whole plot unreadable. Shown as text instead (`\u{1b}`).
fn xml_safe(svg: String) -> String {
    let bad = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if !svg.chars().any(bad) {
        return svg;
    }
    svg.chars()
        .map(|c| {
            if bad(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn font(size: u32, colour: RGBColor) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&colour)
}

fn bold(size: u32) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
}

fn header(root: &Area, sc: &Scenario, card: &Scorecard, colours: &Colours) -> Result<(), SimError> {
    let t = &card.total;
    let within = secs(sc.clients.served_within_ms as f64 / 1000.0);
    root.draw_text(
        &format!(
            "{} — {} days, controller every {}, seed {}, {} cluster(s)",
            sc.name,
            num(sc.days()),
            secs(sc.interval_ms as f64 / 1000.0),
            sc.seed,
            card.clusters.len()
        ),
        &bold(20),
        (12, 8),
    )
    .map_err(err)?;
    root.draw_text(
        &format!(
            "{} of {} queries served within {within} ({} failed)   |   demand time covered {}   |   worst daily cold start {}   |   {} credits = {} the oracle ({}), {} than always-on ({}){}",
            scorecard::pct(t.service.served_within_pct),
            t.service.queries,
            t.service.failed,
            scorecard::pct(t.time_coverage_pct),
            scorecard::cold_cell(&t.worst_daily_cold_start),
            num(t.credits),
            scorecard::ratio_text(t.vs_oracle),
            num(t.oracle_credits),
            scorecard::than_always_on(t.savings_pct),
            num(t.always_on_credits),
            left_alone_said(t),
        ),
        &font(14, RGBColor(40, 40, 40)),
        (12, 34),
    )
    .map_err(err)?;
    // The legend: every swatch drawn as the thing it names.
    let small = font(13, RGBColor(50, 50, 50));
    let (mut x, y) = (12, 62);
    root.draw_text(
        "sizes (solid: hydrated, pale: starting or hydrating):",
        &small,
        (x, y + 1),
    )
    .map_err(err)?;
    x += 330;
    for (size, c) in &colours.0 {
        root.draw(&Rectangle::new(
            [(x, y), (x + 16, y + 14)],
            c.mix(0.3).filled(),
        ))
        .map_err(err)?;
        root.draw(&Rectangle::new([(x + 16, y), (x + 34, y + 14)], c.filled()))
            .map_err(err)?;
        root.draw(&Rectangle::new(
            [(x, y), (x + 34, y + 14)],
            c.stroke_width(1),
        ))
        .map_err(err)?;
        root.draw_text(&size.0, &small, (x + 39, y + 1))
            .map_err(err)?;
        x += 48 + 8 * size.0.len() as i32;
    }
    let (mut x, y) = (12, 86);
    let swatch = |x: i32, c: RGBColor| Rectangle::new([(x, y), (x + 26, y + 14)], c.filled());
    root.draw(&swatch(x, SERVED)).map_err(err)?;
    root.draw_text("demand, a replica hydrated", &small, (x + 32, y + 1))
        .map_err(err)?;
    x += 205;
    root.draw(&swatch(x, WAITING)).map_err(err)?;
    root.draw_text("demand, nothing hydrated", &small, (x + 32, y + 1))
        .map_err(err)?;
    x += 195;
    root.draw(&Rectangle::new(
        [(x + 12, y), (x + 14, y + 14)],
        FAILED.filled(),
    ))
    .map_err(err)?;
    root.draw_text("failed query", &small, (x + 32, y + 1))
        .map_err(err)?;
    x += 120;
    root.draw(&Rectangle::new(
        [(x + 4, y + 2), (x + 22, y + 14)],
        RGBColor(31, 119, 180).mix(0.3).filled(),
    ))
    .map_err(err)?;
    root.draw(&oom_mark(x + 13, y + 2)).map_err(err)?;
    root.draw_text("OOM kill", &small, (x + 32, y + 1))
        .map_err(err)?;
    x += 100;
    root.draw_text("▲ create  ▼ drop", &small, (x, y + 1))
        .map_err(err)?;
    x += 130;
    for (label, c, w) in [
        ("credits so far", RUN_LINE, 120),
        ("oracle", ORACLE_LINE, 80),
        ("always-on", ALWAYS_LINE, 100),
    ] {
        root.draw(&PathElement::new(
            vec![(x, y + 7), (x + 26, y + 7)],
            c.stroke_width(3),
        ))
        .map_err(err)?;
        root.draw_text(label, &small, (x + 32, y + 1))
            .map_err(err)?;
        x += w;
    }
    Ok(())
}

/// The time axis of a panel: ms → x.
struct Axis {
    horizon: i64,
    width: i32,
}

impl Axis {
    fn x(&self, t: i64) -> i32 {
        LEFT + ((t.clamp(0, self.horizon) as f64 / self.horizon as f64) * self.width as f64) as i32
    }
}

/// Day lines with labels, and hour ticks when there is room for them.
fn time_axis(root: &Area, sc: &Scenario, ax: &Axis, top: i32, bottom: i32) -> Result<(), SimError> {
    let horizon = ax.horizon;
    let px_per_hour = ax.width as f64 * HOUR as f64 / horizon as f64;
    let minor = if px_per_hour >= 4.0 {
        HOUR
    } else if px_per_hour * 6.0 >= 4.0 {
        6 * HOUR
    } else {
        DAY
    };
    let mut t = 0;
    while t <= horizon {
        let x = ax.x(t);
        root.draw(&PathElement::new(
            vec![(x, bottom), (x, bottom + 3)],
            RGBColor(150, 150, 150),
        ))
        .map_err(err)?;
        t += minor;
    }
    let label_step = if horizon <= 2 * DAY {
        6 * HOUR
    } else if horizon <= 21 * DAY {
        DAY
    } else {
        7 * DAY
    };
    let axis = font(12, RGBColor(90, 90, 90)).pos(Pos::new(HPos::Center, VPos::Top));
    let mut t = 0;
    while t <= horizon {
        let x = ax.x(t);
        let line = if t % DAY == 0 {
            RGBColor(190, 190, 190)
        } else {
            RGBColor(225, 225, 225)
        };
        root.draw(&PathElement::new(vec![(x, top), (x, bottom + 6)], line))
            .map_err(err)?;
        let when = sc.start + chrono::Duration::milliseconds(t);
        let label = if label_step < DAY {
            format!("d{} {}", t / DAY, when.format("%H:%M"))
        } else {
            format!("d{} {}", t / DAY, when.format("%a"))
        };
        root.draw_text(&label, &axis, (x, bottom + 8))
            .map_err(err)?;
        t += label_step;
    }
    Ok(())
}

fn panel(
    root: &Area,
    sc: &Scenario,
    slot: &Slot,
    cc: &ClusterCard,
    oracle: &Oracle,
    colours: &Colours,
    top: i32,
) -> Result<(), SimError> {
    let lanes = lanes(slot);
    let ax = Axis {
        horizon: sc.horizon_ms.max(1),
        width: WIDTH - LEFT - RIGHT,
    };
    let marks_top = top + TITLE;
    let lanes_top = marks_top + MARKS;
    let lanes_bottom = lanes_top + LANE * (lanes.len() as i32 + 2);
    let sv = &cc.service;
    root.draw_text(&cc.name, &bold(16), (12, top + 4))
        .map_err(err)?;
    root.draw_text(
        &format!(
            "served within {}: {} of {} ({} failed)  |  coverage {}  |  worst cold start {}  |  {} credits: {} the oracle {} ({}), always-on {} ({})  |  {} OOMs",
            secs(sc.clients.served_within_ms as f64 / 1000.0),
            scorecard::pct(sv.served_within_pct),
            sv.queries,
            sv.failed,
            scorecard::pct(cc.time_coverage_pct),
            scorecard::cold_cell(&cc.worst_daily_cold_start),
            num(cc.credits),
            scorecard::ratio_text(cc.vs_oracle),
            num(cc.oracle.credits),
            cc.oracle.size.as_deref().unwrap_or("-"),
            num(cc.always_on.credits),
            cc.always_on.size.as_deref().unwrap_or("-"),
            cc.ooms,
        ),
        &font(13, RGBColor(60, 60, 60)),
        (12, top + 24),
    )
    .map_err(err)?;
    root.draw(&Rectangle::new(
        [(LEFT, lanes_top), (LEFT + ax.width, lanes_bottom)],
        RGBColor(248, 248, 248).filled(),
    ))
    .map_err(err)?;
    time_axis(root, sc, &ax, lanes_top, lanes_bottom)?;
    demand_lanes(root, sc, slot, &ax, lanes_top)?;
    let right = font(13, BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    for (i, lane) in lanes.iter().enumerate() {
        let y0 = lanes_top + LANE * (i as i32 + 2);
        let label = crate::model::clip(lane, 21);
        root.draw_text(&label, &right, (LEFT - 8, y0 + LANE / 2))
            .map_err(err)?;
        let mut ooms = 0;
        for r in replicas(slot).filter(|r| &r.name == lane) {
            bar(root, sc, r, colours, y0, &ax)?;
            ooms += r.ooms.len();
        }
        if ooms > 0 {
            root.draw_text(
                &format!("{ooms} OOM{}", crate::model::plural(ooms)),
                &font(12, OOM).pos(Pos::new(HPos::Left, VPos::Center)),
                (LEFT + ax.width + 6, y0 + LANE / 2),
            )
            .map_err(err)?;
        }
    }
    let up = font(13, RGBColor(20, 130, 40)).pos(Pos::new(HPos::Center, VPos::Top));
    let down = font(13, RGBColor(60, 60, 60)).pos(Pos::new(HPos::Center, VPos::Top));
    for a in slot.actions.iter().filter(|a| a.ok) {
        let (glyph, style) = match a.kind {
            ActionKind::DropReplica => ("▼", &down),
            ActionKind::SetReplicationFactor if a.replication_factor == Some(0) => ("▼", &down),
            _ => ("▲", &up),
        };
        root.draw_text(glyph, style, (ax.x(a.t), marks_top))
            .map_err(err)?;
    }
    let cost_top = lanes_bottom + AXIS;
    let run_curve = spend_of(slot, sc.horizon_ms);
    cost_box(
        root,
        &ax,
        cost_top,
        COST,
        &run_curve,
        &oracle.spend,
        cc.always_on.credits,
        "credits",
    )
}

/// The demand lane and the failed-queries lane.
fn demand_lanes(
    root: &Area,
    sc: &Scenario,
    slot: &Slot,
    ax: &Axis,
    top: i32,
) -> Result<(), SimError> {
    let right = font(13, BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    root.draw_text("demand", &right, (LEFT - 8, top + LANE / 2))
        .map_err(err)?;
    root.draw_text("failed queries", &right, (LEFT - 8, top + LANE + LANE / 2))
        .map_err(err)?;
    let demand = slot.sim.spec.workload.demand_intervals(sc.horizon_ms);
    for (a, b) in &demand {
        let (x0, x1) = (ax.x(*a), ax.x(*b).max(ax.x(*a) + 1));
        root.draw(&Rectangle::new(
            [(x0, top + 3), (x1, top + LANE - 3)],
            SERVED.filled(),
        ))
        .map_err(err)?;
    }
    let covered = scorecard::coverage(slot, sc.horizon_ms);
    for (a, b) in super::demand::subtract(&demand, &covered) {
        let (x0, x1) = (ax.x(a), ax.x(b).max(ax.x(a) + 2));
        root.draw(&Rectangle::new(
            [(x0, top + 3), (x1, top + LANE - 3)],
            WAITING.filled(),
        ))
        .map_err(err)?;
    }
    // One tick per pixel column with a failed attempt.
    let y = top + LANE;
    let mut last = i32::MIN;
    for t in &slot.sim.stats.error_times {
        let x = ax.x(*t);
        if x != last {
            root.draw(&Rectangle::new(
                [(x, y + 3), (x + 1, y + LANE - 3)],
                FAILED.filled(),
            ))
            .map_err(err)?;
            last = x;
        }
    }
    Ok(())
}

fn bar(
    root: &Area,
    sc: &Scenario,
    r: &SimReplica,
    colours: &Colours,
    y0: i32,
    ax: &Axis,
) -> Result<(), SimError> {
    let colour = colours.of(&r.size);
    let end = r.gone_ms.unwrap_or(sc.horizon_ms);
    let (y_a, y_b) = (y0 + 3, y0 + LANE - 3);
    let x0 = ax.x(r.created_ms);
    let x1 = ax.x(end).max(x0 + 2);
    root.draw(&Rectangle::new(
        [(x0, y_a), (x1, y_b)],
        colour.mix(0.3).filled(),
    ))
    .map_err(err)?;
    let spans = r.hydrated_intervals(end);
    let mut widest = (0, x0);
    for (a, b) in &spans {
        let (xa, xb) = (ax.x(*a), ax.x(*b).max(ax.x(*a) + 1));
        root.draw(&Rectangle::new([(xa, y_a), (xb, y_b)], colour.filled()))
            .map_err(err)?;
        if xb - xa > widest.0 {
            widest = (xb - xa, xa);
        }
    }
    root.draw(&Rectangle::new(
        [(x0, y_a), (x1, y_b)],
        colour.stroke_width(1),
    ))
    .map_err(err)?;
    let label_w = 8 * r.size.0.len() as i32 + 6;
    if widest.0 > label_w {
        root.draw_text(&r.size.0, &font(12, WHITE), (widest.1 + 4, y_a + 2))
            .map_err(err)?;
    } else if x1 - x0 > label_w {
        root.draw_text(&r.size.0, &font(12, BLACK), (x0 + 4, y_a + 2))
            .map_err(err)?;
    }
    // OOM kills: a small black triangle on the bar's top edge, at most one
    // per few pixels, so a crash loop reads as a row of marks, not a band.
    let mut last = i32::MIN;
    for o in &r.ooms {
        let x = ax.x(*o);
        if x >= last + OOM_SPACING {
            root.draw(&oom_mark(x, y0)).map_err(err)?;
            last = x;
        }
    }
    Ok(())
}

/// Pixels between two OOM marks at least.
const OOM_SPACING: i32 = 7;

fn oom_mark(x: i32, y: i32) -> Polygon<(i32, i32)> {
    Polygon::new(vec![(x - 3, y), (x + 3, y), (x, y + 6)], OOM.filled())
}

/// Samples of a run's cumulative credits.
const SAMPLES: i64 = 300;

fn spend_of(slot: &Slot, horizon: i64) -> Vec<(i64, f64)> {
    let reps: Vec<&SimReplica> = replicas(slot).collect();
    (0..=SAMPLES)
        .map(|k| {
            let t = horizon * k / SAMPLES;
            let c: f64 = reps
                .iter()
                .filter(|r| r.created_ms < t)
                .map(|r| r.cost(r.gone_ms.unwrap_or(horizon).min(t)))
                .sum();
            (t, c)
        })
        .collect()
}

/// A fleet's first panel: its cumulative credits against the oracle's and
/// always-on's, the headline, and the clusters drawn below.
fn fleet_summary(
    root: &Area,
    sc: &Scenario,
    run: &Run,
    card: &Scorecard,
    oracles: &[Oracle],
    shown: &[usize],
    top: i32,
) -> Result<(), SimError> {
    let ax = Axis {
        horizon: sc.horizon_ms.max(1),
        width: WIDTH - LEFT - RIGHT,
    };
    root.draw_text("the fleet", &bold(16), (12, top + 4))
        .map_err(err)?;
    let t = &card.total;
    let lines = [
        format!(
            "{} clusters: {} credits, {} the oracle's lower bound ({}), always-on at the needed sizes {}{}",
            card.clusters.len(),
            num(t.credits),
            scorecard::ratio_text(t.vs_oracle),
            num(t.oracle_credits),
            num(t.always_on_credits),
            left_alone_said(t)
        ),
        format!(
            "{} of {} queries served within {}, {} failed; demand time covered {}; worst daily cold start {}; {} OOM kills; {} alert(s)",
            scorecard::pct(t.service.served_within_pct),
            t.service.queries,
            secs(sc.clients.served_within_ms as f64 / 1000.0),
            t.service.failed,
            scorecard::pct(t.time_coverage_pct),
            scorecard::cold_cell(&t.worst_daily_cold_start),
            t.ooms,
            t.alerts
        ),
        format!(
            "drawn below, the {} clusters furthest above their oracle: {}",
            shown.len(),
            shown
                .iter()
                .map(|i| {
                    let c = &card.clusters[*i];
                    format!("{} (+{})", c.name, num(c.credits - c.oracle.credits))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    for (k, l) in lines.iter().enumerate() {
        root.draw_text(
            l,
            &font(13, RGBColor(50, 50, 50)),
            (12, top + 26 + 18 * k as i32),
        )
        .map_err(err)?;
    }
    // By family, in one line.
    let by: Vec<String> = families(card)
        .into_iter()
        .take(8)
        .map(|(name, n, credits, oracle, pct)| {
            let ratio = scorecard::ratio_text((oracle > 0.0).then(|| credits / oracle));
            format!(
                "{name} ×{n}: {} credits, {ratio} the oracle, {pct:.1}% served",
                num(credits)
            )
        })
        .collect();
    root.draw_text(
        &format!("by kind: {}", by.join("   |   ")),
        &font(13, RGBColor(50, 50, 50)),
        (12, top + 26 + 18 * 3),
    )
    .map_err(err)?;
    // The fleet's curves: the sum of the clusters'.
    let mut run_curve = vec![(0, 0.0); SAMPLES as usize + 1];
    for slot in &run.slots {
        for (k, (t, c)) in spend_of(slot, sc.horizon_ms).into_iter().enumerate() {
            run_curve[k].0 = t;
            run_curve[k].1 += c;
        }
    }
    let oracle_curve: Vec<(i64, f64)> = run_curve
        .iter()
        .map(|(t, _)| (*t, oracles.iter().map(|o| spent_by(&o.spend, *t)).sum()))
        .collect();
    let lanes_top = top + 26 + 18 * 4 + 10;
    let h = 270 - (lanes_top - top) - AXIS - 10;
    time_axis(root, sc, &ax, lanes_top, lanes_top + h - 16)?;
    cost_box(
        root,
        &ax,
        lanes_top,
        h,
        &run_curve,
        &oracle_curve,
        t.always_on_credits,
        "fleet credits",
    )
}

/// The oracle's cumulative credits at `t` (its curve is a step list).
fn spent_by(spend: &[(i64, f64)], t: i64) -> f64 {
    let i = spend.partition_point(|(x, _)| *x <= t);
    if i == 0 {
        0.0
    } else {
        spend[i - 1].1
    }
}

/// Cumulative credits of the run, the oracle and always-on, in a box of
/// height `h` (the time axis below it is the caller's).
#[allow(clippy::too_many_arguments)]
fn cost_box(
    root: &Area,
    ax: &Axis,
    top: i32,
    h: i32,
    run: &[(i64, f64)],
    oracle: &[(i64, f64)],
    always_on: f64,
    label: &str,
) -> Result<(), SimError> {
    let bottom = top + h - 16;
    let inner = bottom - top;
    let run_max = run.last().map(|p| p.1).unwrap_or(0.0);
    let orc_max = oracle.last().map(|p| p.1).unwrap_or(0.0);
    let mut max = run_max.max(orc_max).max(1e-9);
    let show_always = always_on > 0.0 && always_on <= 3.0 * max;
    if show_always {
        max = max.max(always_on);
    }
    let y = |c: f64| bottom - ((c / max) * inner as f64) as i32;
    root.draw(&Rectangle::new(
        [(LEFT, top), (LEFT + ax.width, bottom)],
        RGBColor(220, 220, 220).stroke_width(1),
    ))
    .map_err(err)?;
    let right = font(12, BLACK).pos(Pos::new(HPos::Right, VPos::Center));
    root.draw_text(label, &right, (LEFT - 8, top + inner / 2))
        .map_err(err)?;
    if show_always {
        root.draw(&PathElement::new(
            vec![(ax.x(0), y(0.0)), (ax.x(ax.horizon), y(always_on))],
            ALWAYS_LINE.stroke_width(1),
        ))
        .map_err(err)?;
    }
    let line = |pts: &[(i64, f64)]| -> Vec<(i32, i32)> {
        std::iter::once((ax.x(0), y(0.0)))
            .chain(pts.iter().map(|(t, c)| (ax.x(*t), y(*c))))
            .collect()
    };
    root.draw(&PathElement::new(line(oracle), ORACLE_LINE.stroke_width(2)))
        .map_err(err)?;
    root.draw(&PathElement::new(line(run), RUN_LINE.stroke_width(2)))
        .map_err(err)?;
    let left = font(12, RGBColor(40, 40, 40)).pos(Pos::new(HPos::Left, VPos::Center));
    let x = LEFT + ax.width + 6;
    root.draw_text(&num(run_max), &left.color(&RUN_LINE), (x, y(run_max)))
        .map_err(err)?;
    if (y(orc_max) - y(run_max)).abs() >= 12 {
        root.draw_text(&num(orc_max), &left.color(&ORACLE_LINE), (x, y(orc_max)))
            .map_err(err)?;
    }
    Ok(())
}

/// After a header's credits: the clusters no strategy runs, which its
/// figures count as they ran (the summary says the strategies' apart; the
/// plot's ratio differed from it without a word: an outside check).
fn left_alone_said(t: &scorecard::Totals) -> String {
    match &t.left_alone {
        None => String::new(),
        Some(a) => format!(
            "; counting {} cluster(s) no strategy runs ({}, {} credits)",
            a.clusters.len(),
            scorecard::names_said(&a.clusters),
            num(a.credits)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Colour distance, squared.
    fn dist(a: (u8, u8, u8), b: RGBColor) -> i32 {
        let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2);
        d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)
    }

    #[test]
    fn size_colours_stay_clear_of_the_reds_and_of_each_other() {
        for c in PALETTE {
            for special in [WAITING, FAILED, SERVED] {
                assert!(dist(c, special) > 100 * 100, "{c:?} vs {special:?}");
            }
        }
        for (i, a) in PALETTE.iter().enumerate() {
            for b in &PALETTE[i + 1..] {
                assert!(
                    dist(*a, RGBColor(b.0, b.1, b.2)) > 60 * 60,
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn the_plot_marks_ooms_failures_and_names_sizes_in_the_legend() {
        let text = r#"
name = "t"
days = 2
interval = "1m"

[[clusters]]
name = "loop"
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "burst", config = { burst_replica_size = "1600cc" } },
  { type = "idle_suspend", config = { idle_after_s = 900 } },
]

[clusters.workload]
memory_gib = 12
hydration_work = "20m"
windows = [{ start = "01:00", duration = "1h", every = "1d", qps = 0.2 }]
"#;
        let (sc, run, card) = super::super::tests::sim(text);
        let oracles = scorecard::oracles(&sc, &run);
        let svg = render(&sc, &run, &card, &oracles).unwrap();
        // The legend names every size drawn, beside its swatch.
        assert!(
            svg.contains(">\n100cc\n<") && svg.contains(">\n1600cc\n<"),
            "{svg}"
        );
        // OOM kills are triangles, counted; failed queries are red ticks.
        let ooms = card.clusters[0].ooms;
        assert!(ooms > 0);
        assert!(svg.contains(&format!("{ooms} OOMs")));
        assert!(svg.matches("<polygon").count() >= 2);
        assert!(card.clusters[0].service.failed_attempts > 0);
        assert!(svg.contains("#E60000"), "failed queries in red");
        // Hour ticks on a two-day run: more tick marks than hours.
        assert!(svg.matches("<polyline").count() > 48);
    }

    /// The header's ratio counts the clusters no strategy runs: said.
    #[test]
    fn the_header_says_the_clusters_no_strategy_runs() {
        let text = super::super::tests::WITH_QUICKSTART;
        let (sc, run, card) = super::super::tests::sim(text);
        let oracles = scorecard::oracles(&sc, &run);
        let svg = render(&sc, &run, &card, &oracles).unwrap();
        assert!(
            svg.contains("counting 1 cluster(s) no strategy runs (quickstart, "),
            "{svg}"
        );
    }

    #[test]
    fn a_fleet_draws_the_costliest_clusters_of_each_kind() {
        let text = r#"
name = "fleet"
days = 1
interval = "1m"

[[clusters]]
name = "big_{i}"
count = 6
strategies = [{ type = "target_size", config = { target_size = "800cc" } }]
initial_replicas = [{ name = "r_800cc", size = "800cc" }]

[clusters.workload]
memory_gib = 4
hydration_work = "5m"
windows = [{ start = "10:00", duration = "1h", qps = 0.1 }]

[[clusters]]
name = "small_{i}"
count = 6
strategies = [{ type = "target_size", config = { target_size = "100cc" } }]
initial_replicas = [{ name = "r_100cc", size = "100cc" }]

[clusters.workload]
memory_gib = 4
hydration_work = "5m"
windows = [{ start = "10:00", duration = "1h", qps = 0.1 }]
"#;
        let (sc, run, card) = super::super::tests::sim(text);
        let picked = chosen(&card);
        let names: Vec<&str> = picked
            .iter()
            .map(|i| card.clusters[*i].name.as_str())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(names.iter().filter(|n| n.starts_with("big")).count(), 2);
        assert_eq!(names.iter().filter(|n| n.starts_with("small")).count(), 2);
        let oracles = scorecard::oracles(&sc, &run);
        let svg = render(&sc, &run, &card, &oracles).unwrap();
        assert!(
            svg.contains("the fleet") && svg.contains("by kind: big ×6"),
            "{svg}"
        );
    }
}
