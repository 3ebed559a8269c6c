"""Train the 3-D implant network (ctplan_cranio::learned::voxel_net): a 3-D U-Net that predicts, on a
crop around a defect, which voxels the complete skull adds to the defective one.

    python training/implant3d.py pack  --work DIR          # SkullFix skulls -> DIR (bits, 12 MB)
    python training/implant3d.py train --work DIR --out NET.safetensors
    python training/implant3d.py train --work DIR --out NET2.safetensors --init NET.safetensors --lr 3e-4
    python training/implant3d.py train --work DIR --out NET3.safetensors --crop 128,160,160 \
        --styles frontoorbital=0.55,parietotemporal=0.35,random=0.1

Stages:
  pack     read the complete skulls of ../shared/data/skullfix/training_set and store each as
           packed bits (lzma) with its geometry (DIR/geo.json), so that they travel to a GPU
           machine (about 0.2 MB a skull).
  train    train on defects injected on the fly into the complete skulls of every case not
           held out (--hold-out, default splits A and B of training/splits.py: cases
           000, 005, ... and 001, 006, ...): the region of `ctplan skull inject`'s
           fronto-orbital, parietotemporal, random and sphere styles (balls around a point of
           the outer surface, warped by Gaussian bumps; the same parameters as
           crates/ctplan-cranio/src/defects.rs, drawn here by numpy's seeded generator), a crop
           of 160 x 224 x 224 voxels (z, y, x) around the removed bone (jittered +-12 mm), the
           defective skull's bone fraction pooled 2 x 2 in-plane as input, the removed bone's
           fraction as target (binary cross-entropy plus soft Dice), mirrored left-right half of
           the time. AdamW, batches of --batch for --seconds, the learning rate falling from
           --lr along a cosine over that time. Writes the weights as safetensors (f16) with
           the training record in the metadata. With --init it goes on from a trained
           network's weights (a fresh optimiser and cosine; the record keeps the earlier
           record under "continued_from"), so that training can run in several short sessions.
           --crop trains on smaller crops (the network is fully convolutional; the design runs
           it on 160 x 224 x 224; 128 x 160 x 160 takes about 3 s a crop on two CPU cores,
           against 9 s) and --styles sets the share of each defect style. Trained on from the
           shipped weights that way on a CPU (503 batches of two) it scored lower held out
           (BENCHMARKS.md, "The 3-D network").
  fixture  a seeded random network of --widths and PyTorch's output on a synthetic input: the
           fixture of the Rust forward-pass test.

Runs on a CUDA GPU where torch sees one, else on the CPU (the record says which).
Needs: torch, numpy (ctplan runs the network in Rust).
"""

import argparse
import json
import lzma
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from shapenet import read_metadata, read_safetensors, write_safetensors  # the map network's file format
from splits import SPLITS

ROOT = Path(__file__).resolve().parent.parent
DEV = "cuda" if torch.cuda.is_available() else "cpu"
CROP = (160, 224, 224)  # native voxels (z, y, x) around a defect
POOL = (1, 2, 2)  # native voxels per network voxel
WIDTHS = [16, 32, 64, 128, 256]
HELD_OUT = SPLITS["ab"]  # both held-out splits (training/splits.py)
STYLES = {  # style: share of the defects drawn (their regions: random_defect)
    "frontoorbital": 0.45,
    "parietotemporal": 0.35,
    "random": 0.10,
    "sphere": 0.10,
}


# ---------------------------------------------------------------- data


def read_nrrd_mask(path):
    """A NRRD mask (as SkullFix stores them) with its geometry, via SimpleITK if present."""
    import SimpleITK as sitk

    im = sitk.ReadImage(str(path))
    a = sitk.GetArrayFromImage(im) > 0
    geo = dict(shape=list(a.shape), origin=list(im.GetOrigin()), spacing=list(im.GetSpacing()),
               direction=list(im.GetDirection()))
    return a, geo


def pack_one(args):
    src, dst = args
    a, geo = read_nrrd_mask(src)
    Path(dst).write_bytes(lzma.compress(np.packbits(a).tobytes(), preset=6))
    return Path(dst).name, geo


def stage_pack(a):
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    jobs = [(p, work / f"complete_{p.stem}.xz") for p in sorted(Path(a.data, "complete_skull").glob("*.nrrd"))]
    with ProcessPoolExecutor(os.cpu_count()) as ex:
        geo = dict(ex.map(pack_one, jobs))
    (work / "geo.json").write_text(json.dumps(geo))
    print(f"packed {len(geo)} skulls into {work}")


def load_bits(work, name, geo):
    g = geo[name]
    b = np.frombuffer(lzma.decompress((Path(work) / name).read_bytes()), np.uint8)
    return np.unpackbits(b)[: int(np.prod(g["shape"]))].reshape(g["shape"]).astype(bool)


