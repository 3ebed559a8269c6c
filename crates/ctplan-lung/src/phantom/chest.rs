//! What surrounds the lungs in the phantom: the chest wall, ribs, spine, mediastinum and the
//! table, as one axial layout shared by every slice (a thorax is close to a cylinder over the
//! lungs' height).
//!
//! The lungs and airways are projected along the slice axis; their convex hull is the inside
//! of the rib cage (mediastinum and heart between the lungs are the hull's soft tissue); the
//! body is the hull padded by [`WALL_MM`] of chest wall whose outer [`FAT_MM`] is subcutaneous
//! fat; ribs are a band [`RIB_GAP_MM`] outside the hull, cut into slanted bars along z
//! ([`Layout::is_rib`]); the vertebral body sits at the hull's posterior midline; the table is
//! a slab below the patient's back (posterior, +y in LPS) across a gap of air.

use ctplan_core::edt::squared_edt;

/// Chest wall thickness outside the rib cage (mm): intercostal muscle, pectoral and back
/// muscles and fat (adult chest wall: about 20–40 mm).
pub const WALL_MM: f64 = 25.0;
/// Subcutaneous fat, the outer part of the chest wall (mm).
pub const FAT_MM: f64 = 8.0;
/// Ribs lie this far outside the lungs' hull (mm): the parietal pleura and intercostal muscle.
pub const RIB_GAP_MM: f64 = 2.0;
/// Rib thickness across the wall (mm).
pub const RIB_THICK_MM: f64 = 7.0;
/// Rib height along z (mm).
pub const RIB_HEIGHT_MM: f64 = 10.0;
/// Distance between consecutive ribs along z (mm): twelve ribs over about 300 mm.
pub const RIB_PITCH_MM: f64 = 26.0;
/// Ribs descend anteriorly: z changes by this much per mm along y.
pub const RIB_SLANT: f64 = 0.35;
/// Half-width of the anterior gap without ribs at the sternum (mm).
pub const STERNUM_HALF_MM: f64 = 25.0;
/// Vertebral body radius (mm).
pub const SPINE_RADIUS_MM: f64 = 16.0;
/// Air gap between the patient's back and the table (mm): wider than the body stage's bridge
/// cut, as on a scanner with a thin pad.
pub const TABLE_GAP_MM: f64 = 6.0;
/// Table thickness (mm).
pub const TABLE_MM: f64 = 10.0;
/// Room needed around the lungs' grid (mm) for the wall, the gap and the table.
pub const PAD_MM: f64 = WALL_MM + TABLE_GAP_MM + TABLE_MM + 8.0;

/// What lies at a pixel of the axial layout (outside the lungs and airways).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tissue {
    /// Air around the patient.
    Air,
    /// The scanner table.
    Table,
    /// Subcutaneous fat.
    Fat,
    /// Muscle, mediastinum, heart: soft tissue.
    Soft,
    /// The rib band: rib where [`Layout::is_rib`], soft tissue between ribs.
    RibBand,
    /// The vertebral body.
    Spine,
}

/// The axial layout of the chest on a grid of `dims[0] × dims[1]` pixels.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Pixels per row and rows.
    pub dims: [usize; 2],
    /// Per pixel (row-major, x fastest).
    pub tissue: Vec<Tissue>,
    /// World y (mm) about which the ribs slant.
    pub y_centre: f64,
    /// World x (mm) of the midline.
    pub x_centre: f64,
}

impl Layout {
    /// Whether the rib band at world `(x, y, z)` is bone: slanted bars [`RIB_HEIGHT_MM`] high
    /// every [`RIB_PITCH_MM`], none anteriorly at the sternum.
    pub fn is_rib(&self, p: [f64; 3]) -> bool {
        if (p[0] - self.x_centre).abs() < STERNUM_HALF_MM && p[1] < self.y_centre {
            return false;
        }
        (p[2] - RIB_SLANT * (p[1] - self.y_centre)).rem_euclid(RIB_PITCH_MM) < RIB_HEIGHT_MM
    }
}

