//! A learned correction of the implant's fill: 2-D U-Nets (Ronneberger, Fischer and Brox,
//! "U-Net: Convolutional networks for biomedical image segmentation", MICCAI 2015) on a coarse
//! copy of the vault map of [`crate::implant`], averaged as an ensemble.
//!
//! The design fills a defect with the shape model's trend ([`crate::prior`], a
//! ridge-regularised combination of template skulls fitted to the ring of bone around it),
//! blended into the rim (quadratic plus the thin-plate spline of the rim's residual); its error
//! is what a linear model of 55 skulls and a smooth blend cannot follow. The network sees, on a
//! 2° map, the intact bone's inner and outer radius, where bone is, which bins are rebuilt, the
//! shape model's trend and the fill over them, and predicts how far the complete skull's inner
//! and outer surface lie from the fill. The correction is sampled back bilinearly onto the
//! design's finer map, tapered to half its size on the bins next to the rim, and added to the
//! fill; a network that predicts nothing leaves the design as it was. Learning a residual over
//! a classical estimate keeps the networks small enough to train from 55 skulls and to run in a
//! fraction of a second on a CPU: inference here is plain Rust (3×3 convolutions, ReLU, 2×2
//! average pooling, nearest upsampling), no runtime.
//!
//! Weights are a safetensors file made by `training/shapenet.py` (with its training record in
//! the metadata): one network's tensors, or an ensemble's under `members.0.`, `members.1.`, …;
//! besides the layers each network holds `shift` and `scale`, the normalisation of the input
//! features, and its levels' widths are read from the weights. `ctplan implant --net FILE`
//! uses one (docs/cranio.md, "Learned correction").

use std::collections::HashMap;

use ctplan_core::Mask;
use rayon::prelude::*;

use crate::implant::{
    DefectPlan, DesignError, DesignOptions, Filled, Shell, Trend, check_reference_grid, fill_plans,
    plan,
};
use crate::prior::ShapePrior;

/// Bin size of the network's map, degrees.
pub const NET_BIN_DEG: f64 = 2.0;
/// Bins per side of the network's map (it covers directions up to 112° from superior; a
/// multiple of 8 for three 2× poolings).
pub const NET_N: usize = 112;
/// Input channels: observed bone, rebuilt region, observed outer and inner radius (mm), the
/// shape model's outer and inner trend (mm), where the trend is defined, the fill's outer and
/// inner radius over the rebuilt regions (mm). The network's first step turns them into
/// features ([`ShapeNet::predict`]).
pub const IN_CHANNELS: usize = 9;
/// The largest correction the fill takes at one bin, mm; larger ones are cut to it. The fill's
/// true offset from the complete skull stays below it on 95 % of the training samples of every
/// style but the fronto-orbital one (their largest offsets: 6–13 mm at the 95th percentile).
/// On held-out fronto-orbital defects the ensemble's corrections pass it (or cross the
/// surfaces) on 4–30 bins of a region of about 6000 (0.1–0.5 %), at its open edge by the orbit.
pub const MAX_CORRECTION_MM: f64 = 16.0;
/// A defect whose correction passes [`MAX_CORRECTION_MM`], or makes the surfaces cross where
/// the fill kept them apart, on more than this fraction of its bins keeps the shape prior's
/// fill: the network has failed there as a whole, not at a few bins of an open edge.
pub const MAX_LIMITED_FRACTION: f64 = 0.05;

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

/// The network: one U-Net, or an ensemble of U-Nets whose corrections are averaged (Dietterich,
/// "Ensemble methods in machine learning", MCS 2000: members trained from different initial
/// weights err differently, and their mean errs less than each).
#[derive(Debug, Clone)]
pub struct ShapeNet {
    members: Vec<Member>,
    /// The file's metadata (training record).
    pub metadata: HashMap<String, String>,
}

/// One U-Net: four encoder levels, three decoder levels, a 1×1 head with two outputs (the
/// outer and inner correction, mm).
#[derive(Debug, Clone)]
struct Member {
    shift: Vec<f32>,
    scale: Vec<f32>,
    /// `enc[l]` and `dec[l]`: two 3×3 convolutions each (`dec` has three levels).
    enc: Vec<[Conv; 2]>,
    dec: Vec<[Conv; 2]>,
    head: Conv,
}

