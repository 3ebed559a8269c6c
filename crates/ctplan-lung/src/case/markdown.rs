//! The readable summaries of a plan: the case folder's `report.md` and the few lines a terminal
//! shows. Values are printed at the precision of `report.json` ([`crate::round`]).

use crate::airway::names::segment_index;
use crate::report::Report;
use crate::round::{r1, r2, r4};

/// The readable summary (`report.md`) of the case named `case`.
pub fn markdown(report: &Report, case: &str) -> String {
    let mut s = format!("# Segmentectomy plan — {case}\n\n");
    s.push_str(&format!(
        "Lung volume (segments together): {:.0} mL\n\n",
        r1(report.lung_volume_ml)
    ));
    s.push_str("## Segments\n\n| segment | lobe | bronchus | volume mL | fraction | textbook (19-count) |\n|---|---|---|---:|---:|---:|\n");
    for g in &report.segments {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1}% | {:.1}% |\n",
            g.name,
            g.lobe,
            g.bronchus,
            r2(g.volume_ml),
            100.0 * r4(g.fraction),
            100.0 * r4(g.textbook_fraction)
        ));
    }
    s.push_str("\n## Named bronchi\n\n| name | branch | generation | length mm | diameter mm | confidence |\n|---|---:|---:|---:|---:|---:|\n");
    for b in report.bronchi.iter().filter(|b| b.name.is_some()) {
        s.push_str(&format!(
            "| {} | #{} | {} | {:.1} | {:.1} | {:.2} |\n",
            b.name.as_deref().unwrap_or(""),
            b.id,
            b.generation,
            r2(b.length_mm),
            r2(b.diameter_mm),
            r2(b.confidence.unwrap_or(0.0))
        ));
    }
    for (i, n) in report.nodules.iter().enumerate() {
        s.push_str(&format!(
            "\n## Nodule {}\n\nAt ({:.1}, {:.1}, {:.1}) mm (LPS), in {} ({}), maximal diameter {:.1} mm, {:.2} mL; depth from the pleura {} mm; {:.1} mm from the nearest bronchus.\n\nBronchoscopic route ({:.0} mm): {}; leave the airway at ({:.1}, {:.1}, {:.1}) mm, {:.1} mm from the lesion.\n",
            i + 1,
            r2(n.centroid_mm[0]),
            r2(n.centroid_mm[1]),
            r2(n.centroid_mm[2]),
            n.segment.as_deref().unwrap_or("?"),
            n.lobe.as_deref().unwrap_or("?"),
            r2(n.diameter_mm),
            r4(n.volume_ml),
            n.depth_mm
                .map_or("?".to_string(), |d| format!("{:.1}", r2(d))),
            r2(n.bronchus_distance_mm),
            r2(n.route.length_mm),
            n.route.bronchi.join(" → "),
            r2(n.route.exit_mm[0]),
            r2(n.route.exit_mm[1]),
            r2(n.route.exit_mm[2]),
            r2(n.route.exit_to_lesion_mm)
        ));
    }
    if let Some(r) = &report.resection {
        s.push_str(&format!(
            "\n## Resection of {}\n\nSegments: {} ({:.2} of 19 counted). Resected {:.0} mL, remaining {:.0} mL.\n",
            r.targets.join(", "),
            r.segments.join(", "),
            r2(r.segments_counted),
            r2(r.volume_ml),
            r2(r.remaining_ml)
        ));
        if let (Some(f), Some(c), Some(v)) = (r.fev1_l, r.ppo_fev1_count, r.ppo_fev1_volume) {
            let (c, v) = (r2(c), r2(v));
            s.push_str(&format!(
                "\nFEV1 {f:.2} L → predicted post-operative {c:.2} L (segment counting), {v:.2} L (volumetry).\n"
            ));
        }
        if let (Some(m), Some(req), Some(ok)) = (r.margin_mm, r.margin_required_mm, r.margin_ok) {
            let (m, req) = (r2(m), r2(req));
            s.push_str(&format!(
                "\nMargin {m:.1} mm (ratio {:.2}) against {req:.1} mm required: {}.\n",
                r2(r.margin_ratio.unwrap_or(0.0)),
                if ok { "sufficient" } else { "NOT sufficient" }
            ));
            if !r.margin_options.is_empty() {
                s.push_str("\n| add | margin mm | ratio | sufficient | resected mL |\n|---|---:|---:|---|---:|\n");
                for o in &r.margin_options {
                    s.push_str(&format!(
                        "| {} | {:.1} | {:.2} | {} | {:.0} |\n",
                        o.add.join(" + "),
                        r2(o.margin_mm),
                        r2(o.margin_ratio),
                        if o.ok { "yes" } else { "no" },
                        r2(o.volume_ml)
                    ));
                }
            }
            if !r.extend_with.is_empty() {
                s.push_str(&format!(
                    "\nExtend with {} to restore the margin.\n",
                    r.extend_with.join(" + ")
                ));
            }
        }
        s.push_str(&format!(
            "\nStain through: {}.\n",
            r.stain_bronchi.join(", ")
        ));
        if !r.crossings.is_empty() {
            s.push_str("\n### Vessels crossing the intersegmental plane\n\n| kind | position mm | diameter mm | note |\n|---|---|---:|---|\n");
            for c in &r.crossings {
                s.push_str(&format!(
                    "| {} | ({:.1}, {:.1}, {:.1}) | {:.1} | {} |\n",
                    c.kind,
                    r2(c.position_mm[0]),
                    r2(c.position_mm[1]),
                    r2(c.position_mm[2]),
                    r2(c.diameter_mm),
                    c.note
                ));
            }
        }
    }
    if !report.segment_resections.is_empty() {
        s.push_str("\n## Each segment resected alone\n\n| segment | resected mL | remaining mL | ppoFEV1 count L | ppoFEV1 volume L | margin mm | ratio | margin ok |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
        let opt = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{:.2}", r2(v)));
        for o in &report.segment_resections {
            s.push_str(&format!(
                "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} |\n",
                o.segment,
                r2(o.volume_ml),
                r2(o.remaining_ml),
                opt(o.ppo_fev1_count),
                opt(o.ppo_fev1_volume),
                o.margin_mm
                    .map_or("–".to_string(), |v| format!("{:.1}", r2(v))),
                opt(o.margin_ratio),
                match o.margin_ok {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "–",
                },
            ));
        }
    }
    if !report.warnings.is_empty() {
        s.push_str("\n## Warnings\n\n");
        for w in &report.warnings {
            s.push_str(&format!("- {w}\n"));
        }
    }
    s
}

