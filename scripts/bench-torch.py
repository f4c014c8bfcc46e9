#!/usr/bin/env python3
"""PyTorch reference for `npm run bench`: builds the network described by `tdc explain --json` and times it.

    python3 scripts/bench-torch.py EXPLAIN.json [--batch 2] [--lr 0.001] [--steps 5] [--warmup 1] [--threads N] [--generated BUILD]

The architecture is read from the compiler IR in the explain output (every block: kind, inputs, kernel, dilation,
filters, padding, norm, activation, pooling, upsampling factor, dense units), never written down here, so the
reference is the same network tdc builds (its linear upsampling follows tdc's coordinate rule, see resize_linear,
not F.interpolate's). Layout is PyTorch's native NCHW / NCDHW. A train step is forward,
the same loss terms as the tdc bench (seg CE + (1 - soft IoU), class and scene BCE, sync BCE against the hard
presence of the segmentation), backward and one update by the spec's optimizer (torch.optim's SGD / Adam / AdamW,
the rules tdc's optimizers follow). Prints one JSON line with ms per image (medians).

With --generated BUILD (a `tdc build --target torch` folder of the same spec and overrides), the network and the loss
are the generated project's instead (model.py's Net; losses.py's terms and the last stage's total), timed by the
same harness: the bench's row for the generated code against this hand-built reference.
"""
import argparse
import functools
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def flat_layers(blocks):
    """Composite blocks (res-block, context-branch, aspp, seg-head, dense-head) in order, with their inner layers
    expanded; a composite's name stands for its `output` layer."""
    out, alias = [], {}
    for b in blocks:
        if "layers" in b:
            inner, inner_alias = flat_layers(b["layers"])
            out.extend(inner)
            alias.update(inner_alias)
            alias[b["name"]] = b["output"]
        else:
            out.append(b)
    return out, alias


@functools.lru_cache(maxsize=None)
def linear_weights(n_in, n_out):
    """[n_in, n_out] weights of a linear resize along one axis with tdc's coordinate rule (tf.image.resizeBilinear's:
    output o reads source o * n_in / n_out, the next source clamped at the edge, no half-pixel offset)."""
    src = torch.arange(n_out, dtype=torch.float64) * n_in / n_out
    lo = src.floor().long()
    hi = src.ceil().long().clamp(max=n_in - 1)
    frac = src - lo
    cols = torch.arange(n_out)
    w = torch.zeros(n_in, n_out, dtype=torch.float64)
    w.index_put_((lo, cols), 1 - frac, accumulate=True)
    w.index_put_((hi, cols), frac, accumulate=True)
    return w.float()


def resize_linear(x, size):
    """tdc's bi/trilinear resize, which F.interpolate cannot express (align_corners=False adds the half-pixel
    offset, align_corners=True maps corner to corner): one product with linear_weights per resized axis."""
    for dim, n_out in enumerate(size, start=2):
        if x.shape[dim] != n_out:
            x = torch.matmul(x.movedim(dim, -1), linear_weights(x.shape[dim], n_out)).movedim(-1, dim)
    return x


class IRNet(nn.Module):
    def __init__(self, ir):
        super().__init__()
        self.dims = ir["dims"]
        self.layers, self.alias = flat_layers(ir["blocks"])
        self.outputs = ir["outputs"]
        self.mods = nn.ModuleDict()
        channels = {}
        for b in self.layers:
            name, kind = b["name"], b["kind"]
            ins = [self.resolve(i) for i in b["inputs"]]
            if kind in ("conv", "atrous-conv"):
                cin = channels[ins[0]]
                conv_cls = nn.Conv2d if self.dims == 2 else nn.Conv3d
                pad = "same" if b["padding"] == "same" else 0
                mods = [conv_cls(cin, b["filters"], tuple(b["kernel"]), padding=pad, dilation=tuple(b["dilation"]), bias=b["useBias"])]
                if b["norm"] == "batch":
                    mods.append((nn.BatchNorm2d if self.dims == 2 else nn.BatchNorm3d)(b["filters"]))
                elif b["norm"] != "none":
                    raise SystemExit(f"bench-torch: norm '{b['norm']}' is not mapped")
                if b["activation"] == "relu":
                    mods.append(nn.ReLU(inplace=False))
                self.mods[name] = nn.Sequential(*mods)
            elif kind == "dense":
                self.mods[name] = nn.Linear(channels[ins[0]], b["units"])
            channels[name] = b["outShape"][-1]

    def resolve(self, name):
        while name in self.alias:
            name = self.alias[name]
        return name

    def forward(self, x):
        v = {}
        for b in self.layers:
            name, kind = b["name"], b["kind"]
            ins = [v[self.resolve(i)] for i in b["inputs"]]
            if kind == "input":
                y = x
            elif kind in ("conv", "atrous-conv"):
                y = self.mods[name](ins[0])
            elif kind == "maxpool":
                pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
                y = pool(ins[0], tuple(b["pool"]), tuple(b["strides"]))
            elif kind == "add":
                y = ins[0]
                for t in ins[1:]:
                    y = y + t
            elif kind == "concat":
                y = torch.cat(ins, dim=1)
            elif kind == "global-avg-pool":
                y = ins[0].mean(dim=tuple(range(2, ins[0].dim())), keepdim=len(b["outShape"]) > 1)
            elif kind == "broadcast":
                y = ins[0].expand(-1, -1, *ins[1].shape[2:])
            elif kind == "dense":
                y = self.mods[name](ins[0])
                if b["activation"] == "relu":
                    y = F.relu(y)
            elif kind == "dropout":
                y = F.dropout(ins[0], b["rate"], self.training)
            elif kind == "upsample":
                size = tuple(b["outShape"][:-1])
                if b["method"] == "nearest":
                    y = F.interpolate(ins[0], size=size, mode="nearest")
                else:
                    y = resize_linear(ins[0], size)
            else:
                raise SystemExit(f"bench-torch: IR block kind '{kind}' is not mapped")
            v[name] = y
        return [v[self.resolve(self.outputs[k])] for k in ("seg", "class", "scene")]


