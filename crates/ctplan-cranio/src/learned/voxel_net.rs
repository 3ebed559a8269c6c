//! A 3-D U-Net that rebuilds the bone of a defect from the defective skull around it, for the
//! defects that the vault map of [`crate::vault`] cannot follow.
//!
//! The map holds an inner and an outer radius per direction, filled across a defect by a
//! statistical shape model of complete skulls; a brow ridge, an orbital rim or a frontal sinus
//! is no combination of other skulls' shapes, so a fronto-orbital defect is rebuilt worse than
//! one on the vault (docs/cranio.md, "Accuracy"). This network sees the voxels instead: a
//! 3-D U-Net (Çiçek et al., "3D U-Net: learning dense volumetric segmentation from sparse
//! annotation", MICCAI 2016) with instance normalisation and leaky ReLU as in nnU-Net
//! (Isensee et al., Nature Methods 2021), trained by `training/implant3d.py` on defects
//! injected into complete SkullFix skulls. Its input is the defective skull's bone fraction on
//! a crop of [`CROP`] voxels around the defect, pooled 2×2 in-plane; its output, the
//! probability that a voxel is bone the defect removed, is upsampled bilinearly to the native
//! grid. The network was trained on SkullFix's grid (about 0.45 × 0.45 × 0.63 mm, axes left,
//! posterior, superior), so it is used only on grids close to that ([`crate::learned::reshape::grid_fits`]).
//!
//! Inference is plain Rust: each 3×3×3 convolution is one matrix product per tile of voxels
//! over the 27 shifted views of a zero-padded volume (im2col; `matrixmultiply`'s sgemm), the
//! tiles run in parallel.

use rayon::prelude::*;

use crate::nn::gemm::gemm;
use crate::nn::{NetError, Tensors, read_safetensors, shape_text, take_tensor as take};
use ctplan_core::par::SharedMut;

/// The crop around a defect, native voxels along the volume's axes (x, y, z).
pub const CROP: [usize; 3] = [224, 224, 160];
/// Native voxels per network voxel along (x, y, z).
pub const POOL: [usize; 3] = [2, 2, 1];
/// Instance normalisation's epsilon (PyTorch's default).
const EPS: f32 = 1e-5;
/// Leaky ReLU's negative slope.
const SLOPE: f32 = 0.01;

/// A (channels, z, y, x) tensor.
struct T {
    c: usize,
    d: [usize; 3],
    data: Vec<f32>,
}

impl T {
    fn plane(&self) -> usize {
        self.d[0] * self.d[1] * self.d[2]
    }
}

/// A 3×3×3 convolution, `w[out][in][27]`, with bias.
struct Conv {
    cin: usize,
    cout: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// Instance normalisation's affine weight and bias.
struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
}

/// Two convolutions, each followed by instance normalisation and leaky ReLU.
struct Block {
    c1: Conv,
    n1: Norm,
    c2: Conv,
    n2: Norm,
}

/// A 2×2×2 transposed convolution with stride 2, `w[in][out][8]`, with bias.
struct Up {
    cin: usize,
    cout: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// The network (weights of `training/implant3d.py`'s `UNet`).
pub struct ImplantNet {
    down: Vec<Block>,
    up: Vec<Up>,
    dec: Vec<Block>,
    head_w: Vec<f32>,
    pub(crate) head_b: f32,
    /// The file's metadata (training record).
    pub metadata: std::collections::HashMap<String, String>,
}

fn width_of(t: &Tensors, name: &str) -> Result<(usize, usize), NetError> {
    match t.get(name) {
        Some((s, _)) if s.len() == 5 => Ok((s[0], s[1])),
        Some((s, _)) => Err(NetError::Format(format!(
            "tensor `{name}` has shape {}, expected out×in×3×3×3",
            shape_text(s)
        ))),
        None => Err(NetError::Missing(name.to_string())),
    }
}

impl Block {
    fn take(t: &mut Tensors, p: &str, cin: usize, cout: usize) -> Result<Block, NetError> {
        let conv = |t: &mut Tensors, i: usize, cin: usize| -> Result<Conv, NetError> {
            Ok(Conv {
                cin,
                cout,
                w: take(t, &format!("{p}.{i}.weight"), &[cout, cin, 3, 3, 3])?,
                b: take(t, &format!("{p}.{i}.bias"), &[cout])?,
            })
        };
        let norm = |t: &mut Tensors, i: usize| -> Result<Norm, NetError> {
            Ok(Norm {
                w: take(t, &format!("{p}.{i}.weight"), &[cout])?,
                b: take(t, &format!("{p}.{i}.bias"), &[cout])?,
            })
        };
        Ok(Block {
            c1: conv(t, 0, cin)?,
            n1: norm(t, 1)?,
            c2: conv(t, 3, cout)?,
            n2: norm(t, 4)?,
        })
    }