/// Number of encoder levels; each level's channel width is read from its weights, so that
/// `training/shapenet.py --widths` may choose them.
pub const LEVELS: usize = 4;

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

/// The tensors of a safetensors file (F32, or F16 widened to f32) by name, with its metadata.
pub(crate) fn read_safetensors(
    bytes: &[u8],
) -> Result<(Tensors, HashMap<String, String>), NetError> {
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
    let mut tensors: Tensors = HashMap::new();
    for (name, v) in &header {
        if name == "__metadata__" {
            for (k, val) in v.as_object().into_iter().flatten() {
                metadata.insert(k.clone(), val.as_str().unwrap_or_default().to_string());
            }
            continue;
        }
        let width = match v["dtype"].as_str().unwrap_or_default() {
            "F32" => 4,
            "F16" => 2,
            dtype => {
                return Err(NetError::Format(format!(
                    "tensor `{name}` is {dtype}, not F32 or F16"
                )));
            }
        };
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
            .filter(|r| r.len() == width * len)
            .ok_or_else(|| NetError::Format(format!("tensor `{name}` runs past the end")))?;
        let vals = if width == 4 {
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        } else {
            raw.chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect()
        };
        tensors.insert(name.clone(), (shape, vals));
    }
    Ok((tensors, metadata))
}

