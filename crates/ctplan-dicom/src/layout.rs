//! From the frames of a series to a voxel grid: the slice order and geometry.
//!
//! Slices are ordered by their position along the slice normal `n = row × column` of
//! ImageOrientationPatient (`d = n · ImagePositionPatient`), never by file name or
//! InstanceNumber (the ordering rule of dcm2niix, ITK/GDCM and 3D Slicer). The slice axis is the
//! line through the first and last positions: under gantry tilt it is not parallel to `n`, and
//! the grid is kept sheared (an oblique direction matrix) rather than silently straightened.
//! Duplicate positions are dropped (the first by InstanceNumber is kept); missing slices and
//! uneven spacing are detected and the stack is put on a regular grid at the median spacing, the
//! missing slices interpolated linearly between their neighbours — each reported.

use ctplan_core::Geometry;
use ctplan_core::vec3::{cross, dot, norm, scale, sub};

use crate::header::Frame;

/// Where one output slice comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SliceSource {
    /// A copy of input frame `i`.
    Copy(usize),
    /// `(1 − t)·a + t·b` of input frames `a` and `b`.
    Blend(usize, usize, f64),
}

/// The grid a series maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Voxel counts (columns, rows, output slices).
    pub dims: [usize; 3],
    /// Spacing, origin (the first slice's position) and directions (rows, columns, slice axis).
    pub geometry: Geometry,
    /// Where each output slice comes from, in slice order.
    pub slices: Vec<SliceSource>,
    /// Frames dropped because another frame has the same position.
    pub duplicates: usize,
    /// Gaps found: (position along the normal in mm after which slices are missing, how many).
    pub missing: Vec<(f64, usize)>,
    /// True if spacing varies beyond gaps of whole slices.
    pub uneven: bool,
    /// Angle between the slice axis and the slice normal (gantry tilt), degrees.
    pub tilt_deg: f64,
    /// Spacing along the slice normal, mm.
    pub slice_spacing: f64,
}

impl Layout {
    /// Output slices that are interpolated, not copied.
    pub fn interpolated(&self) -> usize {
        self.slices
            .iter()
            .filter(|s| matches!(s, SliceSource::Blend(..)))
            .count()
    }

    /// One line per irregularity found (empty when the stack is regular).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.duplicates > 0 {
            out.push(format!(
                "{} duplicate slice position(s) dropped",
                self.duplicates
            ));
        }
        for (after, n) in &self.missing {
            out.push(format!(
                "{n} missing slice(s) after position {after:.2} mm along the normal"
            ));
        }
        if self.uneven {
            out.push("uneven slice spacing".to_string());
        }
        let interp = self.interpolated();
        if interp > 0 {
            out.push(format!(
                "{interp} slice(s) interpolated onto a regular {:.3} mm grid",
                self.slice_spacing
            ));
        }
        out
    }
}

/// The direction of a header vector (an ImageOrientationPatient row or column, their cross
/// product, the first-to-last slice axis), or `None` when it is shorter than 1e-9 (no usable
/// direction: a damaged header or parallel axes) or not finite.
///
/// A documented variant of [`ctplan_core::vec3::unit`]: it multiplies by `1 / n` where core
/// divides by `n`, which can differ in the last bit, and every volume read from DICOM so far
/// took its geometry from this arithmetic; keeping it keeps their geometry bit-identical.
fn unit(a: [f64; 3]) -> Option<[f64; 3]> {
    let n = norm(a);
    (n > 1e-9 && n.is_finite()).then(|| scale(a, 1.0 / n))
}

/// Positions closer than this along the normal are the same slice.
const SAME_POSITION_MM: f64 = 0.01;

/// Numbers as DICOM writes a multi-valued decimal string (`1\\0\\0`), for messages.
fn ds(v: &[f64]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("\\")
}