    fn apply(&self, x: &T) -> T {
        let mut y = conv3(x, &self.c1);
        norm_leaky(&mut y, &self.n1);
        let mut y = conv3(&y, &self.c2);
        norm_leaky(&mut y, &self.n2);
        y
    }
}

impl ImplantNet {
    /// Read the network from safetensors bytes; the levels' widths are read from the weights.
    pub fn from_safetensors(bytes: &[u8]) -> Result<ImplantNet, NetError> {
        let (mut t, metadata) = read_safetensors(bytes)?;
        let mut widths = Vec::new();
        while t.contains_key(&format!("down.{}.0.weight", widths.len())) {
            let (w, _) = width_of(&t, &format!("down.{}.0.weight", widths.len()))?;
            widths.push(w);
        }
        if widths.len() < 2 {
            return Err(NetError::Missing("down.1.0.weight".to_string()));
        }
        let mut down = Vec::new();
        for (i, &w) in widths.iter().enumerate() {
            let cin = if i == 0 { 1 } else { widths[i - 1] };
            down.push(Block::take(&mut t, &format!("down.{i}"), cin, w)?);
        }
        let mut up = Vec::new();
        let mut dec = Vec::new();
        for i in 0..widths.len() - 1 {
            let (cin, cout) = (widths[i + 1], widths[i]);
            up.push(Up {
                cin,
                cout,
                w: take(&mut t, &format!("up.{i}.weight"), &[cin, cout, 2, 2, 2])?,
                b: take(&mut t, &format!("up.{i}.bias"), &[cout])?,
            });
            dec.push(Block::take(&mut t, &format!("dec.{i}"), 2 * cout, cout)?);
        }
        let head_w = take(&mut t, "head.weight", &[1, widths[0], 1, 1, 1])?;
        let head_b = take(&mut t, "head.bias", &[1])?[0];
        Ok(ImplantNet {
            down,
            up,
            dec,
            head_w,
            head_b,
            metadata,
        })
    }

    /// The network that ships inside ctplan (`assets/implant_net.safetensors`, trained by
    /// `training/implant3d.py` as its record `assets/implant_net.json` says), parsed on first
    /// use.
    pub fn shipped() -> &'static ImplantNet {
        static NET: std::sync::OnceLock<ImplantNet> = std::sync::OnceLock::new();
        NET.get_or_init(|| {
            ImplantNet::from_safetensors(include_bytes!("../../assets/implant_net.safetensors"))
                .expect("the shipped 3-D network is valid (checked by a test)")
        })
    }

    /// Channel widths of the encoder's levels.
    pub fn widths(&self) -> Vec<usize> {
        self.down.iter().map(|b| b.c1.cout).collect()
    }

    /// The probability of "removed bone" for an input of bone fractions on a grid of `dims`
    /// (z, y, x; each a multiple of 2^(levels − 1)), as logits through a sigmoid.
    ///
    /// Panics if `input` does not hold `dims`' voxels or a side is not such a multiple.
    pub fn predict(&self, input: &[f32], dims: [usize; 3]) -> Vec<f32> {
        let m = 1 << (self.down.len() - 1);
        assert!(
            dims.iter().all(|&n| n > 0 && n % m == 0),
            "network input sides must be multiples of {m}"
        );
        assert_eq!(input.len(), dims.iter().product::<usize>(), "input size");
        let mut x = T {
            c: 1,
            d: dims,
            data: input.to_vec(),
        };
        let mut skips = Vec::new();
        for (i, b) in self.down.iter().enumerate() {
            x = b.apply(&x);
            if i + 1 < self.down.len() {
                let p = max_pool(&x);
                skips.push(x);
                x = p;
            }
        }
        for i in (0..self.up.len()).rev() {
            let u = up_conv(&x, &self.up[i]);
            let skip = skips.pop().expect("one skip per level");
            let mut data = u.data;
            data.extend_from_slice(&skip.data);
            x = self.dec[i].apply(&T {
                c: u.c + skip.c,
                d: skip.d,
                data,
            });
        }
        let n = x.plane();
        let mut out = vec![self.head_b; n];
        for (ci, &w) in self.head_w.iter().enumerate() {
            let src = &x.data[ci * n..(ci + 1) * n];
            out.iter_mut().zip(src).for_each(|(o, s)| *o += w * s);
        }
        out.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp()));
        out
    }
}