def loss_of(seg, cls, scene, labels, cls_t, scene_t):
    k = seg.shape[1]
    ce = F.cross_entropy(seg, labels)
    p = seg.softmax(1)
    y = F.one_hot(labels, k).movedim(-1, 1).float()
    dims = [0] + list(range(2, seg.dim()))
    inter = (p * y).sum(dims)
    union = p.sum(dims) + y.sum(dims) - inter
    iou = ((inter + 1) / (union + 1)).mean()
    present = (F.one_hot(seg.argmax(1), k).flatten(1, -2).amax(1) > 0).float()
    return (ce + (1 - iou) + F.binary_cross_entropy_with_logits(cls, cls_t) + F.binary_cross_entropy_with_logits(scene, scene_t)
            + F.binary_cross_entropy_with_logits(cls, present.detach()))


def spec_optimizer(params, o, lr):
    """The spec's optimizer (`optimizer:` in the explain output's spec) as torch.optim runs it: tdc's Sgd and Adam
    (runtime/train/optimizers.ts) follow these rules, and the tdc bench steps with them at the same learning rate."""
    wd = o.get("weightDecay", 0)
    if o["type"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=o.get("momentum", 0), nesterov=o.get("nesterov", False), weight_decay=wd)
    adam = torch.optim.AdamW if o.get("weightDecayMode") == "decoupled" else torch.optim.Adam
    return adam(params, lr=lr, betas=(o["beta1"], o["beta2"]), eps=o["epsilon"], weight_decay=wd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("explain")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--only", choices=["fwd", "train"], default=None, help="time one phase only")
    ap.add_argument("--generated", default=None, help="time the network and loss of this tdc build --target torch folder")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    with open(a.explain) as f:
        doc = json.load(f)
    ir = doc["ir"]
    torch.manual_seed(0)
    if a.generated:
        sys.path.insert(0, a.generated)
        import losses as gen_losses
        import model as gen_model

        net = gen_model.build_model()
    else:
        net = IRNet(ir)
    shape = ir["inputShape"]  # channels last, without batch
    x = torch.rand(a.batch, shape[-1], *shape[:-1]) * 2 - 1
    k = len(doc["spec"]["task"]["classes"])
    s = len(doc["spec"]["task"]["scenes"])
    labels = torch.randint(0, k, (a.batch, *shape[:-1]))
    cls_t = (torch.rand(a.batch, k) > 0.5).float()
    scene_t = F.one_hot(torch.randint(0, s, (a.batch,)), s).float()
    opt = spec_optimizer(net.parameters(), doc["spec"]["optimizer"], a.lr)

    def forward():
        net.eval()
        with torch.no_grad():
            net(x)

    def train_step():
        net.train()
        opt.zero_grad(set_to_none=True)
        seg, cls, scene = net(x)
        if a.generated:
            o, b = {"seg": seg, "class": cls, "scene": scene}, {"mask": labels, "classes": cls_t, "scene": scene_t}
            loss = gen_losses.TOTALS[-1]({n: f(o, b) for n, f in gen_losses.TERMS.items()})
        else:
            loss = loss_of(seg, cls, scene, labels, cls_t, scene_t)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise SystemExit("bench-torch: the loss is not finite")

    def timed(f):
        for _ in range(a.warmup):
            f()
        ms = []
        for _ in range(a.steps):
            t = time.perf_counter()
            f()
            ms.append((time.perf_counter() - t) * 1000)
        return statistics.median(ms) / a.batch

    fwd = timed(forward) if a.only != "train" else float("nan")
    train = timed(train_step) if a.only != "fwd" else float("nan")
    print(json.dumps({"fwdMs": None if fwd != fwd else fwd, "trainMs": None if train != train else train, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "params": sum(p.numel() for p in net.parameters())}))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
