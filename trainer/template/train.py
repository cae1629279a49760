"""
Pretraining script of this workspace: a small GPT, single device, single file.
In the style of nanochat / autoresearch: the file the research agents edit.

Trains for the fixed budget of prepare.py: TOKEN_BUDGET tokens (the same work on an
idle or a loaded machine: a seed gives the same value bit for bit) or, if that is 0,
TIME_BUDGET seconds of training (startup and compilation excluded). Then scores the
model with prepare.evaluate_bpb and prints a summary block; the search reads its
`val_bpb:` line.

Usage: python train.py
Environment: AR_SEED (random seed, default 42), OMP_NUM_THREADS (CPU threads, unless
prepare.CPU_THREADS fixes them).
"""

import contextlib
import gc
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from prepare import (
    CPU_THREADS,
    MAX_SEQ_LEN,
    TIME_BUDGET,
    TOKEN_BUDGET,
    VOCAB,
    evaluate_bpb,
    make_dataloader,
    zlib_bpb,
)

os.environ.setdefault("PYTORCH_ALLOC_CONF", "expandable_segments:True")  # before CUDA starts

# ---------------------------------------------------------------------------
# Hyperparameters (edit these directly, no CLI flags needed)
# ---------------------------------------------------------------------------

# Model architecture
DEPTH = 4  # number of transformer layers
ASPECT_RATIO = 32  # model_dim = DEPTH * ASPECT_RATIO, rounded up to a multiple of HEAD_DIM
HEAD_DIM = 32  # target head dimension for attention
MLP_RATIO = 4  # hidden width of the MLP, in multiples of model_dim
WINDOW_PATTERN = "SSSL"  # attention windows per layer, cycled: L=full context, S=short
SHORT_WINDOW_FRAC = 0.5  # an S layer sees this fraction of the context
VALUE_EMBEDS = True  # value embeddings (ResFormer) on alternating layers
LOGIT_SOFTCAP = 15.0  # logits = cap * tanh(logits / cap)
ROPE_BASE = 10000.0  # rotary embedding base frequency
FLEX_ATTENTION = True  # CUDA only: short windows via flex_attention (else an SDPA mask)

# Optimization
TOTAL_BATCH_SIZE = 2048  # tokens per optimizer step (gradient accumulation fills it)
DEVICE_BATCH_SIZE = 8  # rows per forward/backward pass (reduce if out of memory)
EMBEDDING_LR = 0.6  # learning rate of the token and value embeddings (AdamW)
UNEMBEDDING_LR = 0.008  # learning rate of lm_head (AdamW)
MATRIX_LR = 0.08  # learning rate of the 2-D matrices in the blocks (Muon)
SCALAR_LR = 0.5  # learning rate of the per-layer scalars (AdamW)
WEIGHT_DECAY = 0.2  # cautious weight decay of Muon, decayed linearly to 0
ADAM_BETA1 = 0.8
ADAM_BETA2 = 0.95
MUON_MOMENTUM = 0.95  # reached after MUON_MOMENTUM_STEPS, from 0.85
MUON_MOMENTUM_STEPS = 300
WARMUP_RATIO = 0.0  # fraction of the budget spent warming the LR up
WARMDOWN_RATIO = 0.5  # fraction of the budget spent decaying the LR
FINAL_LR_FRAC = 0.0  # final LR as a fraction of the initial LR

# ---------------------------------------------------------------------------
# GPT model
# ---------------------------------------------------------------------------


@dataclass
class GPTConfig:
    sequence_len: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    window_pattern: str


def norm(x):
    # RMSNorm without a learned scale: x / sqrt(mean(x^2) + eps)
    return F.rms_norm(x, (x.size(-1),))


def has_ve(layer_idx, n_layer):
    """Value embeddings on alternating layers, the last one always included."""
    return VALUE_EMBEDS and layer_idx % 2 == (n_layer - 1) % 2