/// Plan the grid for `frames` (in any order); `order_key` breaks ties between frames at the same
/// position (InstanceNumber). Errors are one line, for the caller to prefix with the series.
pub fn plan(frames: &[Frame], order_key: &[i64]) -> Result<Layout, String> {
    let first = frames.first().ok_or("no image frames")?;
    let iop = first
        .orientation
        .ok_or("no ImageOrientationPatient: the slices have no geometry")?;
    let ps = first.pixel_spacing.ok_or("no PixelSpacing")?;
    if !(ps[0] > 0.0 && ps[1] > 0.0) {
        return Err(format!("invalid PixelSpacing {}", ds(&ps)));
    }
    let bad_iop = || {
        format!(
            "invalid ImageOrientationPatient {}: the row and column directions need a finite, non-zero length",
            ds(&iop)
        )
    };
    let r = unit([iop[0], iop[1], iop[2]]).ok_or_else(bad_iop)?;
    let c = unit([iop[3], iop[4], iop[5]]).ok_or_else(bad_iop)?;
    let n = unit(cross(r, c)).ok_or("ImageOrientationPatient rows and columns are parallel")?;
    for f in frames {
        let o = f
            .orientation
            .ok_or("a slice has no ImageOrientationPatient")?;
        if o.iter().zip(iop.iter()).any(|(a, b)| (a - b).abs() > 1e-3) {
            return Err(format!(
                "slices with different orientations ({} and {}): not one volume",
                ds(&iop),
                ds(&o)
            ));
        }
        let p = f.pixel_spacing.ok_or("a slice has no PixelSpacing")?;
        if (p[0] - ps[0]).abs() > 1e-4 * ps[0] || (p[1] - ps[1]).abs() > 1e-4 * ps[1] {
            return Err(format!(
                "slices with different pixel spacings ({} and {}): not one volume",
                ds(&ps),
                ds(&p)
            ));
        }
    }
    let single = |thickness: Option<f64>, pos: [f64; 3]| -> Result<Layout, String> {
        let dz = thickness.filter(|t| *t > 0.0).unwrap_or(1.0);
        let geometry =
            Geometry::from_axis_vectors([scale(r, ps[1]), scale(c, ps[0]), scale(n, dz)], pos)
                .ok_or("degenerate geometry")?;
        Ok(Layout {
            dims: [0, 0, 1],
            geometry,
            slices: vec![SliceSource::Copy(0)],
            duplicates: 0,
            missing: Vec::new(),
            uneven: false,
            tilt_deg: 0.0,
            slice_spacing: dz,
        })
    };
    let finite = |p: [f64; 3]| {
        if p.iter().all(|x| x.is_finite()) {
            Ok(p)
        } else {
            Err(format!(
                "invalid ImagePositionPatient ({}, {}, {}): not finite",
                p[0], p[1], p[2]
            ))
        }
    };
    if frames.len() == 1 {
        return single(
            first.slice_thickness,
            finite(first.position.unwrap_or([0.0; 3]))?,
        );
    }
    let mut pos = Vec::with_capacity(frames.len());
    for f in frames {
        pos.push(finite(f.position.ok_or(
            "a slice has no ImagePositionPatient: cannot order the slices",
        )?)?);
    }
    let mut idx: Vec<usize> = (0..frames.len()).collect();
    let d: Vec<f64> = pos.iter().map(|p| dot(n, *p)).collect();
    idx.sort_by(|&a, &b| {
        d[a].total_cmp(&d[b])
            .then(order_key[a].cmp(&order_key[b]))
            .then(a.cmp(&b))
    });
    let mut kept: Vec<usize> = Vec::with_capacity(idx.len());
    let mut duplicates = 0;
    for &i in &idx {
        match kept.last() {
            Some(&j) if (d[i] - d[j]).abs() < SAME_POSITION_MM => duplicates += 1,
            _ => kept.push(i),
        }
    }
    if kept.len() == 1 {
        let mut l = single(frames[kept[0]].slice_thickness, pos[kept[0]])?;
        l.slices = vec![SliceSource::Copy(kept[0])];
        l.duplicates = duplicates;
        return Ok(l);
    }
    let p0 = pos[kept[0]];
    let p1 = pos[*kept.last().unwrap()];
    let u = unit(sub(p1, p0)).ok_or("first and last slice at the same position")?;
    let cos = dot(u, n);
    let tilt_deg = cos.clamp(-1.0, 1.0).acos().to_degrees();
    if tilt_deg > 45.0 {
        return Err(format!(
            "slice positions run {tilt_deg:.1}° away from the slice normal: not a stack"
        ));
    }
    // Every position must lie on the line p0 + t·u.
    let mut off = 0.0f64;
    for &i in &kept {
        let v = sub(pos[i], p0);
        off = off.max(norm(sub(v, scale(u, dot(v, u)))));
    }
    if off > 0.1 + 0.05 * ps[0].max(ps[1]) {
        return Err(format!(
            "slice positions do not lie on one line (a slice is {off:.2} mm off it): not one volume"
        ));
    }
    let dk: Vec<f64> = kept.iter().map(|&i| d[i]).collect();
    let mut steps: Vec<f64> = dk.windows(2).map(|w| w[1] - w[0]).collect();
    let span = dk[dk.len() - 1] - dk[0];
    steps.sort_by(f64::total_cmp);
    let median = steps[steps.len() / 2];
    let mut missing = Vec::new();
    let mut uneven = false;
    for w in dk.windows(2) {
        let step = w[1] - w[0];
        let k = (step / median).round();
        if k >= 2.0 && (step - k * median).abs() <= 0.25 * median {
            missing.push((w[0], k as usize - 1));
        } else if (step - median).abs() > 0.01 * median + 1e-3 {
            uneven = true;
        }
    }
    let (count, slices) = if missing.is_empty() && !uneven {
        (
            kept.len(),
            kept.iter().map(|&i| SliceSource::Copy(i)).collect(),
        )
    } else {
        let count = (span / median).round() as usize + 1;
        let step = span / (count - 1) as f64;
        let mut out = Vec::with_capacity(count);
        let mut j = 0;
        for k in 0..count {
            let t = dk[0] + k as f64 * step;
            while j + 2 < dk.len() && dk[j + 1] <= t {
                j += 1;
            }
            let (a, b) = (dk[j], dk[j + 1]);
            let tol = 0.01 * step;
            out.push(if (t - a).abs() < tol {
                SliceSource::Copy(kept[j])
            } else if (t - b).abs() < tol {
                SliceSource::Copy(kept[j + 1])
            } else {
                SliceSource::Blend(kept[j], kept[j + 1], ((t - a) / (b - a)).clamp(0.0, 1.0))
            });
        }
        (count, out)
    };
    let slice_spacing = span / (count - 1) as f64;
    let axis = scale(u, slice_spacing / cos);
    let geometry = Geometry::from_axis_vectors([scale(r, ps[1]), scale(c, ps[0]), axis], p0)
        .ok_or("degenerate geometry")?;
    Ok(Layout {
        dims: [0, 0, count],
        geometry,
        slices,
        duplicates,
        missing,
        uneven,
        tilt_deg,
        slice_spacing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(z: f64, y: f64) -> Frame {
        Frame {
            position: Some([-10.0, y, z]),
            orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            pixel_spacing: Some([0.5, 0.7]),
            slice_thickness: Some(2.0),
            slope: 1.0,
            intercept: 0.0,
        }
    }

    #[test]
    fn a_position_that_is_not_finite_is_refused_not_taken_as_the_origin() {
        let mut one = vec![frame(0.0, 0.0)];
        one[0].position = Some([f64::NAN, 0.0, 0.0]);
        assert_eq!(
            plan(&one, &[1]).unwrap_err(),
            "invalid ImagePositionPatient (NaN, 0, 0): not finite"
        );
        let mut two = vec![frame(0.0, 0.0), frame(2.0, 0.0)];
        two[1].position = Some([0.0, f64::INFINITY, 2.0]);
        assert!(plan(&two, &[1, 2]).unwrap_err().contains("not finite"));
    }

    #[test]
    fn orders_by_position_not_by_input_order() {
        let frames: Vec<Frame> = [4.0, 0.0, 2.0, 6.0]
            .iter()
            .map(|&z| frame(z, 0.0))
            .collect();
        let l = plan(&frames, &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            l.slices,
            vec![
                SliceSource::Copy(1),
                SliceSource::Copy(2),
                SliceSource::Copy(0),
                SliceSource::Copy(3)
            ]
        );
        assert_eq!(l.geometry.spacing, [0.7, 0.5, 2.0]);
        assert_eq!(l.geometry.origin, [-10.0, 0.0, 0.0]);
        assert!(l.problems().is_empty());
    }

    #[test]
    fn descending_positions_give_a_positive_slice_step_from_the_lowest() {
        let frames: Vec<Frame> = [6.0, 4.0, 2.0].iter().map(|&z| frame(z, 0.0)).collect();
        let l = plan(&frames, &[1, 2, 3]).unwrap();
        assert_eq!(l.geometry.origin[2], 2.0);
        assert_eq!(l.geometry.direction[2][2], 1.0);
    }

    #[test]
    fn a_missing_slice_is_found_and_interpolated() {
        let frames: Vec<Frame> = [0.0, 1.0, 3.0, 4.0]
            .iter()
            .map(|&z| frame(z, 0.0))
            .collect();
        let l = plan(&frames, &[0, 0, 0, 0]).unwrap();
        assert_eq!(l.dims[2], 5);
        assert_eq!(l.missing, vec![(1.0, 1)]);
        assert_eq!(l.slices[2], SliceSource::Blend(1, 2, 0.5));
        assert_eq!(l.interpolated(), 1);
        assert!(!l.uneven);
    }

    #[test]
    fn duplicates_are_dropped_keeping_the_lowest_instance_number() {
        let frames: Vec<Frame> = [0.0, 1.0, 1.0, 2.0]
            .iter()
            .map(|&z| frame(z, 0.0))
            .collect();
        let l = plan(&frames, &[1, 3, 2, 4]).unwrap();
        assert_eq!(l.duplicates, 1);
        assert_eq!(l.slices[1], SliceSource::Copy(2));
    }

    #[test]
    fn gantry_tilt_is_kept_as_a_sheared_axis() {
        // Positions move 0.2 mm posterior per 1 mm superior: tilt atan(0.2) = 11.3°.
        let frames: Vec<Frame> = (0..5).map(|k| frame(k as f64, 0.2 * k as f64)).collect();
        let l = plan(&frames, &[0; 5]).unwrap();
        assert!((l.tilt_deg - 0.2f64.atan().to_degrees()).abs() < 1e-9);
        let axes = l.geometry.axis_vectors();
        assert!((axes[2][1] - 0.2).abs() < 1e-12 && (axes[2][2] - 1.0).abs() < 1e-12);
        assert!((l.slice_spacing - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mixed_orientations_are_refused() {
        let mut frames: Vec<Frame> = (0..3).map(|k| frame(k as f64, 0.0)).collect();
        frames[1].orientation = Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
        assert!(plan(&frames, &[0; 3]).unwrap_err().contains("orientations"));
    }

    #[test]
    fn off_line_positions_are_refused() {
        let mut frames: Vec<Frame> = (0..4).map(|k| frame(k as f64, 0.0)).collect();
        frames[2].position = Some([-10.0, 5.0, 2.0]);
        assert!(plan(&frames, &[0; 4]).unwrap_err().contains("one line"));
    }
}