class Skull:
    """A mask on the GPU with its index <-> world (LPS mm) maps."""

    def __init__(self, arr, g):
        self.shape = list(arr.shape)
        self.vol = torch.from_numpy(arr).to(DEV)
        m = torch.tensor(g["direction"], dtype=torch.float64).reshape(3, 3) * torch.tensor(g["spacing"], dtype=torch.float64)[None, :]
        self.M = m.float().to(DEV)
        self.Minv = torch.linalg.inv(m).float().to(DEV)
        self.o = torch.tensor(g["origin"]).float().to(DEV)
        idx = torch.nonzero(self.vol)[::50].flip(1).float()
        self.centroid = (idx @ self.M.T + self.o).mean(0)

    def world(self, zyx):
        return zyx.flip(-1) @ self.M.T + self.o

    def index(self, p):
        return ((p - self.o) @ self.Minv.T).flip(-1)

    def lookup(self, zyx):
        q = zyx.round().long()
        ok = ((q >= 0) & (q < torch.tensor(self.shape, device=DEV))).all(-1)
        q = torch.where(ok[..., None], q, torch.zeros_like(q))
        return self.vol[q[..., 0], q[..., 1], q[..., 2]] & ok

    def surface(self, d):
        """The outer surface point along direction d from the centroid (outermost bone)."""
        t = torch.arange(0, 160, 0.4, device=DEV)
        pts = self.centroid + t[:, None] * d
        hit = self.lookup(self.index(pts))
        return pts[torch.nonzero(hit)[-1, 0]] if hit.any() else None

    def crop(self, centre, vol=None):
        vol = self.vol if vol is None else vol
        c = [int(round(float(v))) - s // 2 for v, s in zip(centre, CROP)]
        out = torch.zeros(CROP, dtype=torch.bool, device=DEV)
        src = [slice(max(a, 0), min(a + s, n)) for a, s, n in zip(c, CROP, self.shape)]
        dst = [slice(sl.start - a, sl.stop - a) for sl, a in zip(src, c)]
        if all(sl.stop > sl.start for sl in src):
            out[dst[0], dst[1], dst[2]] = vol[src[0], src[1], src[2]]
        return out, c

    def grid_world(self, c):
        axes = [torch.arange(a, a + s, device=DEV, dtype=torch.float32) for a, s in zip(c, CROP)]
        return self.world(torch.stack(torch.meshgrid(*axes, indexing="ij"), -1))


def direction(elev, az):
    e, a = math.radians(elev), math.radians(az)
    return torch.tensor([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)], device=DEV)


def tangents(n):
    h = torch.tensor([0.0, 0.0, 1.0] if abs(float(n[2])) < 0.9 else [1.0, 0.0, 0.0], device=DEV)
    u = torch.linalg.cross(n, h)
    u = u / u.norm()
    return u, torch.linalg.cross(n, u)


def blob(rng, p, n, count, spread, r0, r1, deform):
    """defects.rs's Blob::around: balls scattered in the tangent plane, Gaussian warp bumps."""
    u, v = tangents(n)
    balls = [(p, rng.uniform(r0, r1))]
    for _ in range(1, count):
        c = p + u * rng.uniform(-spread, spread) + v * rng.uniform(-spread, spread) + n * rng.uniform(-4, 4)
        balls.append((c, rng.uniform(r0, r1)))
    bumps = []
    if deform:
        for _ in range(4):
            c = p + torch.tensor(rng.uniform(-20, 20, 3), device=DEV).float()
            amp = torch.tensor(rng.uniform(-6, 6, 3), device=DEV).float()
            bumps.append((c, amp, rng.uniform(10, 16)))

    def contains(x):
        y = x
        for c, amp, s in bumps:
            d = x - c
            y = y + amp * torch.exp(-(d * d).sum(-1) / (2 * s * s))[..., None]
        m = torch.zeros(x.shape[:-1], dtype=torch.bool, device=DEV)
        for c, r in balls:
            m |= ((y - c) ** 2).sum(-1) <= r * r
        return m

    return contains


def random_defect(skull, rng):
    names = list(STYLES)
    st = rng.choice(names, p=[STYLES[k] for k in names])
    if st == "frontoorbital":
        d, k, sp, r0, r1 = direction(rng.uniform(5, 25), -90 + rng.uniform(-20, 20)), rng.integers(2, 5), 12, 20, 32
    elif st == "parietotemporal":
        side = 0 if rng.uniform() < 0.5 else 180
        az = side + (rng.uniform(0, 30) if side == 0 else -rng.uniform(0, 30))
        d, k, sp, r0, r1 = direction(rng.uniform(5, 35), az), rng.integers(3, 6), 16, 24, 38
    elif st == "random":
        d, k, sp, r0, r1 = direction(rng.uniform(20, 90), rng.uniform(0, 360)), rng.integers(3, 7), 18, 14, 28
    else:
        d, k, sp, r0, r1 = direction(rng.uniform(45, 90), rng.uniform(0, 360)), 1, 0, 30, 45
    p = skull.surface(d)
    if p is None:
        return None
    n = (p - skull.centroid) / (p - skull.centroid).norm()
    return blob(rng, p, n, int(k), sp, r0, r1, st != "sphere"), p


