//! Pictures of meshes without a GPU: orthographic projection from one of the anatomical views,
//! scan-line-free rasterization by edge functions with a depth buffer (Pineda, "A parallel
//! algorithm for polygon rasterization", SIGGRAPH 1988), head-light Lambert shading interpolated
//! from vertex normals, 2×2
//! supersampling for smooth edges, and a 5×7 bitmap font for labels (the HD44780 character
//! generator's glyphs). Used for the screenshots a case folder carries and the docs show.

use ctplan_core::vec3::dot;

use crate::TriMesh;

/// An 8-bit RGB picture, rows top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixels as R, G, B bytes, row by row from the top, `width * height * 3` of them.
    pub rgb: Vec<u8>,
}

impl Image {
    /// A picture filled with one colour.
    pub fn filled(width: usize, height: usize, color: [u8; 3]) -> Image {
        Image {
            width,
            height,
            rgb: color
                .iter()
                .copied()
                .cycle()
                .take(width * height * 3)
                .collect(),
        }
    }

    /// The colour of pixel (`x`, `y`), `y` counted from the top.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = 3 * (y as usize * self.width + x as usize);
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A filled rectangle (clipped to the picture).
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// A line `width` pixels thick (Bresenham-like stepping along the longer axis).
    pub fn line(&mut self, a: [f64; 2], b: [f64; 2], width: i64, c: [u8; 3]) {
        let n = (b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil().max(1.0) as usize;
        for s in 0..=n {
            let t = s as f64 / n as f64;
            let x = (a[0] + t * (b[0] - a[0])).round() as i64;
            let y = (a[1] + t * (b[1] - a[1])).round() as i64;
            self.fill_rect(x - width / 2, y - width / 2, width, width, c);
        }
    }

    /// Text in the 5×7 font at `scale` pixels per font pixel, top-left at (x, y), with a
    /// one-font-pixel outline in `outline` (so labels read over any colour).
    pub fn text(
        &mut self,
        x: i64,
        y: i64,
        text: &str,
        scale: i64,
        c: [u8; 3],
        outline: Option<[u8; 3]>,
    ) {
        let draw = |img: &mut Image, ox: i64, oy: i64, col: [u8; 3]| {
            for (n, ch) in text.chars().enumerate() {
                let g = glyph(ch);
                let gx = x + ox + n as i64 * 6 * scale;
                for (row, bits) in g.iter().enumerate() {
                    for bit in 0..5 {
                        if bits >> (4 - bit) & 1 != 0 {
                            img.fill_rect(
                                gx + bit * scale,
                                y + oy + row as i64 * scale,
                                scale,
                                scale,
                                col,
                            );
                        }
                    }
                }
            }
        };
        if let Some(o) = outline {
            for (dx, dy) in [
                (-1, 0),
                (1, 0),
                (0, -1),
                (0, 1),
                (-1, -1),
                (1, 1),
                (-1, 1),
                (1, -1),
            ] {
                draw(self, dx * scale, dy * scale, o);
            }
        }
        draw(self, 0, 0, c);
    }
}

/// Width in pixels of `text` at `scale` (6 font pixels a character, the last without its gap).
pub fn text_width(text: &str, scale: i64) -> i64 {
    (text.chars().count() as i64 * 6 - 1).max(0) * scale
}

/// Height in pixels of a line of text at `scale`.
pub fn text_height(scale: i64) -> i64 {
    7 * scale
}

/// The side the viewer looks from, in the patient's frame (LPS). The anterior view is the
/// radiological one: the patient's right on the picture's left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// From the front (the patient's face): the patient's right on the picture's left.
    Anterior,
    /// From behind.
    Posterior,
    /// From the patient's right.
    Right,
    /// From the patient's left.
    Left,
}

impl View {
    /// (picture right, picture up, toward the viewer) as LPS unit vectors.
    fn axes(self) -> ([f64; 3], [f64; 3], [f64; 3]) {
        let up = [0.0, 0.0, 1.0];
        match self {
            View::Anterior => ([1.0, 0.0, 0.0], up, [0.0, -1.0, 0.0]),
            View::Posterior => ([-1.0, 0.0, 0.0], up, [0.0, 1.0, 0.0]),
            View::Right => ([0.0, 1.0, 0.0], up, [-1.0, 0.0, 0.0]),
            View::Left => ([0.0, -1.0, 0.0], up, [1.0, 0.0, 0.0]),
        }
    }
}

/// An orthographic camera: LPS millimetres → picture pixels.
#[derive(Debug, Clone, Copy)]
pub struct Projection {
    right: [f64; 3],
    up: [f64; 3],
    toward: [f64; 3],
    centre: [f64; 3],
    /// Pixels per millimetre.
    pub scale: f64,
    /// Pixel position of `centre`.
    pub origin: [f64; 2],
}