def apply_rotary_emb(x, cos, sin):
    # RoPE: rotate each pair (x1_i, x2_i) of channels by the angle t * inv_freq_i
    # of position t, so q.k depends only on the relative position of q and k.
    d = x.shape[-1] // 2
    x1, x2 = x[..., :d], x[..., d:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)


def sliding_window_mask(seq_len, window, device):
    """Boolean (T, T) mask: query i sees keys j with i - window < j <= i."""
    i = torch.arange(seq_len, device=device)
    delta = i[:, None] - i[None, :]
    return (delta >= 0) & (delta < window)


class CausalSelfAttention(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_q = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_k = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_v = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.ve_gate_channels = min(32, config.n_embd)
        use_ve = has_ve(layer_idx, config.n_layer)
        self.ve_gate = nn.Linear(self.ve_gate_channels, self.n_head, bias=False) if use_ve else None

    def forward(self, x, ve, cos_sin, window):
        B, T, C = x.size()
        q = self.c_q(x).view(B, T, self.n_head, self.head_dim)
        k = self.c_k(x).view(B, T, self.n_head, self.head_dim)
        v = self.c_v(x).view(B, T, self.n_head, self.head_dim)

        # Value residual (ResFormer): add the token's value embedding, gated per head
        # by 2 * sigmoid(.) of the first channels (gate weights start at 0 -> gate 1).
        if ve is not None:
            gate = 2 * torch.sigmoid(self.ve_gate(x[..., : self.ve_gate_channels]))
            v = v + gate.unsqueeze(-1) * ve.view(B, T, self.n_head, self.head_dim).to(v.dtype)

        cos, sin = cos_sin
        q = apply_rotary_emb(q, cos.to(q.dtype), sin.to(q.dtype))
        k = apply_rotary_emb(k, cos.to(k.dtype), sin.to(k.dtype))
        q, k = norm(q).to(v.dtype), norm(k).to(v.dtype)  # QK-norm keeps logits bounded

        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        y = attend(q, k, v, window)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


def attend(q, k, v, window):
    """Causal attention over the last `window` keys (window=None: full context)."""
    if window is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if isinstance(window, torch.Tensor):  # a boolean (T, T) mask
        return F.scaled_dot_product_attention(q, k, v, attn_mask=window)
    return flex_attention(q, k, v, block_mask=window)  # a flex BlockMask (CUDA)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, MLP_RATIO * config.n_embd, bias=False)
        self.c_proj = nn.Linear(MLP_RATIO * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        return self.c_proj(F.relu(self.c_fc(x)).square())  # ReLU^2


class Block(nn.Module):
    def __init__(self, config, layer_idx):
        super().__init__()
        self.attn = CausalSelfAttention(config, layer_idx)
        self.mlp = MLP(config)

    def forward(self, x, ve, cos_sin, window):
        x = x + self.attn(norm(x), ve, cos_sin, window)
        x = x + self.mlp(norm(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.window_sizes = self._compute_window_sizes(config)
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "h": nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Per-layer scalars: x <- resid_lambda * x + x0_lambda * x0 before each block
        self.resid_lambdas = nn.Parameter(torch.ones(config.n_layer))
        self.x0_lambdas = nn.Parameter(torch.zeros(config.n_layer))
        self.value_embeds = nn.ModuleDict(
            {
                str(i): nn.Embedding(config.vocab_size, config.n_embd)
                for i in range(config.n_layer)
                if has_ve(i, config.n_layer)
            }
        )
        self.windows = [None] * config.n_layer  # set by prepare_attention()

    @torch.no_grad()
    def init_weights(self):
        torch.nn.init.normal_(self.transformer.wte.weight, mean=0.0, std=1.0)
        torch.nn.init.normal_(self.lm_head.weight, mean=0.0, std=0.001)
        # Uniform with the std of 1/sqrt(fan_in); output projections start at zero,
        # so every block starts as the identity on the residual stream.
        s = 3**0.5 * self.config.n_embd**-0.5
        for block in self.transformer.h:
            for w in (block.attn.c_q, block.attn.c_k, block.attn.c_v, block.mlp.c_fc):
                torch.nn.init.uniform_(w.weight, -s, s)
            torch.nn.init.zeros_(block.attn.c_proj.weight)
            torch.nn.init.zeros_(block.mlp.c_proj.weight)
            if block.attn.ve_gate is not None:
                torch.nn.init.zeros_(block.attn.ve_gate.weight)
        self.resid_lambdas.fill_(1.0)
        self.x0_lambdas.fill_(0.1)
        for ve in self.value_embeds.values():
            torch.nn.init.uniform_(ve.weight, -s, s)
        head_dim = self.config.n_embd // self.config.n_head
        cos, sin = precompute_rotary(self.config.sequence_len, head_dim, self.lm_head.weight.device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _compute_window_sizes(self, config):
        """Window length of each layer from the pattern; the last layer is always L."""
        pattern = config.window_pattern.upper()
        assert pattern and all(c in "SL" for c in pattern), f"bad WINDOW_PATTERN {pattern!r}"
        long_window = config.sequence_len
        short_window = max(1, int(long_window * SHORT_WINDOW_FRAC))
        sizes = [
            short_window if pattern[i % len(pattern)] == "S" else long_window
            for i in range(config.n_layer)
        ]
        sizes[-1] = long_window
        return sizes

    def prepare_attention(self, device, use_flex):
        """One mask per distinct short window, built once (full windows need none)."""
        T = self.config.sequence_len
        masks = {}
        for w in set(self.window_sizes):
            if w >= T:
                masks[w] = None
            elif use_flex:
                masks[w] = create_block_mask(
                    lambda b, h, q, kv, w=w: (q >= kv) & (q - kv < w),
                    None,
                    None,
                    T,
                    T,
                    device=device,
                )
            else:
                masks[w] = sliding_window_mask(T, w, device)
        self.windows = [masks[w] for w in self.window_sizes]

    def estimate_flops(self):
        """FLOPs per token (forward + backward): 6 per matrix weight + attention."""
        nparams = sum(p.numel() for p in self.parameters())
        embeds = self.transformer.wte.weight.numel() + sum(
            ve.weight.numel() for ve in self.value_embeds.values()
        )
        scalars = self.resid_lambdas.numel() + self.x0_lambdas.numel()
        h = self.config.n_head
        d = self.config.n_embd // h
        attn = sum(12 * h * d * min(w, self.config.sequence_len) for w in self.window_sizes)
        return 6 * (nparams - embeds - scalars) + attn

    def setup_optimizer(self):
        model_dim = self.config.n_embd
        matrix_params = list(self.transformer.h.parameters())
        # AdamW learning rates were tuned at model_dim 768: scale them by 1/sqrt(dim/768)
        scale = (model_dim / 768) ** -0.5
        betas = (ADAM_BETA1, ADAM_BETA2)
        adamw = dict(kind="adamw", betas=betas, eps=1e-10, weight_decay=0.0)
        groups = [
            dict(adamw, params=list(self.lm_head.parameters()), lr=UNEMBEDDING_LR * scale),
            dict(adamw, params=list(self.transformer.wte.parameters()), lr=EMBEDDING_LR * scale),
            dict(adamw, params=list(self.value_embeds.parameters()), lr=EMBEDDING_LR * scale),
            dict(adamw, params=[self.resid_lambdas], lr=SCALAR_LR * 0.01),
            dict(adamw, params=[self.x0_lambdas], lr=SCALAR_LR, betas=(0.96, 0.95)),
        ]
        # Muon steps all matrices of one shape together (stacked): group them by shape
        for shape in sorted({p.shape for p in matrix_params}):
            params = [p for p in matrix_params if p.shape == shape]
            groups.append(
                dict(
                    kind="muon",
                    params=params,
                    lr=MATRIX_LR,
                    momentum=MUON_MOMENTUM,
                    ns_steps=5,
                    beta2=0.95,
                    weight_decay=WEIGHT_DECAY,
                )
            )
        groups = [g for g in groups if g["params"]]
        optimizer = MuonAdamW(groups)
        for group in optimizer.param_groups:
            group["initial_lr"] = group["lr"]
        return optimizer

    def forward(self, idx, targets=None, reduction="mean"):
        T = idx.size(1)
        cos_sin = self.cos[:, :T], self.sin[:, :T]
        x = norm(self.transformer.wte(idx))
        x0 = x
        for i, block in enumerate(self.transformer.h):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            ve = self.value_embeds[str(i)](idx) if str(i) in self.value_embeds else None
            x = block(x, ve, cos_sin, self.windows[i])
        x = norm(x)
        logits = self.lm_head(x).float()
        # Logit soft-cap: a smooth clamp to (-cap, cap) that keeps training stable
        logits = LOGIT_SOFTCAP * torch.tanh(logits / LOGIT_SOFTCAP)
        if targets is None:
            return logits
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)),
            targets.reshape(-1),
            ignore_index=-1,
            reduction=reduction,
        )


def precompute_rotary(seq_len, head_dim, device):
    """cos/sin of t * base^(-2i/head_dim), shaped (1, T, 1, head_dim/2)."""
    channels = torch.arange(0, head_dim, 2, dtype=torch.float32, device=device)
    inv_freq = 1.0 / (ROPE_BASE ** (channels / head_dim))
    t = torch.arange(seq_len, dtype=torch.float32, device=device)
    freqs = torch.outer(t, inv_freq)
    return freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]


# ---------------------------------------------------------------------------
# Optimizer: Muon for 2-D matrices, AdamW for everything else
# ---------------------------------------------------------------------------

# Polar Express coefficients: each step X <- a X + b (X X^T) X + c (X X^T)^2 X pushes
# every singular value of X towards 1, so 5 steps approximate the orthogonal
# polar factor U V^T of the update G = U S V^T (what Muon applies).
POLAR_EXPRESS_COEFFS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]


