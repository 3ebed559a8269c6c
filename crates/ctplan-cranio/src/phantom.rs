//! A synthetic skull: an ellipsoidal shell of cranial-vault size with a craniotomy-like defect
//! in the vault. It needs no data, so the demo and tests can run anywhere. It is a shape
//! phantom, not anatomy: no face, no skull base, uniform bone thickness.

use ctplan_core::vec3::unit;
use ctplan_core::{Geometry, Mask};
use rayon::prelude::*;

/// Parameters of the phantom (all lengths in mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhantomSpec {
    /// Grid sizes.
    pub dims: [usize; 3],
    /// Voxel spacing.
    pub spacing: [f64; 3],
    /// Outer semi-axes of the vault (left–right, anterior–posterior, superior).
    pub radii: [f64; 3],
    /// Bone thickness.
    pub thickness: f64,
    /// Radius of the circular defect cut through the vault.
    pub defect_radius: f64,
    /// Direction (unit LPS vector from the centre) in which the defect lies.
    pub defect_direction: [f64; 3],
}

impl Default for PhantomSpec {
    fn default() -> Self {
        PhantomSpec {
            dims: [192, 224, 160],
            spacing: [0.9, 0.9, 1.0],
            radii: [72.0, 88.0, 70.0],
            thickness: 6.0,
            defect_radius: 28.0,
            defect_direction: [0.55, -0.3, 0.78],
        }
    }
}

/// The complete skull, the defective skull and the true implant (complete = defective ∪ implant,
/// defective ∩ implant = ∅), on one grid centred on the skull, LPS, axis-aligned.
pub struct Phantom {
    /// The complete skull.
    pub complete: Mask,
    /// The skull with the defect.
    pub defective: Mask,
    /// The bone of the defect: the true implant.
    pub implant: Mask,
}

/// Build the phantom. The vault is the upper part of the shell (z above −25 mm from the centre).
pub fn skull(spec: &PhantomSpec) -> Phantom {
    let [nx, ny, nz] = spec.dims;
    let centre_idx = [
        (nx as f64 - 1.0) / 2.0,
        (ny as f64 - 1.0) / 2.0,
        (nz as f64 - 1.0) * 0.4,
    ];
    let origin = [
        -centre_idx[0] * spec.spacing[0],
        -centre_idx[1] * spec.spacing[1],
        -centre_idx[2] * spec.spacing[2],
    ];
    let geometry = Geometry::new(spec.spacing, origin);
    let dir = unit(spec.defect_direction).expect("the defect direction is not zero");
    let r = spec.radii;
    let inner = r.map(|x| x - spec.thickness);
    let mut complete = Mask::zeros(spec.dims, geometry);
    let mut implant = Mask::zeros(spec.dims, geometry);
    complete
        .data
        .par_chunks_mut(nx)
        .zip(implant.data.par_chunks_mut(nx))
        .enumerate()
        .for_each(|(row, (c_line, i_line))| {
            let (j, k) = (row % ny, row / ny);
            for i in 0..nx {
                let p = geometry.index_to_world([i as f64, j as f64, k as f64]);
                if p[2] < -25.0 {
                    continue;
                }
                let outer_q = (p[0] / r[0]).powi(2) + (p[1] / r[1]).powi(2) + (p[2] / r[2]).powi(2);
                let inner_q = (p[0] / inner[0]).powi(2)
                    + (p[1] / inner[1]).powi(2)
                    + (p[2] / inner[2]).powi(2);
                if outer_q <= 1.0 && inner_q > 1.0 {
                    c_line[i] = 1;
                    // The defect: a cylinder of bone around the ray from the centre along `dir`.
                    let along = p[0] * dir[0] + p[1] * dir[1] + p[2] * dir[2];
                    let perp2 = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) - along * along;
                    if along > 0.0 && perp2 <= spec.defect_radius * spec.defect_radius {
                        i_line[i] = 1;
                    }
                }
            }
        });
    let defective = Mask {
        data: complete
            .data
            .iter()
            .zip(&implant.data)
            .map(|(&c, &i)| c & !i & 1)
            .collect(),
        ..complete.clone()
    };
    Phantom {
        complete,
        defective,
        implant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_hold_and_sizes_are_plausible() {
        let spec = PhantomSpec {
            dims: [96, 112, 80],
            spacing: [1.8, 1.8, 2.0],
            ..Default::default()
        };
        let p = skull(&spec);
        let (c, d, i) = (
            p.complete.count_nonzero(),
            p.defective.count_nonzero(),
            p.implant.count_nonzero(),
        );
        assert_eq!(c, d + i);
        assert!(
            p.defective
                .data
                .iter()
                .zip(&p.implant.data)
                .all(|(a, b)| a & b == 0)
        );
        let ml = |n: usize| n as f64 * p.complete.voxel_volume_mm3() / 1000.0;
        // A 28 mm-radius, 6 mm-thick cap: π·28²·6 ≈ 15 mL (more where the shell is oblique).
        assert!((10.0..30.0).contains(&ml(i)), "implant {} mL", ml(i));
        assert!((150.0..600.0).contains(&ml(c)), "skull {} mL", ml(c));
    }
}