impl Projection {
    /// The camera that shows the box `lo`–`hi` (LPS mm) whole from `view`, centred in the
    /// rectangle (x, y, w, h) of a picture with `margin` pixels to spare on each side.
    pub fn fit(view: View, lo: [f64; 3], hi: [f64; 3], rect: [f64; 4], margin: f64) -> Self {
        let (right, up, toward) = view.axes();
        let centre = [0, 1, 2].map(|d| 0.5 * (lo[d] + hi[d]));
        let ext = [0, 1, 2].map(|d| (hi[d] - lo[d]).abs());
        let w = dot(ext, right.map(f64::abs)).max(1e-6);
        let h = dot(ext, up.map(f64::abs)).max(1e-6);
        let scale = ((rect[2] - 2.0 * margin) / w)
            .min((rect[3] - 2.0 * margin) / h)
            .max(1e-6);
        Projection {
            right,
            up,
            toward,
            centre,
            scale,
            origin: [rect[0] + rect[2] / 2.0, rect[1] + rect[3] / 2.0],
        }
    }

    /// (x px, y px downward, depth mm toward the viewer) of an LPS point.
    pub fn project(&self, p: [f64; 3]) -> [f64; 3] {
        let d = [
            p[0] - self.centre[0],
            p[1] - self.centre[1],
            p[2] - self.centre[2],
        ];
        [
            self.origin[0] + self.scale * dot(d, self.right),
            self.origin[1] - self.scale * dot(d, self.up),
            dot(d, self.toward),
        ]
    }

    fn scaled(&self, k: f64) -> Projection {
        Projection {
            scale: self.scale * k,
            origin: [self.origin[0] * k, self.origin[1] * k],
            ..*self
        }
    }
}

/// Bounding box (lo, hi) of the vertices of several meshes; `None` if they have none.
pub fn bounds<'a>(meshes: impl IntoIterator<Item = &'a TriMesh>) -> Option<([f64; 3], [f64; 3])> {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for m in meshes {
        for v in &m.vertices {
            for d in 0..3 {
                lo[d] = lo[d].min(v[d]);
                hi[d] = hi[d].max(v[d]);
            }
        }
    }
    lo[0].is_finite().then_some((lo, hi))
}

/// Draw opaque meshes into `image` (over what it holds) through `camera`: Gouraud shading
/// (Gouraud, "Continuous shading of curved surfaces", IEEE Trans. Computers C-20(6), 1971) of
/// the cosine between each vertex normal and the viewing direction (two-sided, so open surfaces
/// show too), 25 % ambient; the nearest surface wins.
pub fn draw_meshes(image: &mut Image, camera: &Projection, parts: &[(&TriMesh, [f32; 3])]) {
    const SS: usize = 2;
    let (w, h) = (image.width * SS, image.height * SS);
    let cam = camera.scaled(SS as f64);
    let mut depth = vec![f64::NEG_INFINITY; w * h];
    let mut color = vec![[0u8; 3]; w * h];
    for (mesh, base) in parts {
        let projected: Vec<[f64; 3]> = mesh.vertices.iter().map(|&p| cam.project(p)).collect();
        let light: Vec<f64> = mesh
            .vertex_normals()
            .iter()
            .map(|&n| 0.25 + 0.75 * dot(n, cam.toward).abs())
            .collect();
        for tri in &mesh.triangles {
            let [a, b, c] = tri.map(|i| projected[i as usize]);
            let [la, lb, lc] = tri.map(|i| light[i as usize]);
            let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
            if area.abs() < 1e-12 {
                continue;
            }
            let x0 = a[0].min(b[0]).min(c[0]).floor().max(0.0) as usize;
            let x1 = (a[0].max(b[0]).max(c[0]).ceil() as usize).min(w.saturating_sub(1));
            let y0 = a[1].min(b[1]).min(c[1]).floor().max(0.0) as usize;
            let y1 = (a[1].max(b[1]).max(c[1]).ceil() as usize).min(h.saturating_sub(1));
            if a[0].max(b[0]).max(c[0]) < 0.0 || a[1].max(b[1]).max(c[1]) < 0.0 {
                continue;
            }
            for y in y0..=y1 {
                let py = y as f64 + 0.5;
                for x in x0..=x1 {
                    let px = x as f64 + 0.5;
                    let w0 = (b[0] - px) * (c[1] - py) - (b[1] - py) * (c[0] - px);
                    let w1 = (c[0] - px) * (a[1] - py) - (c[1] - py) * (a[0] - px);
                    let w2 = (a[0] - px) * (b[1] - py) - (a[1] - py) * (b[0] - px);
                    let inside = if area > 0.0 {
                        w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0
                    } else {
                        w0 <= 0.0 && w1 <= 0.0 && w2 <= 0.0
                    };
                    if !inside {
                        continue;
                    }
                    let z = (w0 * a[2] + w1 * b[2] + w2 * c[2]) / area;
                    let i = y * w + x;
                    if z > depth[i] {
                        depth[i] = z;
                        // Shading in 1/32 steps: smooth to the eye, and flat runs of colour keep
                        // pictures small.
                        let shade = ((w0 * la + w1 * lb + w2 * lc) / area * 32.0).round() / 32.0;
                        color[i] = base
                            .map(|x| ((x as f64 * shade).clamp(0.0, 1.0) * 255.0).round() as u8);
                    }
                }
            }
        }
    }
    // Average each 2×2 block; blocks with no surface keep the picture's pixel.
    for y in 0..image.height {
        for x in 0..image.width {
            let mut sum = [0u32; 3];
            let mut n = 0u32;
            for dy in 0..SS {
                for dx in 0..SS {
                    let i = (y * SS + dy) * w + x * SS + dx;
                    let c = if depth[i].is_finite() {
                        n += 1;
                        color[i]
                    } else {
                        image.pixel(x, y)
                    };
                    for k in 0..3 {
                        sum[k] += c[k] as u32;
                    }
                }
            }
            if n > 0 {
                let q = (SS * SS) as u32;
                image.put(x as i64, y as i64, sum.map(|s| ((s + q / 2) / q) as u8));
            }
        }
    }
}

