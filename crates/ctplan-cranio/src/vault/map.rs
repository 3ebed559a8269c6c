//! The azimuthal equidistant map of directions around the superior pole.

/// The azimuthal equidistant map of directions around the superior pole.
pub(crate) struct Map {
    pub n: usize,
    pub half: f64,
    pub bin: f64,
    pub max_polar: f64,
}

impl Map {
    /// The map of bins `bin` (radians) wide that covers the polar angles up to `max_polar`,
    /// with a bin to spare on each side.
    pub(crate) fn new(bin: f64, max_polar: f64) -> Map {
        let n = (2.0 * max_polar / bin).ceil() as usize + 2;
        Map {
            n,
            half: n as f64 / 2.0,
            bin,
            max_polar,
        }
    }

    /// Bin of a direction vector (None outside the vault disk).
    pub(crate) fn bin_of(&self, d: [f64; 3]) -> Option<usize> {
        let r = ctplan_core::vec3::norm(d);
        if r == 0.0 {
            return None;
        }
        let theta = (d[2] / r).clamp(-1.0, 1.0).acos();
        if theta > self.max_polar {
            return None;
        }
        let rho = (d[0] * d[0] + d[1] * d[1]).sqrt();
        let (c, s) = if rho > 0.0 {
            (d[0] / rho, d[1] / rho)
        } else {
            (1.0, 0.0)
        };
        let u = theta * c / self.bin + self.half;
        let v = theta * s / self.bin + self.half;
        let (iu, iv) = (u.floor() as usize, v.floor() as usize);
        (iu < self.n && iv < self.n).then_some(iu + self.n * iv)
    }

    /// Map coordinates of the centre of bin `b`, radians.
    pub(crate) fn uv(&self, b: usize) -> (f64, f64) {
        (
            ((b % self.n) as f64 + 0.5 - self.half) * self.bin,
            ((b / self.n) as f64 + 0.5 - self.half) * self.bin,
        )
    }

    /// Unit direction (LPS) of the centre of bin `b`.
    pub(crate) fn direction(&self, b: usize) -> [f64; 3] {
        let (u, v) = self.uv(b);
        let theta = (u * u + v * v).sqrt();
        let phi = v.atan2(u);
        [
            theta.sin() * phi.cos(),
            theta.sin() * phi.sin(),
            theta.cos(),
        ]
    }

    /// Polar angle (radians from the pole) of the centre of bin `b`.
    pub(crate) fn polar(&self, b: usize) -> f64 {
        let (u, v) = self.uv(b);
        (u * u + v * v).sqrt()
    }

    /// Is bin `b` inside the disk, and how far from its edge (in bins)?
    pub(crate) fn disk_margin(&self, b: usize) -> f64 {
        (self.max_polar - self.polar(b)) / self.bin
    }
}
