"""Test helper for tests/torch-parity.test.ts: runs a generated PyTorch project on arrays the TypeScript side wrote
and writes back what it computed, for comparison with tdc's own runtime.

    python3 torch_parity.py BUILD_DIR WORK_DIR

WORK_DIR holds case.json ({stage, steps, lr}), x.npy (channels-last input), mask.npy, classes.npy, scene.npy and
the tdc checkpoint folder init/. Writes torch-seg.npy / torch-class.npy / torch-scene.npy (channels-last, eval
mode; the inputs stay untouched, so the helper can be rerun on WORK_DIR), terms.json
(every loss term on those outputs) and the checkpoint folder stepped/ (weights after `steps` optimizer steps in
training mode on the same batch, with the spec's optimizer as train.py makes it).
"""
import json
import os
import sys

import numpy as np
import torch

build, work = sys.argv[1], sys.argv[2]
sys.path.insert(0, build)
import checkpoint  # noqa: E402
import losses  # noqa: E402
import model as net  # noqa: E402
import train  # noqa: E402

torch.set_num_threads(1)
case = json.load(open(os.path.join(work, "case.json")))
m = net.build_model()
checkpoint.load_tdc_weights(m, checkpoint.load(os.path.join(work, "init"))["weights"], net.WEIGHT_MAP, "init")
x = torch.from_numpy(np.load(os.path.join(work, "x.npy")))
x = torch.movedim(x, -1, 1).contiguous()
b = {
    "mask": torch.from_numpy(np.load(os.path.join(work, "mask.npy")).astype(np.int64)),
    "classes": torch.from_numpy(np.load(os.path.join(work, "classes.npy"))),
    "scene": torch.from_numpy(np.load(os.path.join(work, "scene.npy"))),
}
m.eval()
with torch.no_grad():
    seg, cls, scene = m(x)
    o = {"seg": seg, "class": cls, "scene": scene}
    terms = {name: float(fn(o, b)) for name, fn in losses.TERMS.items()}
np.save(os.path.join(work, "torch-seg.npy"), torch.movedim(seg, 1, -1).contiguous().numpy())
np.save(os.path.join(work, "torch-class.npy"), cls.numpy())
np.save(os.path.join(work, "torch-scene.npy"), scene.numpy())
json.dump(terms, open(os.path.join(work, "terms.json"), "w"))

k = case["stage"]
stage = train.STAGES[k]
m.train()
opt = train.make_optimizer(torch, [p for p in m.parameters()])
for _ in range(case["steps"]):
    for g in opt.param_groups:
        g["lr"] = case["lr"]
    seg, cls, scene = m(x)
    o = {"seg": seg, "class": cls, "scene": scene}
    t = {name: losses.TERMS[name](o, b) for name in stage["terms"]}
    opt.zero_grad()
    losses.TOTALS[k](t).backward()
    opt.step()
checkpoint.save(os.path.join(work, "stepped"), checkpoint.state_dict_to_tdc(m, net.WEIGHT_MAP), None, {"steps": case["steps"]})