/// The 5×7 glyph of a character (rows top to bottom, bit 4 the leftmost column); lower case
/// drawn as upper case, anything unknown as a hollow box.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        ' ' => [0; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed axis-aligned box, outward triangles.
    fn cuboid(lo: [f64; 3], hi: [f64; 3]) -> TriMesh {
        let v = |i: usize| {
            [
                if i & 1 != 0 { hi[0] } else { lo[0] },
                if i & 2 != 0 { hi[1] } else { lo[1] },
                if i & 4 != 0 { hi[2] } else { lo[2] },
            ]
        };
        let mut triangles = Vec::new();
        for q in crate::extract::FACES.map(|f| f.map(|c| c as u32)) {
            triangles.push([q[0], q[1], q[2]]);
            triangles.push([q[0], q[2], q[3]]);
        }
        TriMesh {
            vertices: (0..8).map(v).collect(),
            triangles,
        }
    }

    #[test]
    fn anterior_view_puts_the_patients_right_on_the_left_and_nearer_surfaces_win() {
        // A red box on the patient's right (−x), a blue box on the left (+x); a green box in
        // front of (anterior to, −y) the blue one hides it.
        let red = cuboid([-30.0, -5.0, -5.0], [-10.0, 5.0, 5.0]);
        let blue = cuboid([10.0, -5.0, -5.0], [30.0, 5.0, 5.0]);
        let green = cuboid([15.0, -20.0, -3.0], [25.0, -10.0, 3.0]);
        let (lo, hi) = bounds([&red, &blue, &green]).unwrap();
        let mut img = Image::filled(200, 100, [0, 0, 0]);
        let cam = Projection::fit(View::Anterior, lo, hi, [0.0, 0.0, 200.0, 100.0], 10.0);
        draw_meshes(
            &mut img,
            &cam,
            &[
                (&red, [1.0, 0.0, 0.0]),
                (&blue, [0.0, 0.0, 1.0]),
                (&green, [0.0, 1.0, 0.0]),
            ],
        );
        // Which base colour a pixel shows (shading scales it; box corners' normals are averages,
        // so no face is lit exactly head-on).
        let at = |p: [f64; 3]| {
            let q = cam.project(p);
            let c = img.pixel(q[0] as usize, q[1] as usize);
            c.map(|x| u8::from(x > 60))
        };
        assert_eq!(at([-20.0, 0.0, 0.0]), [1, 0, 0], "right box on the left");
        assert_eq!(at([12.0, 0.0, 4.0]), [0, 0, 1], "blue beside the green box");
        assert_eq!(
            at([20.0, 0.0, 0.0]),
            [0, 1, 0],
            "green box in front hides blue"
        );
        assert_eq!(
            img.pixel(100, 50),
            [0, 0, 0],
            "background between the boxes"
        );
        assert!(cam.project([-20.0, 0.0, 0.0])[0] < cam.project([20.0, 0.0, 0.0])[0]);
        // From behind, left and right swap.
        let back = Projection::fit(View::Posterior, lo, hi, [0.0, 0.0, 200.0, 100.0], 10.0);
        assert!(back.project([-20.0, 0.0, 0.0])[0] > back.project([20.0, 0.0, 0.0])[0]);
    }

    #[test]
    fn text_is_drawn_inside_its_measured_box() {
        let mut img = Image::filled(80, 20, [0, 0, 0]);
        img.text(2, 2, "LB1+2", 2, [255, 255, 255], None);
        let w = text_width("LB1+2", 2);
        let lit: Vec<(usize, usize)> = (0..20)
            .flat_map(|y| (0..80).map(move |x| (x, y)))
            .filter(|&(x, y)| img.pixel(x, y) != [0, 0, 0])
            .collect();
        assert!(!lit.is_empty());
        assert!(lit.iter().all(|&(x, y)| x >= 2
            && (x as i64) < 2 + w
            && y >= 2
            && (y as i64) < 2 + text_height(2)));
        // 'L' is a vertical bar and a foot: its top-left font pixel is lit, top-right is not.
        assert_eq!(img.pixel(2, 2), [255, 255, 255]);
        assert_eq!(img.pixel(2 + 8, 2), [0, 0, 0]);
    }
}
