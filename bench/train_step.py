#!/usr/bin/python3
"""The training step bench/train times, written in Python PyTorch: the same LLaMA (RMSNorm, RoPE as Hugging Face
rotates halves, GQA, SwiGLU, untied lm_head), the same shapes, AdamW with the same decay split, f32.
bench-train runs it with Debian's python3-torch and prints its tokens/s beside ours.
Usage: train_step.py dim n_layers n_heads n_kv_heads ffn_dim vocab seq_len batch threads steps"""
import math
import sys
import time

import torch
import torch.nn.functional as F

dim, n_layers, n_heads, n_kv, ffn, vocab, seq, batch, threads, steps = map(int, sys.argv[1:11])
torch.set_num_threads(threads)
torch.manual_seed(0)
hd = dim // n_heads


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.n1, self.n2 = RMSNorm(), RMSNorm()
        self.q, self.k, self.v, self.o = lin(dim, n_heads * hd), lin(dim, n_kv * hd), lin(dim, n_kv * hd), lin(n_heads * hd, dim)
        self.gate, self.up, self.down = lin(dim, ffn), lin(dim, ffn), lin(ffn, dim)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(B, T, n_heads, hd).transpose(1, 2)
        k = self.k(h).view(B, T, n_kv, hd).transpose(1, 2)
        v = self.v(h).view(B, T, n_kv, hd).transpose(1, 2)
        rot = lambda t: torch.cat([-t[..., hd // 2:], t[..., :hd // 2]], -1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        if n_kv != n_heads:
            k, v = k.repeat_interleave(n_heads // n_kv, 1), v.repeat_interleave(n_heads // n_kv, 1)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, dim))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.layers = torch.nn.ModuleList(Layer() for _ in range(n_layers))
        self.norm = RMSNorm()
        self.lm_head = torch.nn.Linear(dim, vocab, bias=False)
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        f = torch.outer(torch.arange(seq).float(), inv)
        emb = torch.cat([f, f], -1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.ones(seq, seq, dtype=torch.bool).tril()

    def forward(self, tokens):
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.lm_head(self.norm(x))


model = Llama()
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.95), eps=1e-7)
data = torch.randint(0, vocab, (batch, seq + 1))


def step():
    opt.zero_grad()
    logits = model(data[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), data[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    step()
seconds = time.perf_counter() - t0
print(f"torch {torch.__version__} tokens_per_s {batch * seq * steps / seconds:.1f}")
