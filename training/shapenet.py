"""Train the learned correction of the shape model's trend (ctplan_cranio::learned::map_net).

One command trains and exports the network (`ctplan implant --net FILE` uses it; with the
defaults, the shipped one: an ensemble of three U-Nets, crates/ctplan-cranio/assets/skull_net.md):

    python training/shapenet.py all --work /tmp/shapenet --out /tmp/shapenet/skull_net.safetensors

Stages (each resumable; `all` runs them in order):
  samples  build the training samples with the Rust example `shapenet_samples` from
           ../shared/data/skullfix/training_set: for each case of the shipped shape prior (the
           training cases that the held-out split A never contributes to), its SkullFix defect and
           PER_STYLE defects of every `ctplan skull inject` style, each planned with the prior
           without that case (leave-one-out), so the trend errs as on an unseen skull.
  train    train one 2-D U-Net per --train-seeds (work/member{seed}/) in runs of at most
           --minutes (checkpoint after every epoch, resume from it), with random mirror images
           (left/right), rotations about the vertical axis (+-12 deg) and scalings (0.93-1.07)
           of each sample; each SkullFix defect is seen --skullfix-repeat times an epoch.
  export   write each member's weights beside its checkpoint, then their ensemble (the mean of
           their corrections) to --out: safetensors (f32) with the training record in its
           metadata, and the record as JSON beside it.
  ensemble (alone) the ensemble of the networks named by --members (exported weights).
  pack     (alone) pack the samples into one file (work/samples.pack, 9 MB for 1205 samples),
           to carry them to a GPU machine: `train` and `export` read it where work/samples/ is
           absent.
  fixture  (alone) a seeded random network and PyTorch's output on a synthetic input, the
           fixture of the Rust forward-pass test.

Runs on a CUDA GPU where torch sees one, else on the CPU (the record says which).
Needs: torch, numpy (PyTorch is used for training only; ctplan runs the network in Rust).
"""

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
N = 112  # NET_N
C_IN = 9  # IN_CHANNELS
WIDTHS = [32, 64, 128, 192]  # default channel widths of the encoder levels (--widths)
SHIFT = [0.0, 0.0, 0.0, 0.0, 75.0, 6.0, 0.0, 0.0, 0.0]
SCALE = [1.0, 1.0, 1.0, 1.0, 10.0, 2.0, 1.0, 1.0, 1.0]
# Cases of the shipped prior kept out of training to validate on (every eleventh).
VALIDATION = ["011", "024", "038", "051", "064"]


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU()
    )


class ShapeNet(nn.Module):
    """The architecture that crates/ctplan-cranio/src/learned/map_net.rs runs (same tensor names)."""

    def __init__(self, widths=WIDTHS):
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT))
        self.register_buffer("scale", torch.tensor(SCALE))
        w = widths
        self.enc = nn.ModuleList([block(C_IN if l == 0 else w[l - 1], w[l]) for l in range(4)])
        self.dec = nn.ModuleList([block(w[l + 1] + w[l], w[l]) for l in range(3)])
        self.head = nn.Conv2d(w[0], 2, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, raw):
        # Features (as ShapeNet::predict in learned/map_net.rs): masks; the intact bone's offset from
        # the trend where both are defined; the trend's outer radius and thickness; the fill's
        # offset from the trend over the rebuilt region.
        obs = (raw[:, 0:1] > 0.5).float()
        reg = (raw[:, 1:2] > 0.5).float()
        tr = (raw[:, 6:7] > 0.5).float()
        f = torch.cat(
            [
                raw[:, 0:2],
                (raw[:, 2:4] - raw[:, 4:6]) * obs * tr,
                raw[:, 4:5],
                raw[:, 4:5] - raw[:, 5:6],
                raw[:, 6:7],
                (raw[:, 7:9] - raw[:, 4:6]) * reg * tr,
            ],
            1,
        )
        x = (f - self.shift[None, :, None, None]) / self.scale[None, :, None, None]
        x = torch.cat([x[:, 0:4], x[:, 4:6] * tr, x[:, 6:9]], 1)
        skips = []
        for l, e in enumerate(self.enc):
            if l > 0:
                x = F.avg_pool2d(x, 2)
            x = e(x)
            if l < 3:
                skips.append(x)
        for l in (2, 1, 0):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.dec[l](torch.cat([x, skips[l]], 1))
        return self.head(x)