def pooled(x):
    return F.avg_pool3d(x.float()[None, None], POOL, POOL)[0, 0]


def sample(skulls, rng):
    """One (input, target) pair: pooled defective bone and removed bone on a crop."""
    spacing = torch.tensor([0.63, 0.47, 0.47], device=DEV)
    while True:
        s = skulls[rng.integers(len(skulls))]
        r = random_defect(s, rng)
        if r is None:
            continue
        contains, p = r
        comp, c = s.crop(s.index(p))
        imp = comp & contains(s.grid_world(c))
        if imp.sum() < 8000:  # about 1 mL
            continue
        centre = torch.nonzero(imp).float().mean(0) + torch.tensor(c, device=DEV).float()
        centre = centre + torch.tensor(rng.uniform(-12, 12, 3), device=DEV).float() / spacing
        comp, c = s.crop(centre)
        imp = comp & contains(s.grid_world(c))
        if imp.sum() < 4000:
            continue
        x, y = pooled(comp & ~imp), pooled(imp)
        if rng.uniform() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x, y


# ---------------------------------------------------------------- network


def block(cin, cout):
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01, True),
        nn.Conv3d(cout, cout, 3, padding=1), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01, True),
    )


class UNet(nn.Module):
    """3-D U-Net (Cicek et al., MICCAI 2016) with instance normalisation and leaky ReLU (as
    nnU-Net, Isensee et al., Nature Methods 2021): 2x2x2 max pooling down, 2x2x2 transposed
    convolutions up, a 1x1x1 head giving the logit of 'implant'."""

    def __init__(self, widths):
        super().__init__()
        w = widths
        self.down = nn.ModuleList([block(1 if i == 0 else w[i - 1], w[i]) for i in range(len(w))])
        self.up = nn.ModuleList([nn.ConvTranspose3d(w[i + 1], w[i], 2, 2) for i in range(len(w) - 1)])
        self.dec = nn.ModuleList([block(2 * w[i], w[i]) for i in range(len(w) - 1)])
        self.head = nn.Conv3d(w[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, b in enumerate(self.down):
            x = b(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool3d(x, 2)
        for i in reversed(range(len(self.up))):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], 1))
        return self.head(x)


def loss_fn(logit, y):
    p = torch.sigmoid(logit)
    dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    return F.binary_cross_entropy_with_logits(logit, y) + dice