/// 3×3×3 convolution with zero padding 1, as one matrix product per tile of voxels
/// (im2col, Chellapilla et al., "High performance convolutional neural networks for document
/// processing", 2006): `out[cout × n] = w[cout × 27·cin] · col[27·cin × n]`, where row
/// (ci, tap) of `col` is channel ci of the zero-padded volume shifted by the tap, an offset into
/// its flat index. Tiles run in parallel; each tile's `col` is about a megabyte, so it stays in
/// cache while the product reads it. One product with 27·cin terms per voxel, rather than 27
/// with cin each, keeps the first layer (cin = 1) from being all overhead.
fn conv3(x: &T, c: &Conv) -> T {
    assert_eq!(x.c, c.cin);
    let [d, h, w] = x.d;
    let (ph, pw) = (h + 2, w + 2);
    let ps = (d + 2) * ph * pw;
    let mut xp = vec![0f32; c.cin * ps];
    xp.par_chunks_mut(ps).enumerate().for_each(|(ci, dst)| {
        let src = &x.data[ci * d * h * w..(ci + 1) * d * h * w];
        for z in 0..d {
            for y in 0..h {
                let o = ((z + 1) * ph + y + 1) * pw + 1;
                dst[o..o + w].copy_from_slice(&src[(z * h + y) * w..(z * h + y + 1) * w]);
            }
        }
    });
    // Tap t = (dz, dy, dx) as an offset into the padded volume's flat index, in PyTorch's
    // weight order (the last three axes of [cout, cin, 3, 3, 3]).
    let offsets: Vec<isize> = (0..27)
        .map(|t| {
            let (dz, dy, dx) = (t / 9, (t / 3) % 3, t % 3);
            (dz as isize - 1) * (ph * pw) as isize + (dy as isize - 1) * pw as isize + dx as isize
                - 1
        })
        .collect();
    // Flat padded indices from (1, 1, 1) to (d, h, w), in tiles of n columns.
    let (first, last) = ((ph + 1) * pw + 1, (d * ph + h) * pw + w + 1);
    let k = 27 * c.cin;
    let tile = ((1 << 18) / k).max(64);
    let plane = d * h * w;
    let mut out = vec![0f32; c.cout * plane];
    let dst = SharedMut::new(&mut out);
    let starts: Vec<usize> = (first..last).step_by(tile).collect();
    starts.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(col, buf): &mut (Vec<f32>, Vec<f32>), start| {
            let n = tile.min(last - start);
            col.resize(k * n, 0.0);
            buf.resize(c.cout * n, 0.0);
            for (r, row) in col.chunks_exact_mut(n).enumerate() {
                let (ci, t) = (r / 27, r % 27);
                let from = (ci * ps + start) as isize + offsets[t];
                row.copy_from_slice(&xp[from as usize..from as usize + n]);
            }
            gemm([c.cout, k, n], &c.w, [k, 1], col, n, false, buf);
            // Scatter the tile's interior columns, row by row (a row of the padded volume holds
            // w interior voxels between two border ones).
            let mut q = start;
            while q < start + n {
                let (z, y, xx) = (q / (ph * pw), (q / pw) % ph, q % pw);
                let row_end = (q - xx + pw).min(start + n);
                if z >= 1 && z <= d && y >= 1 && y <= h {
                    let (a, b) = (xx.max(1), (row_end - (q - xx)).min(w + 1));
                    if a < b {
                        let o = ((z - 1) * h + y - 1) * w + a - 1;
                        for co in 0..c.cout {
                            let src =
                                &buf[co * n + (q - xx + a - start)..co * n + (q - xx + b - start)];
                            // SAFETY: tiles cover disjoint flat ranges, so each output voxel is
                            // written by one tile only; o + (b − a) ≤ plane.
                            let row = unsafe { dst.slice(co * plane + o, b - a) };
                            row.iter_mut().zip(src).for_each(|(r, v)| *r = v + c.b[co]);
                        }
                    }
                }
                q = row_end;
            }
        },
    );
    T {
        c: c.cout,
        d: x.d,
        data: out,
    }
}

/// Instance normalisation (each channel to zero mean and unit variance over the volume, then
/// the affine weight and bias), then leaky ReLU, in place.
fn norm_leaky(x: &mut T, n: &Norm) {
    let p = x.plane();
    x.data.par_chunks_mut(p).enumerate().for_each(|(c, v)| {
        let mean = v.iter().map(|&a| a as f64).sum::<f64>() / p as f64;
        let var = v.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / p as f64;
        let s = n.w[c] as f64 / (var + EPS as f64).sqrt();
        let (s, t) = (s as f32, (n.b[c] as f64 - mean * s) as f32);
        v.iter_mut().for_each(|a| {
            let y = *a * s + t;
            *a = if y < 0.0 { SLOPE * y } else { y };
        });
    });
}

