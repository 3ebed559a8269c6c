//! A learned correction of the implant's fill: 2-D U-Nets (Ronneberger, Fischer and Brox,
//! "U-Net: Convolutional networks for biomedical image segmentation", MICCAI 2015) on a coarse
//! copy of the vault map of [`crate::vault`], averaged as an ensemble.
//!
//! The design fills a defect with the shape model's trend ([`crate::shape`], a
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

use rayon::prelude::*;

use crate::nn::{NetError, Tensors, read_safetensors, shape_text, take_tensor};

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
            ShapeNet::from_safetensors(include_bytes!("../../assets/skull_net.safetensors"))
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
                        "tensor `{name}` has shape {}, expected width×inputs×3×3",
                        shape_text(shape)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

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

    /// The small network of `tests/data` (training/shapenet.py's fixture).
    pub(crate) fn fixture() -> ShapeNet {
        ShapeNet::from_safetensors(include_bytes!(
            "../../tests/data/shapenet_fixture.safetensors"
        ))
        .unwrap()
    }

    /// [`fixture`] with its first member's head biased by `b` (outer, inner correction, mm).
    pub(crate) fn fixture_with_head_bias(b: [f32; 2]) -> ShapeNet {
        let mut net = fixture();
        net.members[0].head.b = b.to_vec();
        net
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
        let bytes: &[u8] = include_bytes!("../../tests/data/shapenet_fixture.safetensors");
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
}
