//! Deterministic randomness for the phantom: counter-based, so that every voxel's value depends
//! only on the seed and the voxel (the same CT whatever the thread count or the order in which
//! slices are rendered).
//!
//! The generator is SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
//! generators", OOPSLA), used as a hash of (seed, counter); Gaussian values come from the
//! Box–Muller transform (Box & Muller 1958); the parenchyma's texture is value noise (random
//! values on a coarse lattice, interpolated smoothly), a low-frequency field.

/// SplitMix64's output function applied to `x`: a well-mixed 64-bit hash.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform value in (0, 1] from `seed` and `counter`.
pub fn uniform(seed: u64, counter: u64) -> f64 {
    let h = mix(seed ^ mix(counter));
    ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// A standard normal value (mean 0, SD 1) from `seed` and `counter` (Box–Muller).
pub fn gaussian(seed: u64, counter: u64) -> f64 {
    let u1 = uniform(seed, counter.wrapping_mul(2));
    let u2 = uniform(seed, counter.wrapping_mul(2).wrapping_add(1));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Value noise at `p` (mm): uniform values in [−1, 1] on a lattice of `cell` mm, interpolated
/// with a smoothstep in each axis. A field that varies over about `cell` mm, continuous.
pub fn value_noise(seed: u64, p: [f64; 3], cell: f64) -> f64 {
    let q = [p[0] / cell, p[1] / cell, p[2] / cell];
    let base = q.map(|x| x.floor());
    let t = [0, 1, 2].map(|d| {
        let f = q[d] - base[d];
        f * f * (3.0 - 2.0 * f)
    });
    let node = |a: i64, b: i64, c: i64| {
        let key = (a as u64).wrapping_mul(0x1F1F_1F1F)
            ^ (b as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)
            ^ (c as u64).wrapping_mul(0x9E37_79B9);
        2.0 * uniform(seed, key) - 1.0
    };
    let (a0, b0, c0) = (base[0] as i64, base[1] as i64, base[2] as i64);
    let mut v = 0.0;
    for dc in 0..2 {
        for db in 0..2 {
            for da in 0..2 {
                let w = [(da, 0), (db, 1), (dc, 2)]
                    .iter()
                    .map(|&(s, d)| if s == 1 { t[d] } else { 1.0 - t[d] })
                    .product::<f64>();
                v += w * node(a0 + da, b0 + db, c0 + dc);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_has_mean_zero_and_unit_sd() {
        let n = 200_000u64;
        let xs: Vec<f64> = (0..n).map(|i| gaussian(42, i)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        // Standard error of the mean: 1/√n ≈ 0.0022; of the SD: 1/√(2n) ≈ 0.0016.
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((sd - 1.0).abs() < 0.01, "{sd}");
        assert_ne!(gaussian(42, 7), gaussian(43, 7));
    }

    #[test]
    fn value_noise_is_bounded_continuous_and_matches_its_lattice() {
        let mut prev = value_noise(1, [0.0, 1.3, -2.0], 6.0);
        for i in 1..600 {
            let v = value_noise(1, [i as f64 * 0.05, 1.3, -2.0], 6.0);
            assert!((-1.0..=1.0).contains(&v));
            // A step of 0.05 mm changes a field over 6 mm cells by little.
            assert!((v - prev).abs() < 0.05, "{v} {prev}");
            prev = v;
        }
        // Different seeds, different fields.
        assert_ne!(
            value_noise(1, [3.0, 3.0, 3.0], 6.0),
            value_noise(2, [3.0, 3.0, 3.0], 6.0)
        );
    }
}
