//! A learned correction of the shape model's trend: a small 2-D U-Net (Ronneberger, Fischer and
//! Brox, "U-Net: Convolutional networks for biomedical image segmentation", MICCAI 2015) on a
//! coarse copy of the vault map of [`crate::implant`].
//!
//! The shape model ([`crate::prior`]) completes a defect with a ridge-regularised combination
//! of template skulls fitted to the ring of bone around it; its error is what a linear model of
//! 55 skulls cannot follow. The network sees, on a 2° map, the intact bone's inner and outer
//! radius, where bone is, which bins are rebuilt and the shape model's trend over them, and
//! predicts how far the complete skull's inner and outer surface lie from the trend. The
//! correction is sampled back bilinearly onto the design's finer map and added to the trend,
//! which then goes through the usual blend into the rim (quadratic plus harmonic residual), so
//! the fill still meets the intact bone continuously. Learning a residual over a classical
//! estimate keeps the network small enough to train on a CPU from 55 skulls and to run in a
//! fraction of a second: inference here is plain Rust (3×3 convolutions, ReLU, 2×2 average
//! pooling, nearest upsampling), no runtime.
//!
//! Weights are a safetensors file made by `training/shapenet.py` (with its training record in
//! the metadata); besides the layers it holds `shift` and `scale`, the normalisation of the
//! input features. No network ships yet: the one trained so far lowered the design's accuracy
//! (docs/cranio.md, "Learned correction"), so `ctplan implant --net FILE` is opt-in.

use std::collections::HashMap;

use ctplan_core::Mask;
use rayon::prelude::*;

use crate::implant::{DefectPlan, DesignError, DesignOptions, Shell, check_reference_grid, plan};
use crate::prior::ShapePrior;

/// Bin size of the network's map, degrees.
pub const NET_BIN_DEG: f64 = 2.0;
/// Bins per side of the network's map (it covers directions up to 112° from superior; a
/// multiple of 8 for three 2× poolings).
pub const NET_N: usize = 112;
/// Input channels: observed bone, rebuilt region, observed outer and inner radius (mm), the
/// shape model's outer and inner trend (mm), where the trend is defined. The network's first
/// step turns them into features ([`ShapeNet::predict`]).
pub const IN_CHANNELS: usize = 7;
/// A correction larger than this anywhere in a rebuilt region is implausible, mm.
pub const MAX_CORRECTION_MM: f64 = 8.0;

/// Why a network could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("not a safetensors file: {0}")]
    Format(String),
    #[error("tensor `{0}` is missing")]
    Missing(String),
    #[error("tensor `{name}` has shape {got:?}, expected {want:?}")]
    Shape {
        name: String,
        got: Vec<usize>,
        want: Vec<usize>,
    },
}

/// A 3×3 (or 1×1) convolution's weights, `[out][in][k][k]`, and bias.
#[derive(Debug, Clone)]
struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// The network: four encoder levels, three decoder levels, a 1×1 head with two outputs (the
/// outer and inner correction, mm).
#[derive(Debug, Clone)]
pub struct ShapeNet {
    shift: Vec<f32>,
    scale: Vec<f32>,
    /// `enc[l]` and `dec[l]`: two 3×3 convolutions each (`dec` has three levels).
    enc: Vec<[Conv; 2]>,
    dec: Vec<[Conv; 2]>,
    head: Conv,
    /// The file's metadata (training record).
    pub metadata: HashMap<String, String>,
}

/// Channel widths of the encoder levels.
pub const WIDTHS: [usize; 4] = [16, 32, 64, 96];

/// A (channels, side, side) image.
#[derive(Clone)]
struct Image {
    c: usize,
    n: usize,
    data: Vec<f32>,
}