class Ensemble(nn.Module):
    """Networks whose corrections are averaged (tensors `members.{i}.…`, as learned/map_net.rs reads
    them)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, raw):
        return sum(m(raw) for m in self.members) / len(self.members)


def load(work):
    """The samples: `work/samples/*.f32` as `shapenet_samples` writes them, or where that folder
    is absent, the packed file `work/samples.pack` (stage `pack`)."""
    if not (work / "samples").is_dir() and (work / "samples.pack").exists():
        return unpack(work / "samples.pack")
    names = sorted(p.stem for p in (work / "samples").glob("*.f32"))
    data = np.stack([np.fromfile(work / "samples" / f"{n}.f32", dtype="<f4").reshape(C_IN + 3, N, N) for n in names])
    return names, data


# Packed samples (to carry them to a GPU machine: 1205 samples take 9 MB instead of 700 MB).
# Each value the network or the loss reads is kept to 0.01 mm: the masks as bits; the trend's
# outer radius and thickness where the trend is defined, differenced along rows; the intact
# bone's, the fill's and the target's offsets from the trend where their masks and the trend's
# are set. Everything else (never read: the features mask it out) is zero.
PACK_MAGIC = b"ctplan-shapenet-pack-1\n"


def pack_sample(a):
    obs, reg, tr, known = (a[i] > 0.5 for i in (0, 1, 6, 11))
    q = np.zeros((8, N, N), np.int16)
    q[0] = np.where(tr, np.round(a[4] * 100), 0)
    q[1] = np.where(tr, np.round((a[4] - a[5]) * 100), 0)
    q[2:4] = np.where(obs & tr, np.round((a[2:4] - a[4:6]) * 100), 0)
    q[4:6] = np.where(reg & tr, np.round((a[7:9] - a[4:6]) * 100), 0)
    q[6:8] = np.where(known & tr, np.round(a[9:11] * 100), 0)
    q[0:2] = np.diff(q[0:2], axis=2, prepend=0)
    return q.astype("<i2").tobytes() + np.packbits(np.stack([obs, reg, tr, known])).tobytes()


def unpack_sample(b):
    q = np.frombuffer(b[: 16 * N * N], dtype="<i2").reshape(8, N, N).astype(np.int64)
    obs, reg, tr, known = np.unpackbits(np.frombuffer(b[16 * N * N :], np.uint8))[: 4 * N * N].reshape(4, N, N)
    q[0:2] = np.cumsum(q[0:2], axis=2)
    a = np.zeros((C_IN + 3, N, N), np.float32)
    a[0], a[1], a[6], a[11] = obs, reg, tr, known
    a[4] = q[0] / 100
    a[5] = (q[0] - q[1]) / 100
    a[2:4] = np.where(obs & tr, a[4:6] + q[2:4] / 100, 0)
    a[7:9] = np.where(reg & tr, a[4:6] + q[4:6] / 100, 0)
    a[9:11] = q[6:8] / 100
    return a


def unpack(path):
    import lzma

    raw = lzma.decompress(path.read_bytes())
    if not raw.startswith(PACK_MAGIC):
        sys.exit(f"{path}: not a packed sample file")
    head, body = raw[len(PACK_MAGIC) :].split(b"\n", 1)
    names = head.decode().split(",")
    size = 16 * N * N + (4 * N * N + 7) // 8
    if len(body) != size * len(names):
        sys.exit(f"{path}: {len(body)} bytes of samples, expected {size * len(names)}")
    return names, np.stack([unpack_sample(body[i * size : (i + 1) * size]) for i in range(len(names))])


def stage_pack(a):
    import lzma

    work = Path(a.work)
    names, data = load(work)
    body = b"".join(pack_sample(x) for x in data)
    out = work / "samples.pack"
    tmp = Path(str(out) + ".tmp")
    tmp.write_bytes(lzma.compress(PACK_MAGIC + ",".join(names).encode() + b"\n" + body))
    os.replace(tmp, out)
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(names)} samples)")


def augment(batch, rng):
    """Mirror (u -> -u, the last axis), rotate about the pole, scale every radius."""
    b = batch.clone()
    for i in range(b.shape[0]):
        if rng.random() < 0.5:
            b[i] = torch.flip(b[i], dims=[2])
        s = rng.uniform(0.93, 1.07)
        b[i, 2:6] *= s
        b[i, 7:11] *= s
    ang = torch.tensor([rng.uniform(-12, 12) for _ in range(b.shape[0])], device=b.device) * np.pi / 180
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(b.shape[0], 2, 3, device=b.device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta, list(b.shape), align_corners=False)
    return F.grid_sample(b, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def loss_terms(model, batch):
    """L1 (mm) of the corrected fill against the complete skull, over the rebuilt region
    (weight 1) and the matching ring (weight 0.5, where the target is the intact bone); and the
    same for the fill alone."""
    raw, target, known = batch[:, :C_IN], batch[:, C_IN : C_IN + 2], batch[:, C_IN + 2 : C_IN + 3]
    w = known * (raw[:, 6:7] > 0.5).float() * (0.5 + 0.5 * (raw[:, 1:2] > 0.5).float())
    pred = model(raw)
    err = ((pred - target).abs() * w).sum() / (2 * w.sum())
    base = (target.abs() * w).sum() / (2 * w.sum())
    return err, base


def region_l1(model, data):
    """Mean L1 (mm) over rebuilt-region bins: (the fill alone, corrected)."""
    model.eval()
    tot = np.zeros(3)
    device = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(data), 16):
            batch = torch.from_numpy(data[i : i + 16]).to(device)
            raw, target, known = batch[:, :C_IN], batch[:, C_IN : C_IN + 2], batch[:, C_IN + 2 : C_IN + 3]
            w = known * (raw[:, 1:2] > 0.5).float() * (raw[:, 6:7] > 0.5).float()
            pred = model(raw)
            tot += [(target.abs() * w).sum().item(), ((pred - target).abs() * w).sum().item(), 2 * w.sum().item()]
    model.train()
    return tot[0] / tot[2], tot[1] / tot[2]


def validation(model, names, data, val):
    """Region L1 (fill alone, corrected) over the validation samples, and per validation case
    for its SkullFix defect: {case: [fill alone, corrected]} (the record's
    `validation_skullfix_l1_mm`, which crates/ctplan-cranio/tests/shapenet_record.rs
    recomputes)."""
    base, corr = region_l1(model, data[val])
    per_case = {}
    for i in val:
        if names[i].endswith("_skullfix"):
            t, c = region_l1(model, data[i : i + 1])
            per_case[names[i].split("_")[0]] = [round(t, 4), round(c, 4)]
    return base, corr, per_case


def stage_samples(a):
    work = Path(a.work)
    if (work / "samples.done").exists():
        print("samples: already built")
        return
    subprocess.run(
        ["cargo", "build", "--release", "-p", "ctplan-cranio", "--example", "shapenet_samples"], cwd=ROOT, check=True
    )
    exe = ROOT / "target" / "release" / "examples" / "shapenet_samples"
    prior = ROOT / "crates" / "ctplan-cranio" / "assets" / "skull_prior.ctprior"
    subprocess.run([str(exe), a.data, str(prior), str(work / "samples"), str(a.per_style), str(a.seed)], check=True)
    (work / "samples.done").write_text("ok\n")


def split(names, hold_out=()):
    """Sample indices for training and validation; cases in `hold_out` are in neither (a twin
    network for an independent check on them)."""
    val = [i for i, n in enumerate(names) if n.split("_")[0] in VALIDATION]
    train = [i for i, n in enumerate(names) if n.split("_")[0] not in VALIDATION + list(hold_out)]
    return train, val


def train_seeds(a):
    return [int(x) for x in a.train_seeds.split(",") if x] if a.train_seeds else [a.seed]


def widths(a):
    return [int(w) for w in a.widths.split(",")]


def held_out(a):
    return [c for c in a.hold_out.split(",") if c]


def member_dir(work, seed):
    """Where the member trained from `seed` keeps its checkpoint and exported weights."""
    return work / f"member{seed}"


def stage_train(a):
    """Train each member (one per --train-seeds) in turn, within --minutes in all."""
    start = time.time()
    for seed in train_seeds(a):
        left = 60 * a.minutes - (time.time() - start)
        if not train_member(a, seed, left):
            print(f"stopped after {a.minutes} min in member {seed}; run again to resume")
            sys.exit(3)


def train_member(a, seed, seconds):
    """Train (or resume) the member of `seed` for at most `seconds`; whether it is done."""
    work, mdir = Path(a.work), member_dir(Path(a.work), seed)
    mdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    names, data = load(work)
    train, val = split(names, held_out(a))
    # The SkullFix defects (one per case) seen --skullfix-repeat times an epoch.
    train += [i for i in train if names[i].endswith("_skullfix")] * (a.skullfix_repeat - 1)
    model = ShapeNet(widths(a)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    ckpt = mdir / "ckpt.pt"
    state = {"epoch": 0, "history": []}
    if ckpt.exists():
        c = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        state = c["state"]
        rng.setstate(c["rng"])
        print(f"resumed at epoch {state['epoch']}")
    if state["epoch"] >= a.epochs:
        return True
    start = time.time()
    while state["epoch"] < a.epochs and time.time() - start < seconds:
        ep = state["epoch"]
        lr = a.lr * 0.5 * (1 + np.cos(np.pi * ep / a.epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        order = train[:]
        rng.shuffle(order)
        t0, tot = time.time(), 0.0
        for i in range(0, len(order), a.batch):
            batch = augment(torch.from_numpy(data[order[i : i + a.batch]]).to(device), rng)
            err, _ = loss_terms(model, batch)
            opt.zero_grad()
            err.backward()
            opt.step()
            tot += err.item() * len(order[i : i + a.batch])
        base, corr = region_l1(model, data[val])
        state["epoch"] = ep + 1
        state["history"].append({"epoch": ep + 1, "train_l1": tot / len(order), "val_fill_l1": base, "val_l1": corr})
        print(f"member {seed} epoch {ep + 1}: train {tot / len(order):.4f} mm, validation region L1 fill {base:.4f} -> {corr:.4f} mm ({time.time() - t0:.0f} s)", flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state, "rng": rng.getstate()}, ckpt)
    if state["epoch"] < a.epochs:
        return False
    (mdir / "device.txt").write_text(device + ("" if device == "cpu" else f" ({torch.cuda.get_device_name()})") + "\n")
    return True


def write_safetensors(path, tensors, metadata):
    """Tensors as F16 where they are half (training/implant3d.py's weights), else F32."""
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for name, t in tensors.items():
        half = t.dtype == torch.float16
        b = t.detach().cpu().contiguous().numpy().astype("<f2" if half else "<f4").tobytes()
        header[name] = {"dtype": "F16" if half else "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_header(path):
    """A safetensors file's JSON header and the data bytes after it."""
    b = Path(path).read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8 : 8 + n]), b[8 + n :]