/// Convex hull of points (Andrew's monotone chain), counter-clockwise, no collinear points.
fn hull(mut pts: Vec<[i64; 2]>) -> Vec<[i64; 2]> {
    pts.sort_unstable();
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: [i64; 2], a: [i64; 2], b: [i64; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut h: Vec<[i64; 2]> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = h.len();
        let it: Box<dyn Iterator<Item = &[i64; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in it {
            while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
    }
    h
}

/// The layout for a projection `inside` (pixels covered by lung or airway in some slice) on a
/// grid of `dims` pixels of `spacing` mm, whose pixel centres lie at world `(x, y)` given by
/// `world`.
pub fn layout(
    inside: &[bool],
    dims: [usize; 2],
    spacing: [f64; 2],
    world: impl Fn(usize, usize) -> [f64; 2],
) -> Layout {
    let [nx, ny] = dims;
    // Each row's outermost covered pixels are enough for the hull.
    let mut pts = Vec::new();
    for j in 0..ny {
        let row = &inside[j * nx..(j + 1) * nx];
        if let (Some(a), Some(b)) = (row.iter().position(|&v| v), row.iter().rposition(|&v| v)) {
            pts.push([a as i64, j as i64]);
            pts.push([b as i64, j as i64]);
        }
    }
    let h = hull(pts);
    let in_hull = |i: usize, j: usize| -> bool {
        if h.len() < 3 {
            return h.iter().any(|p| p[0] == i as i64 && p[1] == j as i64);
        }
        (0..h.len()).all(|e| {
            let (a, b) = (h[e], h[(e + 1) % h.len()]);
            (b[0] - a[0]) * (j as i64 - a[1]) - (b[1] - a[1]) * (i as i64 - a[0]) >= 0
        })
    };
    let cage: Vec<u8> = (0..nx * ny)
        .map(|p| in_hull(p % nx, p / nx) as u8)
        .collect();
    let d2 = squared_edt(&cage, [nx, ny, 1], [spacing[0], spacing[1], 1.0]);
    let dist: Vec<f64> = d2.iter().map(|&d| (d as f64).sqrt()).collect();
    // Midline and posterior edge of the cage, in world mm.
    let (mut xs, mut n, mut y_min, mut y_max) = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for p in 0..nx * ny {
        if cage[p] != 0 {
            let w = world(p % nx, p / nx);
            xs += w[0];
            n += 1.0;
            y_min = y_min.min(w[1]);
            y_max = y_max.max(w[1]);
        }
    }
    let x_centre = if n > 0.0 { xs / n } else { 0.0 };
    let y_centre = 0.5 * (y_min + y_max);
    let mut posterior = f64::NEG_INFINITY;
    for p in 0..nx * ny {
        let w = world(p % nx, p / nx);
        if cage[p] != 0 && (w[0] - x_centre).abs() < 10.0 {
            posterior = posterior.max(w[1]);
        }
    }
    let spine = [x_centre, posterior - SPINE_RADIUS_MM];
    let mut body_y = f64::NEG_INFINITY;
    for (p, &d) in dist.iter().enumerate() {
        if d <= WALL_MM {
            body_y = body_y.max(world(p % nx, p / nx)[1]);
        }
    }
    let tissue = (0..nx * ny)
        .map(|p| {
            let d = dist[p];
            let w = world(p % nx, p / nx);
            let to_spine = ((w[0] - spine[0]).powi(2) + (w[1] - spine[1]).powi(2)).sqrt();
            if d > WALL_MM {
                let below = w[1] - body_y;
                if (TABLE_GAP_MM..TABLE_GAP_MM + TABLE_MM).contains(&below) {
                    Tissue::Table
                } else {
                    Tissue::Air
                }
            } else if d > WALL_MM - FAT_MM {
                Tissue::Fat
            } else if to_spine <= SPINE_RADIUS_MM {
                Tissue::Spine
            } else if d > RIB_GAP_MM && d <= RIB_GAP_MM + RIB_THICK_MM {
                Tissue::RibBand
            } else {
                Tissue::Soft
            }
        })
        .collect();
    Layout {
        dims,
        tissue,
        y_centre,
        x_centre,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_inner_points() {
        let pts = vec![[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [1, 3], [2, 0]];
        let h = hull(pts);
        assert_eq!(h, vec![[0, 0], [4, 0], [4, 4], [0, 4]]);
    }

    #[test]
    fn a_disc_gets_wall_fat_ribs_spine_and_a_table() {
        // A disc of radius 40 px (1 mm) at the centre of 200 × 200 px; world = index (mm).
        let dims = [200, 200];
        let inside: Vec<bool> = (0..200 * 200)
            .map(|p| {
                let (x, y) = ((p % 200) as f64 - 100.0, (p / 200) as f64 - 100.0);
                x * x + y * y <= 1600.0
            })
            .collect();
        let l = layout(&inside, dims, [1.0, 1.0], |i, j| [i as f64, j as f64]);
        let at = |i: usize, j: usize| l.tissue[j * 200 + i];
        assert_eq!(at(100, 100), Tissue::Soft);
        // Along −x from the centre: hull edge at 60, ribs 2–9 mm out, fat 17–25 mm out.
        assert_eq!(at(55, 100), Tissue::RibBand);
        assert_eq!(at(48, 100), Tissue::Soft);
        assert_eq!(at(40, 100), Tissue::Fat);
        assert_eq!(at(30, 100), Tissue::Air);
        // The spine at the posterior midline inside the cage, the table below the back
        // (body ends at y = 165, the table 171–181).
        assert_eq!(at(100, 130), Tissue::Spine);
        assert_eq!(at(100, 168), Tissue::Air);
        assert_eq!(at(100, 175), Tissue::Table);
        assert_eq!(at(100, 190), Tissue::Air);
        // Ribs: bars along z, none at the anterior midline.
        assert!(l.is_rib([40.0, 100.0, 5.0]));
        assert!(!l.is_rib([40.0, 100.0, 15.0]));
        assert!(!l.is_rib([100.0, 60.0, 5.0]));
    }
}