def adamw_step(p, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, wd):
    # Decoupled weight decay, then Adam with bias-corrected first/second moments:
    # p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    p.mul_(1 - lr * wd)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.lerp_(grad.square(), 1 - beta2)
    bias1 = 1 - beta1**step
    bias2 = 1 - beta2**step
    denom = (exp_avg_sq / bias2).sqrt() + eps
    p.add_(exp_avg / denom * (-lr / bias1))


def muon_step(
    grads,
    params,
    momentum_buffer,
    second_momentum_buffer,
    momentum,
    lr,
    wd,
    beta2,
    ns_steps,
    red_dim,
):
    # Nesterov momentum: g = lerp(grad, m, momentum) with m = lerp(m, grad, 1 - momentum)
    momentum_buffer.lerp_(grads, 1 - momentum)
    g = grads.lerp_(momentum_buffer, momentum)
    # Orthogonalize: normalize (spectral norm <= Frobenius norm <= 1), then Polar Express.
    # bf16 on CUDA (fast, precise enough), float32 elsewhere.
    X = g.bfloat16() if g.is_cuda else g.float()
    X = X / (X.norm(dim=(-2, -1), keepdim=True) * 1.02 + 1e-6)
    tall = g.size(-2) > g.size(-1)
    for a, b, c in POLAR_EXPRESS_COEFFS[:ns_steps]:
        if tall:  # work with the smaller Gram matrix
            A = X.mT @ X
            X = a * X + X @ (b * A + c * (A @ A))
        else:
            A = X @ X.mT
            X = a * X + (b * A + c * (A @ A)) @ X
    g = X
    # NorMuon: normalize each row (or column) by a running RMS of its update, then
    # rescale so the update's overall norm is unchanged.
    v_mean = g.float().square().mean(dim=red_dim, keepdim=True)
    red_size = g.size(red_dim)
    v_norm = (v_mean.sum(dim=(-2, -1), keepdim=True) * red_size).sqrt()
    second_momentum_buffer.lerp_(v_mean.to(second_momentum_buffer.dtype), 1 - beta2)
    step_size = second_momentum_buffer.clamp_min(1e-10).rsqrt()
    v_norm_new = (
        ((v_mean * red_size) * step_size.float().square()).sum(dim=(-2, -1), keepdim=True).sqrt()
    )
    g = g * (step_size * (v_norm / v_norm_new.clamp_min(1e-10))).to(g.dtype)
    # Cautious weight decay: decay only where the update and the weight agree in sign
    mask = (g * params) >= 0
    params.sub_((lr * g + lr * wd * params * mask).to(params.dtype))