def read_safetensors(path):
    """The tensors of a safetensors file (F32, or F16 widened to f32), by name."""
    header, data = read_header(path)
    kinds = {"F32": "<f4", "F16": "<f2"}
    return {
        k: torch.from_numpy(
            np.frombuffer(data[v["data_offsets"][0] : v["data_offsets"][1]], kinds[v["dtype"]])
            .astype(np.float32)
            .reshape(v["shape"])
        )
        for k, v in header.items()
        if k != "__metadata__"
    }


def read_metadata(path):
    """The metadata of a safetensors file (a dict of strings)."""
    return read_header(path)[0].get("__metadata__", {})


def probe_input():
    """A synthetic input (formula repeated in learned/map_net.rs's test): a disk of bone, a region in
    it, smooth radii."""
    y, x = np.mgrid[0:N, 0:N].astype(np.float64)
    ch = np.zeros((C_IN, N, N))
    ch[0] = ((x - 56) ** 2 + (y - 56) ** 2 < 50**2) & ~((x - 70) ** 2 + (y - 50) ** 2 < 15**2)
    ch[1] = (x - 70) ** 2 + (y - 50) ** 2 < 15**2
    ch[2] = 75 + 5 * np.sin(x / 9)
    ch[3] = ch[2] - 6 - np.cos(y / 7)
    ch[4] = ch[2] + 0.5
    ch[5] = ch[3] + 0.3
    ch[6] = (x - 70) ** 2 + (y - 50) ** 2 < 20**2
    ch[7] = np.where(ch[1] > 0, ch[2] + 0.8 + 0.2 * np.sin(y / 5), 0)
    ch[8] = np.where(ch[1] > 0, ch[3] + 0.1, 0)
    return ch.astype(np.float32)


