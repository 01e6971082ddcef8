#!/usr/bin/env python3
"""Reference measurement (not a project dependency): the same DCGAN training step in PyTorch, on the CPU
or (--device cuda, the WebGPU comparison on the lent GPU machine) on an NVIDIA GPU.

Mirrors src/core/gan/models.ts + step.ts for a preset: G = dense → BN → ReLU → 5×5 stride-2 transposed
convs with BN + ReLU → tanh; D = 5×5 stride-2 convs (bias on the first, BN on the others) with
LeakyReLU(0.2) → dense. One step = fakes G(z), a D update on real and fake (separate BN batches), then
g_steps G updates on the same z; non-saturating sigmoid cross-entropy; Adam(2e-4, 0.5, 0.999).

    apt-get install -y python3-torch libopenblas0-pthread
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/bench-pytorch.py --threads 1
    /usr/bin/python3 scripts/bench-pytorch.py --threads 2 --json
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "anime-48": dict(image=48, base=3, k=5, z=100, g=[512, 256, 128, 64], d=[64, 128, 256, 512], g_steps=2),
    "dcgan-64": dict(image=64, base=4, k=4, z=100, g=[1024, 512, 256, 128], d=[128, 256, 512, 1024], g_steps=1),
    "tiny": dict(image=16, base=2, k=5, z=32, g=[64, 32, 16], d=[16, 32, 64], g_steps=1),
}


def same_pad(k):
    # TF 'same' with stride 2 on even sizes pads k-2 in all, (k-2)//2 before; PyTorch pads symmetrically,
    # so pad explicitly to get the same output sizes and FLOPs.
    return ((k - 2) // 2, k - 2 - (k - 2) // 2)


class Generator(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p
        c0 = p["g"][0]
        self.dense = nn.Linear(p["z"], p["base"] * p["base"] * c0, bias=False)
        self.bn = nn.ModuleList([nn.BatchNorm2d(c, eps=1e-5, momentum=0.1) for c in p["g"]])
        outs = p["g"][1:] + [3]
        k = p["k"]
        # Transposed conv doubling the size like TF 'same': kernel k, stride 2, output_padding to land on 2×.
        self.up = nn.ModuleList(
            [
                nn.ConvTranspose2d(cin, cout, k, stride=2, padding=(k - 1) // 2, output_padding=k % 2, bias=(i == len(outs) - 1))
                for i, (cin, cout) in enumerate(zip(p["g"], outs))
            ]
        )

    def forward(self, z):
        p = self.p
        x = self.dense(z).view(-1, p["g"][0], p["base"], p["base"])
        x = F.relu(self.bn[0](x))
        for i, up in enumerate(self.up):
            x = up(x)
            if i + 1 < len(self.up):
                x = F.relu(self.bn[i + 1](x))
        return torch.tanh(x)


class Discriminator(nn.Module):
    def __init__(self, p):
        super().__init__()
        k = p["k"]
        chans = [3] + p["d"]
        self.pad = same_pad(k)
        self.convs = nn.ModuleList(
            [nn.Conv2d(chans[i], chans[i + 1], k, stride=2, bias=(i == 0)) for i in range(len(p["d"]))]
        )
        self.bns = nn.ModuleList([nn.BatchNorm2d(c, eps=1e-5) for c in p["d"][1:]])
        final = p["image"] // 2 ** len(p["d"])
        self.out = nn.Linear(final * final * p["d"][-1], 1)

    def forward(self, x):
        a, b = self.pad
        for i, conv in enumerate(self.convs):
            x = conv(F.pad(x, (a, b, a, b)))
            if i > 0:
                x = self.bns[i - 1](x)
            x = F.leaky_relu(x, 0.2)
        return self.out(x.flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="anime-48", choices=PRESETS)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--g-steps", type=int, default=None, help="G updates per step (default: the preset's)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU reference")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = PRESETS[args.preset]
    g_steps = args.g_steps or p["g_steps"]
    dev = torch.device(args.device)
    G, D = Generator(p).to(dev), Discriminator(p).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = (torch.rand(args.batch, 3, p["image"], p["image"]) * 2 - 1).to(dev)
    z = torch.randn(args.batch, p["z"]).to(dev)
    ones, zeros = torch.ones(args.batch, 1, device=dev), torch.zeros(args.batch, 1, device=dev)

    def step():
        with torch.no_grad():
            fake = G(z)
        opt_d.zero_grad(set_to_none=True)
        loss_d = bce(D(real), ones) + bce(D(fake), zeros)
        loss_d.backward()
        opt_d.step()
        for _ in range(g_steps):
            opt_g.zero_grad(set_to_none=True)
            loss_g = bce(D(G(z)), ones)
            loss_g.backward()
            opt_g.step()

    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()  # the step is queued, not done, until the GPU finishes it
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1000
    row = dict(
        backend=f"pytorch-{dev.type} ({torch.__version__})",
        preset=args.preset,
        batch=args.batch,
        threads=args.threads,
        gStepsPerD=g_steps,
        imagesPerSec=args.batch * 1000 / ms,
        msPerStep=ms,
        stepMs=[t * 1000 for t in times],
    )
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['backend']} {args.preset} batch {args.batch}, {args.threads} thread(s), G steps {g_steps}: "
              f"{row['imagesPerSec']:.2f} images/s ({ms:.0f} ms/step, {min(times)*1000:.0f}–{max(times)*1000:.0f} ms)")


if __name__ == "__main__":
    main()