impl Conv {
    fn apply(&self, x: &Image, relu: bool) -> Image {
        let n = x.n;
        let (k, half) = (self.k, self.k / 2);
        let mut data = vec![0f32; self.cout * n * n];
        data.par_chunks_mut(n * n)
            .enumerate()
            .for_each(|(co, out)| {
                out.fill(self.b[co]);
                for ci in 0..self.cin {
                    let plane = &x.data[ci * n * n..(ci + 1) * n * n];
                    for ky in 0..k {
                        for kx in 0..k {
                            let w = self.w[((co * self.cin + ci) * k + ky) * k + kx];
                            let (dy, dx) =
                                (ky as isize - half as isize, kx as isize - half as isize);
                            let (x0, x1) = (
                                (-dx).max(0) as usize,
                                (n as isize - dx).min(n as isize) as usize,
                            );
                            for y in 0..n {
                                let sy = y as isize + dy;
                                if sy < 0 || sy >= n as isize {
                                    continue;
                                }
                                let src = &plane[sy as usize * n..sy as usize * n + n];
                                let dst = &mut out[y * n..y * n + n];
                                let sx0 = (x0 as isize + dx) as usize;
                                for (d, s) in dst[x0..x1].iter_mut().zip(&src[sx0..sx0 + (x1 - x0)])
                                {
                                    *d += w * s;
                                }
                            }
                        }
                    }
                }
                if relu {
                    out.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            });
        Image {
            c: self.cout,
            n,
            data,
        }
    }
}

fn pool(x: &Image) -> Image {
    let m = x.n / 2;
    let mut data = vec![0f32; x.c * m * m];
    for c in 0..x.c {
        for y in 0..m {
            for xx in 0..m {
                let at =
                    |dy: usize, dx: usize| x.data[c * x.n * x.n + (2 * y + dy) * x.n + 2 * xx + dx];
                data[c * m * m + y * m + xx] = 0.25 * (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1));
            }
        }
    }
    Image { c: x.c, n: m, data }
}

/// Nearest-neighbour 2× upsampling of `x`, then the channels of `skip` appended.
fn up_cat(x: &Image, skip: &Image) -> Image {
    let n = skip.n;
    let mut data = Vec::with_capacity((x.c + skip.c) * n * n);
    for c in 0..x.c {
        for y in 0..n {
            for xx in 0..n {
                data.push(x.data[c * x.n * x.n + (y / 2) * x.n + xx / 2]);
            }
        }
    }
    data.extend_from_slice(&skip.data);
    Image {
        c: x.c + skip.c,
        n,
        data,
    }
}

impl ShapeNet {
    /// Read a network from safetensors bytes (f32 tensors named as the PyTorch module in
    /// `training/shapenet.py` names them).
    pub fn from_safetensors(bytes: &[u8]) -> Result<ShapeNet, NetError> {
        let fmt = |m: &str| NetError::Format(m.to_string());
        if bytes.len() < 8 {
            return Err(fmt("shorter than its header length"));
        }
        let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = bytes
            .get(8..8usize.saturating_add(hlen))
            .ok_or_else(|| fmt("header runs past the end"))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(header).map_err(|e| NetError::Format(e.to_string()))?;
        let data = &bytes[8 + hlen..];
        let mut metadata = HashMap::new();
        let mut tensors: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
        for (name, v) in &header {
            if name == "__metadata__" {
                for (k, val) in v.as_object().into_iter().flatten() {
                    metadata.insert(k.clone(), val.as_str().unwrap_or_default().to_string());
                }
                continue;
            }
            let dtype = v["dtype"].as_str().unwrap_or_default();
            if dtype != "F32" {
                return Err(NetError::Format(format!(
                    "tensor `{name}` is {dtype}, not F32"
                )));
            }
            let shape: Vec<usize> = (v["shape"].as_array().into_iter().flatten())
                .map(|d| d.as_u64().unwrap_or(0) as usize)
                .collect();
            let off: Vec<usize> = (v["data_offsets"].as_array().into_iter().flatten())
                .map(|d| d.as_u64().unwrap_or(0) as usize)
                .collect();
            let (&[s, e], len) = (off.as_slice(), shape.iter().product::<usize>()) else {
                return Err(NetError::Format(format!("tensor `{name}` has bad offsets")));
            };
            let raw = data
                .get(s..e)
                .filter(|r| r.len() == 4 * len)
                .ok_or_else(|| NetError::Format(format!("tensor `{name}` runs past the end")))?;
            let vals = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            tensors.insert(name.clone(), (shape, vals));
        }
        let mut take = |name: &str, want: Vec<usize>| -> Result<Vec<f32>, NetError> {
            let (got, v) = tensors
                .remove(name)
                .ok_or_else(|| NetError::Missing(name.to_string()))?;
            if got != want {
                return Err(NetError::Shape {
                    name: name.to_string(),
                    got,
                    want,
                });
            }
            Ok(v)
        };
        let shift = take("shift", vec![IN_CHANNELS])?;
        let scale = take("scale", vec![IN_CHANNELS])?;
        let mut conv = |name: &str, cin: usize, cout: usize, k: usize| -> Result<Conv, NetError> {
            Ok(Conv {
                cin,
                cout,
                k,
                w: take(&format!("{name}.weight"), vec![cout, cin, k, k])?,
                b: take(&format!("{name}.bias"), vec![cout])?,
            })
        };
        let w = WIDTHS;
        let mut enc = Vec::new();
        let mut cin = IN_CHANNELS;
        for (l, &c) in w.iter().enumerate() {
            enc.push([
                conv(&format!("enc.{l}.0"), cin, c, 3)?,
                conv(&format!("enc.{l}.2"), c, c, 3)?,
            ]);
            cin = c;
        }
        let mut dec = Vec::new();
        for l in (0..3).rev() {
            dec.push([
                conv(&format!("dec.{l}.0"), cin + w[l], w[l], 3)?,
                conv(&format!("dec.{l}.2"), w[l], w[l], 3)?,
            ]);
            cin = w[l];
        }
        let head = conv("head", w[0], 2, 1)?;
        Ok(ShapeNet {
            shift,
            scale,
            enc,
            dec,
            head,
            metadata,
        })
    }