def probe(model):
    """The network's output on `probe_input`: sums, absolute sums and four values, as the Rust
    forward-pass test reads them."""
    with torch.no_grad():
        y = model(torch.from_numpy(probe_input())[None])[0].numpy()
    return {
        "sum": [float(y[0].sum()), float(y[1].sum())],
        "abs_sum": [float(np.abs(y[0]).sum()), float(np.abs(y[1]).sum())],
        "at": [[c, yy, xx, float(y[c, yy, xx])] for c, yy, xx in [(0, 50, 70), (1, 50, 70), (0, 40, 60), (1, 60, 80)]],
    }


def kinds(names):
    """How many samples of each kind (`skullfix` or an injection style) there are."""
    out = {}
    for n in names:
        k = n.split("_")[1]
        out[k] = out.get(k, 0) + 1
    return out


def stage_export(a):
    """Export each member (beside its checkpoint), then their ensemble to --out."""
    files = [export_member(a, seed) for seed in train_seeds(a)]
    ensemble(a, files, Path(a.out))


def export_member(a, seed):
    work, mdir = Path(a.work), member_dir(Path(a.work), seed)
    c = torch.load(mdir / "ckpt.pt", map_location="cpu", weights_only=False)
    model = ShapeNet(widths(a))
    model.load_state_dict(c["model"])
    names, data = load(work)
    train, val = split(names, held_out(a))
    base, corr, per_case = validation(model, names, data, val)
    record = {
        "data": "skullfix/training_set: the cases of the shipped shape prior (split A held out), "
        f"their SkullFix defects and injected defects (seed {a.seed}), samples per kind: "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds(names).items())),
        "train_cases": sorted({names[i].split("_")[0] for i in train}),
        "held_out_cases": held_out(a),
        "validation_cases": VALIDATION,
        "samples": {"train": len(train), "validation": len(val)},
        "sample_names": names,
        "epochs": c["state"]["epoch"],
        "batch": a.batch,
        "lr": a.lr,
        "train_seed": seed,
        "skullfix_repeat": a.skullfix_repeat,
        "widths": widths(a),
        "augmentation": "mirror u, rotation +-12 deg about the pole, scale 0.93-1.07",
        "device": (mdir / "device.txt").read_text().strip() if (mdir / "device.txt").exists() else "unknown",
        "validation_region_l1_mm": {"fill": round(base, 4), "corrected": round(corr, 4)},
        # The SkullFix defect of each validation case: [fill alone, corrected] (the test
        # crates/ctplan-cranio/tests/shapenet_record.rs recomputes these).
        "validation_skullfix_l1_mm": per_case,
        "history": c["state"]["history"],
    }
    # A probe anyone can rebuild: the network's output on a synthetic input (probe_input), for
    # the Rust test that checks its forward pass against PyTorch's.
    record["probe"] = probe(model)
    tensors = {k: v for k, v in model.state_dict().items()}
    meta = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in record.items() if k not in ("history", "sample_names")}
    out = mdir / "net.safetensors"
    write_safetensors(out, tensors, meta)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes): validation region L1 {base:.4f} -> {corr:.4f} mm")
    return out


