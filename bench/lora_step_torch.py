"""The throughput bench's PyTorch anchor: one LoRA training step of a Llama-shaped model on the CPU, timed.

Run by bench/throughput.bench.ts with Debian's /usr/bin/python3 (python3-torch), not part of the project's code:
  /usr/bin/python3 bench/lora_step_torch.py '{"D":128,"L":4,"H":4,"KV":2,"I":352,"V":512,"B":4,"T":64,"r":8,"alpha":16}'
The step is Alloy's: CPT loss (mean next-token NLL over every position after the first), frozen f32 base with
tied embeddings, LoRA (PEFT init: A Kaiming-uniform, B zeros, scale alpha/r, no dropout) on q/k/v/o/gate/up/down,
backward, clip_grad_norm_(1.0), AdamW. Written out by hand (no transformers, no peft) so that only torch is needed;
torch 1.13 has no scaled_dot_product_attention, so attention is the plain masked softmax.
With "device": "cuda" the same step runs on the GPU in f32 (TF32 off, PyTorch's default for matmuls), synchronised
before each step's clock stops: the device check's anchor (bench/device/run-on-device.sh).
Prints one JSON line: {"tok_per_s", "step_s", "steps", "threads", "torch", "device"}.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
threads = int(cfg.get("threads", 2))
torch.set_num_threads(threads)
torch.manual_seed(0)
D, L, H, KV, I, V, B, T, r, alpha = (cfg[k] for k in ("D", "L", "H", "KV", "I", "V", "B", "T", "r", "alpha"))
hd = D // H
scale = alpha / r
warmup, steps = int(cfg.get("warmup", 2)), int(cfg.get("steps", 10))
dev = torch.device(cfg.get("device", "cpu"))
if dev.type != "cpu":  # torch ≥ 2.0 (the device's); Debian's 1.13 runs the CPU step only
    torch.set_default_device(dev)
torch.backends.cuda.matmul.allow_tf32 = False


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def base(out_f, in_f):
    return (torch.rand(out_f, in_f) * 2 - 1) / math.sqrt(in_f)


class Lora(torch.nn.Module):
    """y = x Wᵀ + scale · (x Aᵀ) Bᵀ with W frozen."""

    def __init__(self, out_f, in_f):
        super().__init__()
        self.w = torch.nn.Parameter(base(out_f, in_f), requires_grad=False)
        self.a = torch.nn.Parameter(torch.empty(r, in_f))
        torch.nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = torch.nn.Parameter(torch.zeros(out_f, r))

    def forward(self, x):
        return F.linear(x, self.w) + scale * F.linear(F.linear(x, self.a), self.b)


def rms(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
ang = torch.outer(torch.arange(T).float(), inv)
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)


def rope(x):  # [B, heads, T, hd], rotate-half (HF Llama)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1 = torch.nn.Parameter(torch.ones(D), requires_grad=False)
        self.n2 = torch.nn.Parameter(torch.ones(D), requires_grad=False)
        self.q, self.k, self.v, self.o = Lora(H * hd, D), Lora(KV * hd, D), Lora(KV * hd, D), Lora(D, H * hd)
        self.gate, self.up, self.down = Lora(I, D), Lora(I, D), Lora(D, I)

    def forward(self, x, mask):
        h = rms(x, self.n1)
        q = rope(self.q(h).view(B, T, H, hd).transpose(1, 2))
        k = rope(self.k(h).view(B, T, KV, hd).transpose(1, 2)).repeat_interleave(H // KV, 1)
        v = self.v(h).view(B, T, KV, hd).transpose(1, 2).repeat_interleave(H // KV, 1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        x = x + self.o((att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * hd))
        h = rms(x, self.n2)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Parameter(base(V, D), requires_grad=False)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        self.norm = torch.nn.Parameter(torch.ones(D), requires_grad=False)

    def forward(self, ids):
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = self.emb[ids]
        for layer in self.layers:
            x = layer(x, mask)
        logits = F.linear(rms(x, self.norm), self.emb)  # tied head
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))


model = Model()
params = [p for p in model.parameters() if p.requires_grad]
assert len(params) == L * 7 * 2, len(params)
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
ids = torch.tensor([[(b * 131 + t * 7919 + 13) % V for t in range(T)] for b in range(B)])

times = []
for i in range(warmup + steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = model(ids)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sync()
    if i >= warmup:
        times.append(time.perf_counter() - t0)
step = statistics.median(times)
print(json.dumps({"tok_per_s": B * T / step, "step_s": step, "steps": steps, "threads": threads, "torch": torch.__version__, "loss": loss.item(),
                  "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"}))