/// 2×2×2 max pooling.
fn max_pool(x: &T) -> T {
    let [d, h, w] = x.d;
    let (d2, h2, w2) = (d / 2, h / 2, w / 2);
    let mut data = vec![0f32; x.c * d2 * h2 * w2];
    data.par_chunks_mut(d2 * h2 * w2)
        .enumerate()
        .for_each(|(c, out)| {
            let src = &x.data[c * d * h * w..(c + 1) * d * h * w];
            for z in 0..d2 {
                for y in 0..h2 {
                    for xx in 0..w2 {
                        let mut m = f32::NEG_INFINITY;
                        for (dz, dy, dx) in (0..8).map(|k| (k >> 2, (k >> 1) & 1, k & 1)) {
                            m = m.max(src[((2 * z + dz) * h + 2 * y + dy) * w + 2 * xx + dx]);
                        }
                        out[(z * h2 + y) * w2 + xx] = m;
                    }
                }
            }
        });
    T {
        c: x.c,
        d: [d2, h2, w2],
        data,
    }
}

/// 2×2×2 transposed convolution with stride 2: each tap a matrix product
/// `out_tap[cout × n] = w_tap[cout × cin] · x[cin × n]`, scattered to its octant.
fn up_conv(x: &T, u: &Up) -> T {
    let [d, h, w] = x.d;
    let n = d * h * w;
    let taps: Vec<Vec<f32>> = (0..8)
        .into_par_iter()
        .map(|t| {
            let mut buf = vec![0f32; u.cout * n];
            gemm(
                [u.cout, u.cin, n],
                &u.w[t..],
                [8, u.cout * 8],
                &x.data,
                n,
                false,
                &mut buf,
            );
            buf
        })
        .collect();
    let (d2, h2, w2) = (2 * d, 2 * h, 2 * w);
    let mut data = vec![0f32; u.cout * d2 * h2 * w2];
    data.par_chunks_mut(d2 * h2 * w2)
        .enumerate()
        .for_each(|(co, out)| {
            for (t, buf) in taps.iter().enumerate() {
                let (a, b, c) = (t >> 2, (t >> 1) & 1, t & 1);
                let src = &buf[co * n..(co + 1) * n];
                for z in 0..d {
                    for y in 0..h {
                        let o = ((2 * z + a) * h2 + 2 * y + b) * w2 + c;
                        for xx in 0..w {
                            out[o + 2 * xx] = src[(z * h + y) * w + xx] + u.b[co];
                        }
                    }
                }
            }
        });
    T {
        c: u.cout,
        d: [d2, h2, w2],
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_input(shape: [usize; 3]) -> Vec<f32> {
        let s = shape.map(|v| v as f64);
        let mut v = Vec::with_capacity(shape.iter().product());
        for z in 0..shape[0] {
            for y in 0..shape[1] {
                for x in 0..shape[2] {
                    let (z, y, x) = (z as f64, y as f64, x as f64);
                    let r = ((z - s[0] / 2.0).powi(2)
                        + (y - s[1] / 2.0).powi(2)
                        + (x - s[2] / 3.0).powi(2))
                    .sqrt();
                    let shell = r > s[0] * 0.3 && r < s[0] * 0.4;
                    let hole =
                        (z - s[0] * 0.6).powi(2) + (x - s[2] * 0.5).powi(2) < (s[0] * 0.15).powi(2);
                    let w = (0.5 + 0.5 * (y / 3.0).cos().powi(2)) as f32;
                    v.push(if shell && !hole { w } else { 0.0 });
                }
            }
        }
        v
    }

    /// The forward pass against PyTorch's on a seeded random network of widths 4, 8, 16 with
    /// random affine normalisations (`python training/implant3d.py fixture --widths 4,8,16
    /// --seed 7`; the probe values are PyTorch's, stored in the file's metadata).
    #[test]
    fn forward_pass_matches_pytorch() {
        let net = ImplantNet::from_safetensors(include_bytes!(
            "../../tests/data/implant3d_fixture.safetensors"
        ))
        .unwrap();
        assert_eq!(net.widths(), vec![4, 8, 16]);
        let probe: serde_json::Value = serde_json::from_str(&net.metadata["probe"]).unwrap();
        let shape = [16, 16, 32];
        let out = net.predict(&probe_input(shape), shape);
        let sum: f64 = out.iter().map(|&v| v as f64).sum();
        let want = probe["sum"].as_f64().unwrap();
        assert!(
            (sum - want).abs() < 1e-4 * want,
            "sum {sum} against PyTorch's {want}"
        );
        for at in probe["at"].as_array().unwrap() {
            let a: Vec<f64> = at
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got = out[((a[0] as usize) * 16 + a[1] as usize) * 32 + a[2] as usize] as f64;
            assert!((got - a[3]).abs() < 1e-5, "at {a:?}: {got}");
        }
    }

    #[test]
    fn shipped_network_loads_with_its_record() {
        let net = ImplantNet::shipped();
        assert_eq!(net.widths(), vec![16, 32, 64, 128, 256]);
        let record: serde_json::Value = serde_json::from_str(&net.metadata["record"]).unwrap();
        assert!(
            record["held_out"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "000")
        );
    }
}