    /// The correction (outer, inner; mm) on the network's map for raw inputs
    /// `[IN_CHANNELS][NET_N][NET_N]` as [`inputs`] makes them.
    ///
    /// Panics if `raw` does not hold `IN_CHANNELS × NET_N × NET_N` values.
    pub fn predict(&self, raw: &[f32]) -> [Vec<f32>; 2] {
        let nn = NET_N * NET_N;
        assert_eq!(
            raw.len(),
            IN_CHANNELS * nn,
            "network input of the wrong size"
        );
        let mut data = vec![0f32; IN_CHANNELS * nn];
        // Features: the masks as they are; where both are defined, how far the intact bone
        // lies from the trend (outer, inner); where the trend is defined, its outer radius and
        // thickness; each then shifted and scaled.
        for i in 0..nn {
            let at = |c: usize| raw[c * nn + i];
            let (obs, tr) = (at(0) > 0.5, at(6) > 0.5);
            let f = [
                at(0),
                at(1),
                if obs && tr { at(2) - at(4) } else { 0.0 },
                if obs && tr { at(3) - at(5) } else { 0.0 },
                at(4),
                at(4) - at(5),
                at(6),
            ];
            for c in 0..IN_CHANNELS {
                let keep = !(4..6).contains(&c) || tr;
                data[c * nn + i] = if keep {
                    (f[c] - self.shift[c]) / self.scale[c]
                } else {
                    0.0
                };
            }
        }
        let mut x = Image {
            c: IN_CHANNELS,
            n: NET_N,
            data,
        };
        let mut skips = Vec::new();
        for (l, [a, b]) in self.enc.iter().enumerate() {
            if l > 0 {
                x = pool(&x);
            }
            x = b.apply(&a.apply(&x, true), true);
            if l + 1 < self.enc.len() {
                skips.push(x.clone());
            }
        }
        for [a, b] in &self.dec {
            let skip = skips.pop().expect("one skip per decoder level");
            x = b.apply(&a.apply(&up_cat(&x, &skip), true), true);
        }
        let y = self.head.apply(&x, false);
        [y.data[..nn].to_vec(), y.data[nn..].to_vec()]
    }
}

