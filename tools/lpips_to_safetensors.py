#!/usr/bin/env python3
"""lpips_to_safetensors.py -- make the LPIPS weight file that `trdi metrics --lpips-weights` and
trdi_lpips_load() read, from the usual PyTorch weight files. Run by users who have them; trdi
itself never downloads anything, and this script is not run by the test suite.

LPIPS (lpips 0.1.x, version 0.1) = a torchvision ImageNet backbone + small linear layers. The
output holds both, under the names of `lpips.LPIPS(net=NET).state_dict()`:

  net.slice<k>.<i>.<param>     backbone: torchvision `features.<i>.<param>` in lpips slice k
  lin<k>.model.1.weight        linear layer k, [1, C_k, 1, 1]
  scaling_layer.shift / .scale lpips' input normalisation constants, [1, 3, 1, 1]

Inputs (PyTorch pickles, read with torch.load on the CPU):

  --backbone FILE  the torchvision checkpoint torchvision downloads for lpips, e.g.
                   alexnet-owt-7be5be79.pth, squeezenet1_1-b8a52dc0.pth, vgg16-397923af.pth
                   (found in $TORCH_HOME/hub/checkpoints/, ~/.cache/torch/hub/checkpoints/);
                   an lpips / torchmetrics LPIPS state_dict works too (its backbone is used)
  --lin FILE       lpips' linear weights, lpips/weights/v0.1/<net>.pth in the lpips package
                   (identical to torchmetrics' functional/image/lpips_models/<net>.pth);
                   may be omitted when --backbone is a full LPIPS state_dict

Examples:
  python3 tools/lpips_to_safetensors.py --net squeeze \\
      --backbone ~/.cache/torch/hub/checkpoints/squeezenet1_1-b8a52dc0.pth \\
      --lin "$(python3 -c 'import lpips, os; print(os.path.dirname(lpips.__file__))')/weights/v0.1/squeeze.pth" \\
      -o lpips_squeeze.safetensors
  trdi metrics ref.png out.png --lpips-weights lpips_squeeze.safetensors --json

Needs torch (and numpy, which torch uses to export arrays); not the safetensors package. Tensors
are written as float32 unless --dtype f16 is given (halves the file; the weights then differ from
the originals by float16 rounding, so LPIPS values move slightly). The licences of the inputs
apply to the output (LPIPS linear weights: BSD-2-Clause; torchvision weights: see torchvision).
"""
import argparse
import json
import os
import struct
import sys

# torchvision `features` indices of each lpips slice (lpips/pretrained_networks.py) and, per
# feature index, the parameters it has.
SLICES = {
    "alex": [range(0, 2), range(2, 5), range(5, 8), range(8, 10), range(10, 12)],
    "squeeze": [range(0, 2), range(2, 5), range(5, 8), range(8, 10), range(10, 11), range(11, 12),
                range(12, 13)],
    "vgg": [range(0, 4), range(4, 9), range(9, 16), range(16, 23), range(23, 30)],
}
CONV_FEATURES = {
    "alex": [0, 3, 6, 8, 10],
    "squeeze": [0],
    "vgg": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
}
FIRE_FEATURES = {"alex": [], "squeeze": [3, 4, 6, 7, 9, 10, 11, 12], "vgg": []}
LIN_CHANNELS = {
    "alex": [64, 192, 384, 256, 256],
    "squeeze": [64, 128, 256, 384, 384, 512, 512],
    "vgg": [64, 128, 256, 512, 512],
}
SHIFT = [-0.030, -0.088, -0.188]
SCALE = [0.458, 0.448, 0.450]


def slice_of(net, feat):
    for k, r in enumerate(SLICES[net], start=1):
        if feat in r:
            return k
    raise ValueError("feature %d is not in any %s slice" % (feat, net))


def backbone_params(net):
    """(torchvision feature index, parameter suffix) of every backbone tensor lpips keeps."""
    out = []
    for i in CONV_FEATURES[net]:
        out += [(i, "weight"), (i, "bias")]
    for i in FIRE_FEATURES[net]:
        for part in ("squeeze", "expand1x1", "expand3x3"):
            out += [(i, part + ".weight"), (i, part + ".bias")]
    return out