def stage_train(a):
    t0 = time.time()
    work = Path(a.work)
    geo = json.loads((work / "geo.json").read_text())
    held = set(a.hold_out.split(",")) if a.hold_out else set()
    names = sorted(n for n in geo if n.startswith("complete_") and n[9:12] not in held)
    with ProcessPoolExecutor(min(16, os.cpu_count())) as ex:
        arrays = list(ex.map(load_bits, [work] * len(names), names, [geo] * len(names)))
    skulls = [Skull(arr, geo[n]) for arr, n in zip(arrays, names)]
    print(f"{len(skulls)} skulls loaded in {time.time() - t0:.0f} s", flush=True)
    rng = np.random.default_rng(a.seed)
    torch.manual_seed(a.seed)
    widths = [int(w) for w in a.widths.split(",")]
    net = UNet(widths).to(DEV)
    before = None
    if a.init:  # go on from a trained network (its widths must match --widths)
        net.load_state_dict(read_safetensors(a.init))
        before = json.loads(read_metadata(a.init).get("record", "{}"))
        print(f"starting from {a.init} ({before.get('iterations', '?')} iterations before)", flush=True)
    opt = torch.optim.AdamW(net.parameters(), a.lr, weight_decay=1e-4)
    history, run, t1, done = [], 0.0, time.time(), 0
    while time.time() - t1 < a.seconds:
        for g in opt.param_groups:  # cosine over the training time
            g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * (time.time() - t1) / a.seconds))
        xs, ys = zip(*[sample(skulls, rng) for _ in range(a.batch)])
        x, y = torch.stack(xs)[:, None], torch.stack(ys)[:, None]
        with torch.autocast(DEV, dtype=torch.bfloat16, enabled=DEV == "cuda"):
            logit = net(x)
        loss = loss_fn(logit.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run = 0.98 * run + 0.02 * loss.item()
        done += 1
        if done % 200 == 0:
            history.append([done, round(run, 4)])
            print(f"iteration {done} loss {run:.4f} {time.time() - t1:.0f} s", flush=True)
    record = {
        "data": "complete skulls of ../shared/data/skullfix/training_set", "trained_on": [n[9:12] for n in names],
        "held_out": sorted(held), "styles": STYLES, "crop": CROP, "pool": POOL, "widths": widths,
        "batch": a.batch, "lr": a.lr, "seconds_asked": a.seconds, "iterations": done, "seed": a.seed,
        "device": torch.cuda.get_device_name() if DEV == "cuda" else "cpu", "seconds": round(time.time() - t1),
        "loss_history": history,
    }
    if before is not None:  # the record of the network it went on from
        record["continued_from"] = {"file": Path(a.init).name, "record": before}
    # stored as f16 (half the size; the Rust loader widens to f32)
    write_safetensors(a.out, {k: v.half() for k, v in net.state_dict().items()}, {"record": json.dumps(record)})
    Path(str(a.out).replace(".safetensors", ".json")).write_text(json.dumps(record, indent=1))
    print(f"wrote {a.out} after {done} iterations")
    return net


def probe_input(shape):
    """A synthetic input (formula repeated in the Rust test): a shell with a hole."""
    z, y, x = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij")
    r = np.sqrt((z - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 + (x - shape[2] / 3) ** 2)
    shell = (r > shape[0] * 0.3) & (r < shape[0] * 0.4)
    hole = (z - shape[0] * 0.6) ** 2 + (x - shape[2] * 0.5) ** 2 < (shape[0] * 0.15) ** 2
    return (shell & ~hole).astype(np.float32) * (0.5 + 0.5 * np.cos(y / 3) ** 2).astype(np.float32)


def stage_fixture(a):
    torch.manual_seed(a.seed)
    widths = [int(w) for w in a.widths.split(",")]
    net = UNet(widths)
    with torch.no_grad():  # non-trivial affine norms
        for m in net.modules():
            if isinstance(m, nn.InstanceNorm3d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    shape = (16, 16, 32)
    with torch.no_grad():
        out = torch.sigmoid(net(torch.from_numpy(probe_input(shape))[None, None]))[0, 0].numpy()
    probe = {"shape": shape, "sum": float(out.sum()), "abs_sum": float(np.abs(out).sum()),
             "at": [[z, y, x, float(out[z, y, x])] for z, y, x in [(8, 8, 16), (3, 12, 5), (15, 0, 31), (0, 0, 0)]]}
    write_safetensors(a.out, net.state_dict(), {"probe": json.dumps(probe), "seed": str(a.seed)})
    print(json.dumps(probe))


def main():
    global CROP, STYLES
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["pack", "train", "fixture"])
    p.add_argument("--work", default="", help="packed skulls (pack writes, train reads)")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "skullfix" / "training_set"))
    p.add_argument("--out", default="", help="weights file (safetensors) to write")
    p.add_argument("--hold-out", default=",".join(HELD_OUT), help="cases (comma-separated) never trained on")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seconds", type=float, default=400, help="training time (the learning rate's cosine spans it)")
    p.add_argument("--init", default="", help="weights (safetensors, f16 or f32) to go on training from")
    p.add_argument("--crop", default=",".join(map(str, CROP)),
                   help="training crop in native voxels z,y,x (smaller crops train faster, e.g. on a CPU; "
                        "the network is fully convolutional and the design runs it on 160,224,224)")
    p.add_argument("--styles", default=",".join(f"{k}={v}" for k, v in STYLES.items()),
                   help="share of each defect style drawn, style=share,... (shares are normalised)")
    a = p.parse_args()
    try:
        CROP = tuple(int(v) for v in a.crop.split(","))
    except ValueError:
        CROP = ()
    if len(CROP) != 3 or any(v < 16 or v % (16 * q) for v, q in zip(CROP, POOL)):
        p.error(f"--crop {a.crop}: three sizes, each a multiple of 16 network voxels")
    try:
        shares = {k: float(v) for k, v in (kv.split("=") for kv in a.styles.split(","))}
    except ValueError:
        p.error(f"--styles {a.styles}: expected style=share,... (e.g. frontoorbital=0.6,parietotemporal=0.4)")
    unknown = set(shares) - set(STYLES)
    if unknown:
        p.error(f"--styles: unknown style(s) {sorted(unknown)}; known: {sorted(STYLES)}")
    total = sum(shares.values())
    if not total > 0 or min(shares.values()) < 0:
        p.error(f"--styles {a.styles}: shares must be non-negative and not all zero")
    STYLES = {k: v / total for k, v in shares.items()}
    if a.stage == "pack":
        stage_pack(a)
    elif a.stage == "train":
        if not Path(a.work, "geo.json").is_file():
            p.error(f"--work {a.work!r}: no packed skulls there (run the pack stage first)")
        stage_train(a)
    else:
        stage_fixture(a)


if __name__ == "__main__":
    sys.exit(main())