/// Net-map bin of design-map coordinates (u, v) in radians, if inside.
fn net_bin(u: f64, v: f64) -> Option<usize> {
    let half = NET_N as f64 / 2.0;
    let b = NET_BIN_DEG.to_radians();
    let (x, y) = ((u / b + half).floor(), (v / b + half).floor());
    (x >= 0.0 && y >= 0.0 && x < NET_N as f64 && y < NET_N as f64)
        .then(|| x as usize + NET_N * y as usize)
}

/// Bilinear sample of a net-map field at design-map coordinates (u, v), radians.
fn sample(f: &[f32], u: f64, v: f64) -> f64 {
    let half = NET_N as f64 / 2.0;
    let b = NET_BIN_DEG.to_radians();
    let x = (u / b + half - 0.5).clamp(0.0, (NET_N - 1) as f64);
    let y = (v / b + half - 0.5).clamp(0.0, (NET_N - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(NET_N - 1), (y0 + 1).min(NET_N - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let at = |x: usize, y: usize| f[x + NET_N * y] as f64;
    (1.0 - fy) * ((1.0 - fx) * at(x0, y0) + fx * at(x1, y0))
        + fy * ((1.0 - fx) * at(x0, y1) + fx * at(x1, y1))
}

/// Box-average per net bin of `value(b)` over the design bins `bins` where it is defined;
/// returns the sums and counts.
fn box_average(
    s: &Shell,
    bins: impl Iterator<Item = usize>,
    value: impl Fn(usize) -> Option<[f64; 2]>,
) -> ([Vec<f64>; 2], Vec<u32>) {
    let nn = NET_N * NET_N;
    let mut sum = [vec![0.0; nn], vec![0.0; nn]];
    let mut count = vec![0u32; nn];
    for b in bins {
        let (u, v) = s.map.uv(b);
        if let (Some(k), Some([a, c])) = (net_bin(u, v), value(b)) {
            sum[0][k] += a;
            sum[1][k] += c;
            count[k] += 1;
        }
    }
    for k in 0..nn {
        if count[k] > 0 {
            sum[0][k] /= count[k] as f64;
            sum[1][k] /= count[k] as f64;
        }
    }
    (sum, count)
}

/// The network's raw inputs, `[IN_CHANNELS][NET_N][NET_N]`, for a planned design: the intact
/// bone outside every rebuilt region, the regions, and the shape model's trend where defined.
pub(crate) fn inputs(s: &Shell, known: &[bool], plans: &[DefectPlan]) -> Vec<f32> {
    let n = s.map.n;
    let nn = NET_N * NET_N;
    let mut in_region = vec![false; n * n];
    let mut trend = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for p in plans {
        for &b in &p.unknown {
            in_region[b] = true;
        }
        if let Some(([ti, to], _)) = &p.trends {
            for b in p.matching.iter().chain(&p.unknown).copied() {
                trend[0][b] = to[b];
                trend[1][b] = ti[b];
            }
        }
    }
    let (obs, obs_n) = box_average(s, 0..n * n, |b| {
        (known[b] && !in_region[b]).then(|| [s.r_out[b], s.r_in[b]])
    });
    let (tr, tr_n) = box_average(s, 0..n * n, |b| {
        trend[0][b].is_finite().then(|| [trend[0][b], trend[1][b]])
    });
    let (_, reg_n) = box_average(s, 0..n * n, |b| in_region[b].then_some([0.0, 0.0]));
    let mut out = vec![0f32; IN_CHANNELS * nn];
    for k in 0..nn {
        let ch = [
            (obs_n[k] > 0) as u8 as f64,
            (reg_n[k] > 0) as u8 as f64,
            obs[0][k],
            obs[1][k],
            tr[0][k],
            tr[1][k],
            (tr_n[k] > 0) as u8 as f64,
        ];
        for (c, v) in ch.into_iter().enumerate() {
            out[c * nn + k] = v as f32;
        }
    }
    out
}

/// Add the network's correction to each defect's trend, where it is plausible: within
/// [`MAX_CORRECTION_MM`] over the region and keeping the inner surface inside the outer.
pub(crate) fn correct(net: &ShapeNet, s: &Shell, known: &[bool], plans: &mut [DefectPlan]) {
    if plans.iter().all(|p| p.trends.is_none()) {
        return;
    }
    let [d_out, d_in] = net.predict(&inputs(s, known, plans));
    for p in plans.iter_mut() {
        let Some(([ti, to], _)) = &mut p.trends else {
            continue;
        };
        let bins: Vec<usize> = p.matching.iter().chain(&p.unknown).copied().collect();
        let delta: Vec<(f64, f64)> = bins
            .iter()
            .map(|&b| {
                let (u, v) = s.map.uv(b);
                (sample(&d_out, u, v), sample(&d_in, u, v))
            })
            .collect();
        let plausible = bins.iter().zip(&delta).all(|(&b, &(dout, din))| {
            dout.abs() <= MAX_CORRECTION_MM
                && din.abs() <= MAX_CORRECTION_MM
                && to[b] + dout > ti[b] + din
        });
        if !plausible {
            continue;
        }
        for (&b, &(dout, din)) in bins.iter().zip(&delta) {
            to[b] += dout;
            ti[b] += din;
        }
        p.report.learned = true;
    }
}

/// A training sample for the network: its raw inputs for `defective` as the design plans it
/// with `prior`, followed by three channels: how far the complete skull (seen from the
/// defective skull's centre) lies from the trend, outer then inner (mm), and where that is
/// known (1/0). `[IN_CHANNELS + 3][NET_N][NET_N]`.
pub fn learning_sample(
    defective: &Mask,
    complete: &Mask,
    prior: &ShapePrior,
    o: &DesignOptions,
) -> Result<Vec<f32>, DesignError> {
    check_reference_grid(complete, defective)?;
    let p = plan(defective, Some(prior), o)?;
    let s = &p.shell;
    let c = s.seen_from_here(complete)?;
    let n = s.map.n;
    let mut delta = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for pl in &p.defects {
        if let Some(([ti, to], _)) = &pl.trends {
            for b in pl.matching.iter().chain(&pl.unknown).copied() {
                if c.known(b) {
                    delta[0][b] = c.r_out[b] - to[b];
                    delta[1][b] = c.r_in[b] - ti[b];
                }
            }
        }
    }
    let (d, dn) = box_average(s, 0..n * n, |b| {
        delta[0][b].is_finite().then(|| [delta[0][b], delta[1][b]])
    });
    let mut out = inputs(s, &p.known, &p.defects);
    let nn = NET_N * NET_N;
    out.extend(d[0].iter().map(|&v| v as f32));
    out.extend(d[1].iter().map(|&v| v as f32));
    out.extend((0..nn).map(|k| (dn[k] > 0) as u8 as f32));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The synthetic input of `probe_input` in training/shapenet.py.
    fn probe_input() -> Vec<f32> {
        let nn = NET_N * NET_N;
        let mut ch = vec![0f32; IN_CHANNELS * nn];
        for y in 0..NET_N {
            for x in 0..NET_N {
                let (xf, yf) = (x as f64, y as f64);
                let disk = (xf - 56.0).powi(2) + (yf - 56.0).powi(2) < 2500.0;
                let d2 = (xf - 70.0).powi(2) + (yf - 50.0).powi(2);
                let r2 = 75.0 + 5.0 * (xf / 9.0).sin();
                let r3 = r2 - 6.0 - (yf / 7.0).cos();
                let v = [
                    (disk && d2 >= 225.0) as u8 as f64,
                    (d2 < 225.0) as u8 as f64,
                    r2,
                    r3,
                    r2 + 0.5,
                    r3 + 0.3,
                    (d2 < 400.0) as u8 as f64,
                ];
                for (c, v) in v.into_iter().enumerate() {
                    ch[c * nn + y * NET_N + x] = v as f32;
                }
            }
        }
        ch
    }

    #[test]
    fn forward_pass_matches_pytorch() {
        // The reference numbers are PyTorch's output for the same weights (a seeded random
        // network) and input, written into the fixture's metadata by
        // `training/shapenet.py fixture`.
        let net = fixture();
        let probe: serde_json::Value =
            serde_json::from_str(&net.metadata["probe"]).expect("the record has a probe");
        let y = net.predict(&probe_input());
        for f in 0..2 {
            let sum: f64 = y[f].iter().map(|&v| v as f64).sum();
            let abs: f64 = y[f].iter().map(|&v| v.abs() as f64).sum();
            let (ws, wa) = (
                probe["sum"][f].as_f64().unwrap(),
                probe["abs_sum"][f].as_f64().unwrap(),
            );
            assert!((sum - ws).abs() <= 1e-4 * wa.max(1.0), "sum {sum} vs {ws}");
            assert!(
                (abs - wa).abs() <= 1e-4 * wa.max(1.0),
                "abs sum {abs} vs {wa}"
            );
        }
        for at in probe["at"].as_array().unwrap() {
            let [c, yy, xx] = [0, 1, 2].map(|i| at[i].as_u64().unwrap() as usize);
            let want = at[3].as_f64().unwrap();
            let got = y[c][yy * NET_N + xx] as f64;
            assert!(
                (got - want).abs() < 1e-4,
                "({c}, {yy}, {xx}): {got} vs {want}"
            );
        }
    }

    fn fixture() -> ShapeNet {
        ShapeNet::from_safetensors(include_bytes!("../tests/data/shapenet_fixture.safetensors"))
            .unwrap()
    }

    #[test]
    fn corrects_the_trend_where_plausible_and_falls_back_elsewhere() {
        use crate::implant::{design, design_learned};
        use crate::phantom::{PhantomSpec, skull};
        let p = skull(&PhantomSpec::default());
        let t = ShapePrior::template(&p.complete).unwrap();
        let prior = ShapePrior::new(vec![("self".into(), t)]);
        let o = DesignOptions::default();
        let plain = design(&p.defective, Some(&prior), &o).unwrap();
        let learned = design_learned(&p.defective, &prior, &fixture(), &o).unwrap();
        assert!(plain.defects.iter().all(|d| !d.learned));
        assert!(learned.defects.iter().all(|d| d.learned));
        assert_ne!(learned.implant.data, plain.implant.data);
        // A correction of 20 mm is implausible: the trend alone is kept.
        let mut wild = fixture();
        wild.head.b = vec![20.0, 20.0];
        let fallback = design_learned(&p.defective, &prior, &wild, &o).unwrap();
        assert!(fallback.defects.iter().all(|d| !d.learned));
        assert_eq!(fallback.implant.data, plain.implant.data);
    }

    #[test]
    fn refuses_bad_files() {
        assert!(matches!(
            ShapeNet::from_safetensors(b"short"),
            Err(NetError::Format(_))
        ));
        let header =
            br#"{"head.weight":{"dtype":"F32","shape":[2,16,1,1],"data_offsets":[0,128]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend(vec![0u8; 128]);
        assert!(matches!(
            ShapeNet::from_safetensors(&bytes),
            Err(NetError::Missing(_))
        ));
        bytes.truncate(bytes.len() - 4);
        assert!(matches!(
            ShapeNet::from_safetensors(&bytes),
            Err(NetError::Format(_))
        ));
    }

    #[test]
    fn net_bins_and_samples_agree() {
        // The centre of net bin (i, j) maps to it, and sampling a field there returns its value.
        let b = NET_BIN_DEG.to_radians();
        let (i, j) = (40usize, 71usize);
        let (u, v) = (
            (i as f64 + 0.5 - NET_N as f64 / 2.0) * b,
            (j as f64 + 0.5 - NET_N as f64 / 2.0) * b,
        );
        assert_eq!(net_bin(u, v), Some(i + NET_N * j));
        let f: Vec<f32> = (0..NET_N * NET_N).map(|k| (k % NET_N) as f32).collect();
        assert!((sample(&f, u, v) - i as f64).abs() < 1e-9);
        assert!((sample(&f, u + 0.5 * b, v) - (i as f64 + 0.5)).abs() < 1e-9);
    }
}