def find_backbone_tensor(sd, net, feat, param):
    """The tensor of features.<feat>.<param> under the torchvision, lpips or torchmetrics name."""
    k = slice_of(net, feat)
    for name in ("features.%d.%s" % (feat, param), "net.slice%d.%d.%s" % (k, feat, param),
                 "net.slices.%d.%d.%s" % (k - 1, feat, param)):
        for prefix in ("", "module.", "net."):
            if prefix + name in sd:
                return sd[prefix + name]
    raise KeyError("backbone tensor features.%d.%s (lpips: net.slice%d.%d.%s) not found"
                   % (feat, param, k, feat, param))


def find_lin_tensor(sd, k):
    for name in ("lin%d.model.1.weight" % k, "lins.%d.model.1.weight" % k,
                 "net.lin%d.model.1.weight" % k):
        if name in sd:
            return sd[name]
    raise KeyError("linear layer lin%d.model.1.weight not found" % k)


def collect(net, backbone_sd, lin_sd):
    """[(name, tensor)] in lpips' state_dict naming, shapes checked."""
    entries = []
    for feat, param in backbone_params(net):
        t = find_backbone_tensor(backbone_sd, net, feat, param)
        entries.append(("net.slice%d.%d.%s" % (slice_of(net, feat), feat, param), t))
    for k, c in enumerate(LIN_CHANNELS[net]):
        t = find_lin_tensor(lin_sd, k)
        if list(t.shape) != [1, c, 1, 1]:
            raise ValueError("lin%d.model.1.weight has shape %s, expected [1, %d, 1, 1]"
                             % (k, list(t.shape), c))
        entries.append(("lin%d.model.1.weight" % k, t))
    return entries


def torch_to_bytes(t, dtype):
    import torch
    t = t.detach().to("cpu").contiguous()
    t = t.to(torch.float16 if dtype == "F16" else torch.float32)
    return t.numpy().astype("<f2" if dtype == "F16" else "<f4").tobytes()


def load_state_dict(path):
    import torch
    sd = torch.load(path, map_location="cpu")
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    return sd


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", required=True, choices=sorted(SLICES))
    ap.add_argument("--backbone", required=True, help="torchvision checkpoint or LPIPS state_dict")
    ap.add_argument("--lin", help="lpips weights/v0.1/<net>.pth (default: from --backbone)")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    import torch

    backbone = load_state_dict(args.backbone)
    lin = load_state_dict(args.lin) if args.lin else backbone
    entries = collect(args.net, backbone, lin)
    dtype = "F16" if args.dtype == "f16" else "F32"
    shift = torch.tensor(SHIFT, dtype=torch.float32).reshape(1, 3, 1, 1)
    scale = torch.tensor(SCALE, dtype=torch.float32).reshape(1, 3, 1, 1)
    rows = [(n, tuple(t.shape), t) for n, t in entries]
    rows += [("scaling_layer.shift", (1, 3, 1, 1), shift), ("scaling_layer.scale", (1, 3, 1, 1), scale)]
    meta = {"format": "pt", "lpips_net": args.net, "lpips_version": "0.1",
            "backbone_source": args.backbone.split("/")[-1],
            "lin_source": (args.lin or args.backbone).split("/")[-1]}
    write_safetensors(args.output, rows, dtype, meta, torch_to_bytes)
    print("wrote %s: LPIPS %s, %d tensors" % (args.output, args.net, len(rows)))
    return 0


def write_safetensors(path, rows, dtype, meta, to_bytes):
    """Standard safetensors: u64 little-endian header length, JSON header padded with spaces to a
    multiple of 8, then the data in header order. rows = [(name, shape, tensor)]; tensors are
    written as `dtype` ("F32"/"F16") except the scaling constants (always F32); to_bytes(t, dtype)
    gives the little-endian bytes. Written to PATH.tmp and renamed: no half-written file."""
    header = {"__metadata__": meta}
    blobs, offset = [], 0
    for name, shape, t in rows:
        dt = "F32" if name.startswith("scaling_layer.") else dtype
        data = to_bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