def stage_ensemble(a):
    ensemble(a, [Path(d) for d in a.members.split(",") if d], Path(a.out))


def ensemble(a, dirs, out):
    """Average the networks `dirs` (exported weights, each with its record beside it; same
    data, split and hold-out, any widths and seeds) into `out`, with the ensemble's
    validation scores on the samples in --work."""
    work = Path(a.work)
    recs = [json.loads(d.with_suffix(".json").read_text()) for d in dirs]
    for r in recs[1:]:
        for k in ("data", "train_cases", "held_out_cases", "validation_cases", "samples"):
            if r[k] != recs[0][k]:
                sys.exit(f"members differ in {k}: {dirs[0]} and another")
    members = []
    for d, r in zip(dirs, recs):
        m = ShapeNet(r.get("widths", [16, 32, 64, 96]))  # records before --widths: 16-96
        m.load_state_dict(read_safetensors(d))
        members.append(m)
    model = Ensemble(members)
    names, data = load(work)
    _, val = split(names, held_out(a))
    base, corr, per_case = validation(model, names, data, val)
    keep = ("widths", "train_seed", "skullfix_repeat", "epochs", "batch", "lr", "augmentation", "device", "validation_region_l1_mm")
    record = {k: recs[0][k] for k in ("data", "train_cases", "held_out_cases", "validation_cases", "samples")}
    record["ensemble"] = "the mean of the members' corrections"
    # Records written before they named the training seed and the SkullFix repeat: seed 1, no repeat.
    record["members"] = [{k: r.get(k, {"train_seed": 1, "skullfix_repeat": 1}.get(k)) for k in keep} for r in recs]
    record["validation_region_l1_mm"] = {"fill": round(base, 4), "corrected": round(corr, 4)}
    record["validation_skullfix_l1_mm"] = per_case
    record["sample_names"] = recs[0]["sample_names"]
    record["member_histories"] = [r["history"] for r in recs]
    record["probe"] = probe(model)
    meta = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in record.items() if k not in ("member_histories", "sample_names")}
    write_safetensors(out, dict(model.state_dict()), meta)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(members)} members): validation region L1 {base:.4f} -> {corr:.4f} mm")