/// An IEEE 754 half-precision value as f32 (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        // subnormal: frac · 2^-24
        (0, f) => {
            return f32::from_bits(sign)
                + (if sign != 0 { -1.0 } else { 1.0 }) * f as f32 * 2f32.powi(-24);
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Tensors by name: shape and values.
pub(crate) type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The values of tensor `name`, taken out of `t`, if it has the shape `want`.
pub(crate) fn take_tensor(
    t: &mut Tensors,
    name: &str,
    want: &[usize],
) -> Result<Vec<f32>, NetError> {
    let (got, v) = t
        .remove(name)
        .ok_or_else(|| NetError::Missing(name.to_string()))?;
    if got != want {
        return Err(NetError::Shape {
            name: name.to_string(),
            got,
            want: want.to_vec(),
        });
    }
    Ok(v)
}

impl ShapeNet {
    /// Read a network from safetensors bytes (f32 tensors named as the PyTorch module in
    /// `training/shapenet.py` names them).
    pub fn from_safetensors(bytes: &[u8]) -> Result<ShapeNet, NetError> {
        let (mut tensors, metadata) = read_safetensors(bytes)?;
        // An ensemble names its members' tensors `members.{i}.…` (i = 0, 1, …); a single
        // network names them without a prefix.
        let prefixes: Vec<String> = if tensors.keys().any(|k| k.starts_with("members.")) {
            (0..)
                .map(|i| format!("members.{i}."))
                .take_while(|p| tensors.contains_key(&format!("{p}shift")))
                .collect()
        } else {
            vec![String::new()]
        };
        if prefixes.is_empty() {
            return Err(NetError::Missing("members.0.shift".to_string()));
        }
        let members = prefixes
            .iter()
            .map(|p| Member::take(&mut tensors, p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShapeNet { members, metadata })
    }

    /// The network that ships inside ctplan (`assets/skull_net.safetensors`, trained by
    /// `training/shapenet.py` as its record `assets/skull_net.json` says), parsed on first use.
    pub fn shipped() -> &'static ShapeNet {
        static NET: std::sync::OnceLock<ShapeNet> = std::sync::OnceLock::new();
        NET.get_or_init(|| {
            ShapeNet::from_safetensors(include_bytes!("../assets/skull_net.safetensors"))
                .expect("the shipped network is valid (checked by a test)")
        })
    }

    /// The correction (outer, inner; mm) on the network's map for raw inputs
    /// `[IN_CHANNELS][NET_N][NET_N]` as the design builds them from its maps (`inputs`): an
    /// ensemble's mean.
    ///
    /// Panics if `raw` does not hold `IN_CHANNELS × NET_N × NET_N` values.
    pub fn predict(&self, raw: &[f32]) -> [Vec<f32>; 2] {
        assert_eq!(
            raw.len(),
            IN_CHANNELS * NET_N * NET_N,
            "network input of the wrong size"
        );
        let k = self.members.len() as f32;
        let mut out = self.members[0].predict(raw);
        for m in &self.members[1..] {
            let y = m.predict(raw);
            for (o, y) in out.iter_mut().zip(&y) {
                o.iter_mut().zip(y).for_each(|(o, y)| *o += y);
            }
        }
        for o in &mut out {
            o.iter_mut().for_each(|v| *v /= k);
        }
        out
    }

    /// How many U-Nets the network averages (1 for a single network).
    pub fn members(&self) -> usize {
        self.members.len()
    }
}

impl Member {
    /// The U-Net whose tensors are named `{prefix}shift`, `{prefix}enc.0.0.weight`, …; each
    /// level's width is read from its first convolution.
    fn take(tensors: &mut Tensors, prefix: &str) -> Result<Member, NetError> {
        let w = (0..LEVELS)
            .map(|l| {
                let name = format!("{prefix}enc.{l}.0.weight");
                match tensors.get(&name) {
                    Some((shape, _)) if shape.len() == 4 && shape[0] > 0 => Ok(shape[0]),
                    Some((shape, _)) => Err(NetError::Format(format!(
                        "tensor `{name}` has shape {shape:?}, expected [width, inputs, 3, 3]"
                    ))),
                    None => Err(NetError::Missing(name)),
                }
            })
            .collect::<Result<Vec<usize>, NetError>>()?;
        let mut take = |name: &str, want: Vec<usize>| -> Result<Vec<f32>, NetError> {
            take_tensor(tensors, &format!("{prefix}{name}"), &want)
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
        for l in (0..LEVELS - 1).rev() {
            dec.push([
                conv(&format!("dec.{l}.0"), cin + w[l], w[l], 3)?,
                conv(&format!("dec.{l}.2"), w[l], w[l], 3)?,
            ]);
            cin = w[l];
        }
        let head = conv("head", w[0], 2, 1)?;
        Ok(Member {
            shift,
            scale,
            enc,
            dec,
            head,
        })
    }

    /// This U-Net's correction (outer, inner; mm) for raw inputs of the right size.
    fn predict(&self, raw: &[f32]) -> [Vec<f32>; 2] {
        let nn = NET_N * NET_N;
        let mut data = vec![0f32; IN_CHANNELS * nn];
        // Features: the masks as they are; where both are defined, how far the intact bone
        // lies from the trend (outer, inner); where the trend is defined, its outer radius and
        // thickness; over the rebuilt region with a trend, how far the fill lies from the trend
        // (the blend of the rim's residual); each then shifted and scaled.
        for i in 0..nn {
            let at = |c: usize| raw[c * nn + i];
            let (obs, reg, tr) = (at(0) > 0.5, at(1) > 0.5, at(6) > 0.5);
            let f = [
                at(0),
                at(1),
                if obs && tr { at(2) - at(4) } else { 0.0 },
                if obs && tr { at(3) - at(5) } else { 0.0 },
                at(4),
                at(4) - at(5),
                at(6),
                if reg && tr { at(7) - at(4) } else { 0.0 },
                if reg && tr { at(8) - at(5) } else { 0.0 },
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

/// The network's raw inputs, `[IN_CHANNELS][NET_N][NET_N]`, for a planned and filled design:
/// the intact bone outside every rebuilt region, the regions, the shape model's trend where
/// defined, and the fill over the regions.
pub(crate) fn inputs(s: &Shell, known: &[bool], plans: &[DefectPlan], f: &Filled) -> Vec<f32> {
    let n = s.map.n;
    let nn = NET_N * NET_N;
    let in_region = &f.region;
    let mut trend = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for p in plans {
        if let Some(Trend {
            fields: [ti, to], ..
        }) = &p.trends
        {
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
    let (fill, reg_n) = box_average(s, 0..n * n, |b| {
        in_region[b].then(|| [f.r_out[b], f.r_in[b]])
    });
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
            fill[0][k],
            fill[1][k],
        ];
        for (c, v) in ch.into_iter().enumerate() {
            out[c * nn + k] = v as f32;
        }
    }
    out
}

/// Bins of the design map inside `region`, weighted by how far they lie from its border:
/// 0.5 next to the rim, 1 from two bins in (a chamfer distance), so that a correction meets
/// the intact bone without a step.
fn taper(region: &[bool], n: usize) -> Vec<f64> {
    let mut d: Vec<f64> = region
        .iter()
        .map(|&r| if r { f64::INFINITY } else { 0.0 })
        .collect();
    let step = |d: &mut Vec<f64>, b: usize, nb: Option<usize>, w: f64| {
        if let Some(nb) = nb {
            d[b] = d[b].min(d[nb] + w);
        }
    };
    for pass in 0..2 {
        let order: Vec<usize> = if pass == 0 {
            (0..n * n).collect()
        } else {
            (0..n * n).rev().collect()
        };
        for b in order {
            if d[b] == 0.0 {
                continue;
            }
            let (u, v) = (b % n, b / n);
            let s: i64 = if pass == 0 { -1 } else { 1 };
            let at = |du: i64, dv: i64| {
                let (x, y) = (u as i64 + du, v as i64 + dv);
                (x >= 0 && y >= 0 && x < n as i64 && y < n as i64)
                    .then(|| x as usize + n * y as usize)
            };
            step(&mut d, b, at(s, 0), 1.0);
            step(&mut d, b, at(0, s), 1.0);
            step(&mut d, b, at(s, s), 1.4);
            step(&mut d, b, at(-s, s), 1.4);
        }
    }
    d.iter().map(|&x| (x / 2.0).min(1.0)).collect()
}

/// Add the network's correction to each defect's fill (as [`fill_plans`] made it), where it
/// is plausible ([`limited`]: each bin's correction cut to [`MAX_CORRECTION_MM`], none where it
/// would cross the surfaces, on no more than [`MAX_LIMITED_FRACTION`] of the region). Each
/// defect's report says whether it was corrected, and at how many bins it was held back.
pub(crate) fn correct(
    net: &ShapeNet,
    s: &Shell,
    known: &[bool],
    plans: &[DefectPlan],
    f: &mut Filled,
) {
    if plans.iter().all(|p| p.trends.is_none()) {
        return;
    }
    let [d_out, d_in] = net.predict(&inputs(s, known, plans, f));
    let w = taper(&f.region, s.map.n);
    let Filled {
        r_out,
        r_in,
        reports,
        ..
    } = f;
    for (p, report) in plans.iter().zip(reports) {
        if p.trends.is_none() {
            continue;
        }
        let raw: Vec<(f64, f64)> = (p.unknown.iter())
            .map(|&b| {
                let (u, v) = s.map.uv(b);
                (w[b] * sample(&d_out, u, v), w[b] * sample(&d_in, u, v))
            })
            .collect();
        let accepted = limited(&raw, &p.unknown, r_out, r_in);
        report.learned = accepted.is_some();
        report.limited_bins = accepted.as_ref().map_or(0, |a| a.1);
        if let Some((delta, _)) = accepted {
            for (&b, &(dout, din)) in p.unknown.iter().zip(&delta) {
                r_out[b] += dout;
                r_in[b] += din;
            }
        }
    }
}

/// The corrections `raw` (outer, inner; mm) of the fill `r_out`, `r_in` at `bins`, each cut to
/// [`MAX_CORRECTION_MM`], and none at a bin where the corrected surfaces would cross although
/// the fill kept them apart (where the fill's surfaces already cross, a thin fill at an orbit,
/// that is not the network's doing); with the number of bins so held back. `None` where they
/// are more than [`MAX_LIMITED_FRACTION`] of the bins: the correction is implausible as a whole.
fn limited(
    raw: &[(f64, f64)],
    bins: &[usize],
    r_out: &[f64],
    r_in: &[f64],
) -> Option<(Vec<(f64, f64)>, usize)> {
    let limit = |d: f64| d.clamp(-MAX_CORRECTION_MM, MAX_CORRECTION_MM);
    let mut held = 0;
    let delta: Vec<(f64, f64)> = (raw.iter().zip(bins))
        .map(|(&(o, i), &b)| {
            let d = (limit(o), limit(i));
            let crosses = r_out[b] > r_in[b] && r_out[b] + d.0 <= r_in[b] + d.1;
            if crosses {
                held += 1;
                (0.0, 0.0)
            } else {
                held += usize::from(d != (o, i));
                d
            }
        })
        .collect();
    (held as f64 <= MAX_LIMITED_FRACTION * raw.len() as f64).then_some((delta, held))
}

/// A training sample for the network: its raw inputs for `defective` as the design plans and
/// fills it with `prior`, followed by three channels: how far the complete skull (seen from
/// the defective skull's centre) lies from the fill over the rebuilt regions and from the
/// intact bone on their matching rings, outer then inner (mm), and where that is known (1/0).
/// `[IN_CHANNELS + 3][NET_N][NET_N]`.
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
    let f = fill_plans(s, &p.known, &p.defects, Some(prior), None, o);
    let n = s.map.n;
    let mut delta = [vec![f64::NAN; n * n], vec![f64::NAN; n * n]];
    for pl in p.defects.iter().filter(|pl| pl.trends.is_some()) {
        for b in pl.matching.iter().chain(&pl.unknown).copied() {
            if c.known(b) {
                delta[0][b] = c.r_out[b] - f.r_out[b];
                delta[1][b] = c.r_in[b] - f.r_in[b];
            }
        }
    }
    let (d, dn) = box_average(s, 0..n * n, |b| {
        delta[0][b].is_finite().then(|| [delta[0][b], delta[1][b]])
    });
    let mut out = inputs(s, &p.known, &p.defects, &f);
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
                    if d2 < 225.0 {
                        r2 + 0.8 + 0.2 * (yf / 5.0).sin()
                    } else {
                        0.0
                    },
                    if d2 < 225.0 { r3 + 0.1 } else { 0.0 },
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
        matches_its_probe(&fixture());
    }

    #[test]
    fn shipped_ensemble_matches_pytorch() {
        // The probe in the shipped record is PyTorch's output of the whole ensemble
        // (`training/shapenet.py ensemble`).
        assert!(ShapeNet::shipped().members() > 1);
        matches_its_probe(ShapeNet::shipped());
    }

    fn matches_its_probe(net: &ShapeNet) {
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
    fn corrects_the_fill_where_plausible_and_falls_back_elsewhere() {
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
        // A correction of 20 mm is implausible: the fill of the shape model alone is kept.
        let mut wild = fixture();
        wild.members[0].head.b = vec![20.0, 20.0];
        let fallback = design_learned(&p.defective, &prior, &wild, &o).unwrap();
        assert!(fallback.defects.iter().all(|d| !d.learned));
        assert_eq!(fallback.notes().len(), fallback.defects.len());
        assert!(plain.notes().is_empty() && learned.notes().is_empty());
        assert_eq!(fallback.implant.data, plain.implant.data);
    }

    #[test]
    fn a_correction_is_cut_at_a_few_bins_and_refused_at_many() {
        let bins: Vec<usize> = (0..100).collect();
        let (r_out, r_in) = (vec![80.0; 100], vec![74.0; 100]);
        let mut raw = vec![(1.0, 0.5); 100];
        for r in &mut raw[..5] {
            *r = (30.0, -20.0);
        }
        // Five bins of a hundred past the limit: cut there, the rest as predicted.
        let (delta, cut) = limited(&raw, &bins, &r_out, &r_in).unwrap();
        assert_eq!(cut, 5);
        assert_eq!(delta[0], (MAX_CORRECTION_MM, -MAX_CORRECTION_MM));
        assert_eq!(delta[5], (1.0, 0.5));
        // Six: the network failed as a whole there.
        raw[5] = (-17.0, 0.0);
        assert!(limited(&raw, &bins, &r_out, &r_in).is_none());
        // Surfaces crossing where the fill kept them apart: that bin keeps the fill.
        let mut crossing = vec![(1.0, 1.0); 100];
        crossing[50] = (-4.0, 3.0);
        let (delta, held) = limited(&crossing, &bins, &r_out, &r_in).unwrap();
        assert_eq!((delta[50], delta[49], held), ((0.0, 0.0), (1.0, 1.0), 1));
        // Unless the fill had them crossed already there.
        let mut thin = r_in.clone();
        thin[50] = 81.0;
        assert_eq!(limited(&crossing, &bins, &r_out, &thin).unwrap().1, 0);
        // Crossing on six bins of a hundred: refused.
        for r in &mut crossing[..6] {
            *r = (-4.0, 3.0);
        }
        assert!(limited(&crossing, &bins, &r_out, &r_in).is_none());
    }

    #[test]
    fn shipped_network_parses_with_its_record() {
        let net = ShapeNet::shipped();
        for key in [
            "validation_cases",
            "validation_skullfix_l1_mm",
            "members",
            "probe",
        ] {
            assert!(net.metadata.contains_key(key), "record lacks {key}");
        }
    }

    /// The fixture's tensors named as an ensemble's members `members.{first}.…`,
    /// `members.{first + 1}.…` (the data shared: two copies of one network).
    fn fixture_twice(first: usize) -> Vec<u8> {
        let bytes: &[u8] = include_bytes!("../tests/data/shapenet_fixture.safetensors");
        let hlen = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..8 + hlen]).unwrap();
        let mut twice = serde_json::Map::new();
        for (k, v) in header {
            if k == "__metadata__" {
                twice.insert(k, v);
            } else {
                twice.insert(format!("members.{first}.{k}"), v.clone());
                twice.insert(format!("members.{}.{k}", first + 1), v);
            }
        }
        let h = serde_json::to_vec(&twice).unwrap();
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        out.extend_from_slice(&bytes[8 + hlen..]);
        out
    }

    #[test]
    fn an_ensemble_averages_its_members() {
        let single = fixture();
        let pair = ShapeNet::from_safetensors(&fixture_twice(0)).unwrap();
        assert_eq!((single.members(), pair.members()), (1, 2));
        let x = probe_input();
        let (a, b) = (single.predict(&x), pair.predict(&x));
        for f in 0..2 {
            let diff = (a[f].iter().zip(&b[f])).map(|(p, q)| (p - q).abs());
            assert!(diff.fold(0f32, f32::max) < 1e-5);
        }
        // A member whose head adds 1 mm moves the mean by half of it.
        let mut shifted = pair.clone();
        shifted.members[1].head.b.iter_mut().for_each(|v| *v += 1.0);
        let c = shifted.predict(&x);
        for f in 0..2 {
            let diff = (a[f].iter().zip(&c[f])).map(|(p, q)| q - p - 0.5);
            assert!(diff.map(f32::abs).fold(0f32, f32::max) < 1e-5);
        }
        // Members named from 1 (no `members.0.`) are not an ensemble.
        assert!(matches!(
            ShapeNet::from_safetensors(&fixture_twice(1)),
            Err(NetError::Missing(_))
        ));
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
    fn taper_meets_the_rim_at_half_weight() {
        // A 6×6 region in a 10×10 map: zero outside, 0.5 on its edge, 1 from two bins in.
        let n = 10;
        let region: Vec<bool> = (0..n * n)
            .map(|b| (2..8).contains(&(b % n)) && (2..8).contains(&(b / n)))
            .collect();
        let w = taper(&region, n);
        assert_eq!(w[0], 0.0);
        assert_eq!(w[2 + n * 2], 0.5);
        assert_eq!(w[2 + n * 5], 0.5);
        assert_eq!(w[4 + n * 4], 1.0);
        assert_eq!(w[3 + n * 5], 1.0);
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