class MuonAdamW(torch.optim.Optimizer):
    """One optimizer over param groups of kind "muon" (2-D matrices) or "adamw"."""

    def __init__(self, param_groups):
        super().__init__(param_groups, defaults={})

    def _step_adamw(self, group):
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            beta1, beta2 = group["betas"]
            args = (state["step"], group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
            adamw_step_impl(
                p, p.grad, state["exp_avg"], state["exp_avg_sq"], *(_scalar(a) for a in args)
            )

    def _step_muon(self, group):
        params = group["params"]
        state = self.state[params[0]]
        shape = params[0].shape
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros(
                len(params), *shape, dtype=params[0].dtype, device=params[0].device
            )
            tall = shape[-2] >= shape[-1]
            second_shape = (len(params), shape[-2], 1) if tall else (len(params), 1, shape[-1])
            state["second_momentum_buffer"] = torch.zeros(
                second_shape, dtype=params[0].dtype, device=params[0].device
            )
        red_dim = -1 if shape[-2] >= shape[-1] else -2
        grads = torch.stack([p.grad for p in params])
        stacked = torch.stack(params)
        lr = group["lr"] * max(1.0, shape[-2] / shape[-1]) ** 0.5  # taller matrices step more
        muon_step_impl(
            grads, stacked, state["momentum_buffer"], state["second_momentum_buffer"],
            _scalar(group["momentum"]), _scalar(lr), _scalar(group["weight_decay"]),
            _scalar(group["beta2"]), group["ns_steps"], red_dim,
        )  # fmt: skip
        torch._foreach_copy_(params, list(stacked.unbind(0)))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            if group["kind"] == "adamw":
                self._step_adamw(group)
            else:
                self._step_muon(group)


def _scalar(value):
    # Compiled steps take 0-D CPU tensors, so changing a value does not recompile.
    return torch.tensor(float(value)) if COMPILE else float(value)


# ---------------------------------------------------------------------------
# Setup: device, model, optimizer, data
# ---------------------------------------------------------------------------

t_start = time.time()
SEED = int(os.environ.get("AR_SEED", "42"))
random.seed(SEED)
torch.manual_seed(SEED)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
threads = CPU_THREADS or int(os.environ.get("OMP_NUM_THREADS") or 0)
if device.type == "cpu" and threads > 0:
    torch.set_num_threads(threads)  # a CPU's sums may depend on how they are split
if device.type == "cpu":
    torch.use_deterministic_algorithms(True)
COMPILE = device.type == "cuda"  # torch.compile and bf16 autocast on CUDA only
if COMPILE:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    flex_attention = torch.compile(flex_attention, dynamic=False)
    torch.cuda.manual_seed(SEED)
    torch.set_float32_matmul_precision("high")
    autocast_ctx = torch.amp.autocast(device_type="cuda", dtype=torch.bfloat16)
    adamw_step_impl = torch.compile(adamw_step, dynamic=False, fullgraph=True)
    muon_step_impl = torch.compile(muon_step, dynamic=False, fullgraph=True)
else:
    autocast_ctx = contextlib.nullcontext()
    adamw_step_impl, muon_step_impl = adamw_step, muon_step


def peak_flops(dev):
    """Dense bf16 peak of the GPU, for MFU (None: unknown, e.g. a CPU)."""
    if dev.type != "cuda":
        return None
    name = torch.cuda.get_device_name(dev)
    table = {
        "H100": 989.5e12,
        "H200": 989.5e12,
        "H800": 989.5e12,
        "GH200": 989.5e12,
        "B200": 2250e12,
        "A100": 312e12,
        "A800": 312e12,
        "L40S": 362e12,
        "A10G": 70e12,
        "L4": 121e12,
        "4090": 165e12,
    }
    for key, flops in table.items():
        if key in name:
            return flops
    return 989.5e12  # unknown GPU: report MFU against an H100


def build_model_config(depth):
    base_dim = depth * ASPECT_RATIO
    model_dim = max(HEAD_DIM, (base_dim + HEAD_DIM - 1) // HEAD_DIM * HEAD_DIM)
    return GPTConfig(
        sequence_len=MAX_SEQ_LEN, vocab_size=VOCAB, n_layer=depth,
        n_head=model_dim // HEAD_DIM, n_embd=model_dim, window_pattern=WINDOW_PATTERN,
    )  # fmt: skip


config = build_model_config(DEPTH)
print(f"Device: {device} | threads: {torch.get_num_threads()} | seed: {SEED}")
print(f"Model config: {asdict(config)}")

with torch.device("meta"):
    model = GPT(config)
model.to_empty(device=device)
model.init_weights()
model.prepare_attention(device, use_flex=COMPILE and FLEX_ATTENTION)

num_params = sum(p.numel() for p in model.parameters())
num_flops_per_token = model.estimate_flops()
print(f"Parameters: {num_params:,} | FLOPs per token: {num_flops_per_token:e}")

# A step of TOTAL_BATCH_SIZE tokens = grad_accum_steps passes of device_batch_size rows
device_batch_size = max(1, min(DEVICE_BATCH_SIZE, TOTAL_BATCH_SIZE // MAX_SEQ_LEN))
tokens_per_fwdbwd = device_batch_size * MAX_SEQ_LEN
grad_accum_steps = max(1, TOTAL_BATCH_SIZE // tokens_per_fwdbwd)
tokens_per_step = grad_accum_steps * tokens_per_fwdbwd
optimizer = model.setup_optimizer()
train_model = torch.compile(model, dynamic=False) if COMPILE else model

train_loader = make_dataloader(device_batch_size, MAX_SEQ_LEN, "train", device, seed=SEED)
x, y, epoch = next(train_loader)  # prefetch the first batch
gpu_peak = peak_flops(device)
budget = f"{TOKEN_BUDGET:,} tokens" if TOKEN_BUDGET else f"{TIME_BUDGET}s"
print(
    f"Budget: {budget} | tokens per step: {tokens_per_step:,} | grad accum steps: {grad_accum_steps}"
)
print(f"zlib -9 on the evaluation text: {zlib_bpb(device_batch_size):.4f} bpb (a bar to beat)")


def get_progress(tokens, seconds):
    """Fraction of the budget spent: tokens seen / TOKEN_BUDGET, or seconds / TIME_BUDGET."""
    return min(tokens / TOKEN_BUDGET if TOKEN_BUDGET else seconds / TIME_BUDGET, 1.0)


# Schedules, all functions of progress (0 -> 1 over the budget)
def get_lr_multiplier(progress):
    if progress < WARMUP_RATIO:
        return progress / WARMUP_RATIO
    if progress < 1.0 - WARMDOWN_RATIO or WARMDOWN_RATIO <= 0:
        return 1.0
    cooldown = (1.0 - progress) / WARMDOWN_RATIO  # 1 -> 0 over the warmdown
    return cooldown + (1 - cooldown) * FINAL_LR_FRAC


def get_muon_momentum(step):
    frac = min(step / MUON_MOMENTUM_STEPS, 1)
    return (1 - frac) * 0.85 + frac * MUON_MOMENTUM


def get_weight_decay(progress):
    return WEIGHT_DECAY * (1 - progress)


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------

untimed_steps = 10 if COMPILE else 1  # the first steps compile/warm up: not timed
line_end = "\r" if sys.stdout.isatty() else "\n"
t_start_training = time.time()
smooth_train_loss = 0.0
total_training_time = 0.0
step = 0

while True:
    sync()
    t0 = time.time()
    for _ in range(grad_accum_steps):
        with autocast_ctx:
            loss = train_model(x, y)
        train_loss = loss.detach()
        (loss / grad_accum_steps).backward()
        x, y, epoch = next(train_loader)

    progress = get_progress(step * tokens_per_step, total_training_time)
    lrm = get_lr_multiplier(progress)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * lrm
        if group["kind"] == "muon":
            group["momentum"] = get_muon_momentum(step)
            group["weight_decay"] = get_weight_decay(progress)
    optimizer.step()
    model.zero_grad(set_to_none=True)

    train_loss_f = train_loss.item()
    if math.isnan(train_loss_f) or train_loss_f > 100:  # fail fast on divergence
        print("FAIL")
        sys.exit(1)

    sync()
    dt = time.time() - t0
    if step >= untimed_steps:
        total_training_time += dt

    ema_beta = 0.9
    smooth_train_loss = ema_beta * smooth_train_loss + (1 - ema_beta) * train_loss_f
    debiased_loss = smooth_train_loss / (1 - ema_beta ** (step + 1))
    tok_per_sec = int(tokens_per_step / dt)
    mfu = 100 * num_flops_per_token * tokens_per_step / dt / gpu_peak if gpu_peak else 0.0
    if TOKEN_BUDGET:  # seconds left at the pace so far
        done = get_progress((step + 1) * tokens_per_step, total_training_time)
        remaining = total_training_time * (1 / done - 1)
    else:
        remaining = max(0.0, TIME_BUDGET - total_training_time)
    print(
        f"step {step:05d} ({100 * progress:.1f}%) | loss: {debiased_loss:.6f} | lrm: {lrm:.2f} | "
        f"dt: {dt * 1000:.0f}ms | tok/sec: {tok_per_sec:,} | mfu: {mfu:.1f}% | epoch: {epoch} | "
        f"remaining: {remaining:.0f}s",
        end=line_end,
        flush=True,
    )

    # Python's GC causes long stalls: collect once, then freeze what survives
    if step == 0:
        gc.collect()
        gc.freeze()
        gc.disable()
    elif (step + 1) % 5000 == 0:
        gc.collect()

    step += 1
    if TOKEN_BUDGET and step * tokens_per_step >= TOKEN_BUDGET:
        break
    if not TOKEN_BUDGET and step > untimed_steps and total_training_time >= TIME_BUDGET:
        break

if line_end == "\r":
    print()

# ---------------------------------------------------------------------------
# Evaluation and summary
# ---------------------------------------------------------------------------

total_tokens = step * tokens_per_step
model.eval()
with autocast_ctx:
    val_bpb = evaluate_bpb(train_model, device_batch_size, device)

t_end = time.time()
timed_steps = step - untimed_steps
steady_mfu = (
    100 * num_flops_per_token * tokens_per_step * timed_steps / total_training_time / gpu_peak
    if gpu_peak and total_training_time > 0
    else 0.0
)
if device.type == "cuda":
    peak_mb = torch.cuda.max_memory_allocated() / 1024 / 1024
elif sys.platform != "win32":  # peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (
        1024 * 1024 if sys.platform == "darwin" else 1024
    )
else:
    peak_mb = 0.0

print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {total_training_time:.1f}")
print(f"total_seconds:    {t_end - t_start:.1f}")
print(f"peak_vram_mb:     {peak_mb:.1f}")
print(f"mfu_percent:      {steady_mfu:.2f}")
print(f"total_tokens_M:   {total_tokens / 1e6:.1f}")
print(f"num_steps:        {step}")
print(f"num_params_M:     {num_params / 1e6:.1f}")
print(f"depth:            {DEPTH}")