def stage_fixture(a):
    """A seeded, randomly initialised network (every layer non-zero) with its probe, for the
    Rust test of the forward pass (crates/ctplan-cranio/tests/data/shapenet_fixture.safetensors)."""
    torch.manual_seed(a.seed)
    model = ShapeNet(widths(a))
    nn.init.normal_(model.head.weight, std=0.1)
    nn.init.normal_(model.head.bias, std=0.1)
    p = probe(model)
    out = Path(a.out)
    write_safetensors(out, dict(model.state_dict()), {"probe": json.dumps(p), "seed": str(a.seed)})
    print(f"wrote {out}: {p}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["samples", "pack", "train", "export", "ensemble", "all", "fixture"])
    p.add_argument("--work", required=True, help="work folder (samples, checkpoint)")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "skullfix" / "training_set"))
    p.add_argument("--out", required=True, help="weights file (safetensors) to write")
    p.add_argument(
        "--per-style", default="3", help="injected defects per case and style; STYLE=N after a comma sets one style's"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--train-seeds", default="1,2,3", help="one network per seed (its initial weights and augmentation), averaged"
    )
    p.add_argument("--skullfix-repeat", type=int, default=4, help="times an epoch each SkullFix defect is seen")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=10.0, help="stop (resumable) after this long")
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="channel widths of the four encoder levels")
    p.add_argument("--members", default="", help="(ensemble) weights of the networks to average, comma-separated")
    p.add_argument("--hold-out", default="", help="cases (comma-separated) to train without, e.g. a split to check on")
    a = p.parse_args()
    Path(a.work).mkdir(parents=True, exist_ok=True)
    if a.stage in ("samples", "all"):
        stage_samples(a)
    if a.stage in ("train", "all"):
        stage_train(a)
    if a.stage in ("export", "all"):
        stage_export(a)
    if a.stage == "fixture":
        stage_fixture(a)
    if a.stage == "pack":
        stage_pack(a)
    if a.stage == "ensemble":
        stage_ensemble(a)


if __name__ == "__main__":
    main()