/// The few lines a terminal shows for a plan: named segmental bronchi, lung volume, nodules
/// with their routes, the resection with its function and margin, and the warnings.
pub fn summary(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    let named: Vec<&str> = r
        .bronchi
        .iter()
        .filter_map(|b| b.name.as_deref())
        .filter(|n| segment_index(n).is_some())
        .collect();
    line(format!(
        "airway: {} branches, {} segmental bronchi named: {}",
        r.bronchi.len(),
        named.len(),
        named.join(" ")
    ));
    let lung_ml = r1(r.lung_volume_ml);
    if lung_ml > 0.0 {
        line(format!(
            "lungs: {lung_ml:.0} mL in {} segments",
            r.segments.iter().filter(|s| r2(s.volume_ml) > 0.0).count()
        ));
    }
    for n in &r.nodules {
        line(format!(
            "nodule: {:.1} mm in {} ({}), depth {} mm, route {:.0} mm via {}",
            r2(n.diameter_mm),
            n.segment.as_deref().unwrap_or("?"),
            n.lobe.as_deref().unwrap_or("?"),
            n.depth_mm.map_or("?".into(), |d| format!("{:.1}", r2(d))),
            r2(n.route.length_mm),
            n.route.bronchi.last().map_or("?", |s| s.as_str())
        ));
    }
    if let Some(x) = &r.resection {
        line(format!(
            "resection {}: {:.0} mL, remaining {:.0} mL{}",
            x.targets.join(" "),
            r2(x.volume_ml),
            r2(x.remaining_ml),
            x.ppo_fev1_count.map_or(String::new(), |c| format!(
                ", ppoFEV1 {:.2} L (count) / {:.2} L (volume)",
                r2(c),
                r2(x.ppo_fev1_volume.unwrap_or(0.0))
            ))
        ));
        if let (Some(m), Some(ok)) = (x.margin_mm, x.margin_ok) {
            line(format!(
                "margin {:.1} mm (ratio {:.2}): {}{}",
                r2(m),
                r2(x.margin_ratio.unwrap_or(0.0)),
                if ok { "ok" } else { "insufficient" },
                if x.extend_with.is_empty() {
                    String::new()
                } else {
                    format!("; extend with {}", x.extend_with.join(" + "))
                }
            ));
        }
    }
    for w in &r.warnings {
        line(format!("warning: {w}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Request, plan_case};
    use crate::resection::tests::synthetic_model;
    use crate::resection::{Margin, Target};

    #[test]
    fn values_keep_full_precision_and_are_rounded_when_written() {
        let model = synthetic_model();
        let request = Request {
            targets: vec![Target::Name("RS1".into())],
            fev1: Some(2.5),
            margin: Margin::Mm(5.0),
        };
        let r = plan_case(&model, &request).unwrap();
        let res = r.resection.as_ref().unwrap();
        assert_eq!(res.ppo_fev1_count, Some(2.5 * (1.0 - 1.0 / 19.0)));
        let json: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(json["resection"]["ppo_fev1_count"], 2.37);
        assert_eq!(json["resection"]["ppo_fev1_volume"], 1.67);
        assert_eq!(json["resection"]["margin_ratio"], 0.73);
        assert_eq!(json["segments"][0]["fraction"], 0.3333);
        assert_eq!(json["lung_volume_ml"], 3.0);
        let md = markdown(&r, "synthetic");
        assert!(md.contains("predicted post-operative 2.37 L (segment counting), 1.67 L"));
        assert!(md.contains("Margin 2.0 mm (ratio 0.73) against 5.0 mm required: NOT sufficient"));
        assert!(summary(&r).contains("extend with RS2"));
        // What the case folder's scene needs: the resected branches and the halo radius.
        assert_eq!(r.resected.as_ref().unwrap().iter().count(), 1);
        assert_eq!(r.halo_mm, Some(5.0));
        assert_eq!(r.segment_resections.len(), 3);
    }
}
