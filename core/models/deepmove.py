"""A DeepMove-style next-location model (Feng et al., "DeepMove: Predicting Human Mobility with
Attentional Recurrent Networks", WWW 2018), as pure functions of a parameter dict so that the
round loop's expanded-weights trick (`core.models.recurrent.per_client_grads`) batches its
per-client gradients exactly as it does the LSTM's: one forward/backward for all K clients.

Architecture (shapes: K clients, B windows per client, W window length, V vocabulary size,
D = H = `spec.hidden`, S = `N_SLOTS` time slots, Ds = `slot_dim(spec)`, E = D + Ds):

- multi-modal embedding (DeepMove §4.1): each window point is the index of its vocabulary
  location (the model's public vocabulary `spec.locations`, the nearest one to the coordinate:
  an exact match for undefended check-ins, the snap to the vocabulary after a location
  mechanism), looked up in `loc_emb` (V, D), and its time slot (`core.data.timeslots`: hour of
  day, +24 at weekends, S = 48 as in the authors' code), looked up in `slot_emb` (S, Ds); the two
  are concatenated (as DeepMove does) into e (K, B, W, E). Ds = H/4 (DeepMove pairs a
  500-dimensional location embedding with a 10-dimensional time one: time is the smaller part);
- a GRU over the current window's embeddings -> h (K, B, H)   (DeepMove's "recurrent module");
- attention over the user's history: the earlier windows the client holds, i.e. the windows
  before it in the same batch (history protocol: all windows so far), each represented by the
  embedding (location and slot) of its last point. score_bj = (Q·h_b)·e_j / √E for j < b,
  α = softmax over j < b, context c_b = Σ_j α_bj e_loc_j: the scores see when each history item
  was visited, the context carries where             (DeepMove's "historical attention");
- output: logits = W_out·[h; c] + b_out + g·copy, where copy_v = Σ_j α_bj [loc_j = v] is the
  attention mass on history items at location v (a pointer/copy term, See et al. 2017): people
  return to the places they have been, and without it the output layer would have to learn a
  V × V identity through D dimensions from 50 federated rounds.

Slots are a second input beside the coordinates, (K, B, W) int64 parallel to x; the round loop
builds them from the check-in times (`ClientPopulation.window_slots`). Location mechanisms
perturb coordinates only, so slots reach the model unperturbed.

What the upload reveals (`core.attacks.embedding`): ∂L/∂loc_emb is non-zero only in the rows of
the locations the client fed in (its window points and its history), ∂L/∂slot_emb only in the
rows of the time slots they were visited at, under FedSGD and FedAvg alike; the target is in
the output bias (∇b = mean softmax − the targets' one-hots).

Coordinate attacks (the paper's ST-GIA, Eq. 7) optimise x; the nearest-location lookup has no
gradient, so when x requires grad the lookup is straight-through: forward value the exact
embedding, gradient through a Gaussian soft assignment over the vocabulary (width `ST_WIDTH`)
onto the *detached* table, so the table's gradient rows stay exactly those of the hard lookup.
"""
from __future__ import annotations

import math

import torch
from scipy.spatial import cKDTree
from torch import Tensor

from core.data.timeslots import N_SLOTS
from core.models.recurrent import ModelSpec, _bias, _mm, last_hidden

KIND = "deepmove"
ST_WIDTH = 0.01  # normalised units (~0.5 km on NYC): straight-through soft-assignment width
COPY_GATE_INIT = 1.0
SLOT_INIT = 0.1  # slot table N(0, 0.1²): time starts as a small correction to the location


def is_embedding(spec: ModelSpec) -> bool:
    """Whether the model embeds location indices (its upload has an embedding-table gradient)."""
    return spec.cell == KIND


def slot_dim(spec: ModelSpec) -> int:
    """Ds, the time-slot embedding's width: a quarter of the location embedding's (at least 4)."""
    return max(4, spec.hidden // 4)


def _cell_spec(spec: ModelSpec) -> ModelSpec:
    """The GRU inside (DeepMove's recurrent module), on embeddings (no input scale)."""
    return ModelSpec("gru", spec.hidden)


def init_params(spec: ModelSpec, generator: torch.Generator) -> dict[str, Tensor]:
    """Embeddings N(0, 1)·scale (nn.Embedding's init); GRU, query and head U(±1/√fan_in)
    (PyTorch's), fan-ins those of the location-only model.

    The location-only part is drawn first, exactly as before time slots existed; the slot
    table (N(0, SLOT_INIT²)) and the slot columns of `weight_ih` and `query` are drawn after it.
    The output layer reads [h; c] with the location-only context c, (V, H + D) as before."""
    V, H = spec.n_classes, spec.hidden
    D, Ds = H, slot_dim(spec)

    def u(fan_in: int, *shape: int) -> Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) / math.sqrt(fan_in)

    p = {"loc_emb": torch.randn(V, D, generator=generator),
         "weight_ih": u(H, 3 * H, D), "weight_hh": u(H, 3 * H, H),
         "bias_ih": u(H, 3 * H), "bias_hh": u(H, 3 * H),
         "query": u(H, D, H),
         "out_weight": u(H + D, V, H + D), "out_bias": u(H + D, V),
         "copy_gate": torch.full((1,), COPY_GATE_INIT)}
    p["slot_emb"] = SLOT_INIT * torch.randn(N_SLOTS, Ds, generator=generator)
    p["weight_ih"] = torch.cat([p["weight_ih"], u(H, 3 * H, Ds)], dim=1)        # (3H, E)
    p["query"] = torch.cat([p["query"], u(H, Ds, H)], dim=0)                    # (E, H)
    return p


def vocab_tensor(spec: ModelSpec) -> Tensor:
    if spec.locations is None:
        raise ValueError("the deepmove model needs its vocabulary (ModelSpec.locations)")
    return spec.locations


def location_index(x: Tensor, spec: ModelSpec) -> Tensor:
    """(...) vocabulary index of the location nearest each normalised point x (..., 2)."""
    _, nearest = _tree(spec).query(x.detach().reshape(-1, 2).double().numpy())
    return torch.as_tensor(nearest, dtype=torch.long).view(x.shape[:-1])


def _tree(spec: ModelSpec) -> cKDTree:
    """A KD-tree over the vocabulary (exact nearest neighbour; built per call, ~ms for 5k)."""
    return cKDTree(vocab_tensor(spec).double().numpy())


def lookup(table: Tensor, idx: Tensor) -> Tensor:
    """Rows `idx` (K, B, W) of the table (V, D) shared or (K, V, D) per client -> (K, B, W, D)."""
    if table.dim() == 2:
        return table[idx]
    k = torch.arange(table.shape[0], device=idx.device).view(-1, *([1] * (idx.dim() - 1)))
    return table[k, idx]


def _straight_through(table: Tensor, x: Tensor, spec: ModelSpec) -> Tensor:
    """Zero-valued term whose gradient w.r.t. x (K, B, W, 2) is that of a soft lookup."""
    K = x.shape[0]
    vocab = vocab_tensor(spec).to(x.dtype)
    d2 = (x.reshape(K, -1, 1, 2) - vocab.view(1, 1, -1, 2)).pow(2).sum(-1)   # (K, N, V)
    w = torch.softmax(-d2 / (2 * ST_WIDTH ** 2), dim=-1)
    tab = table.detach()
    soft = w @ (tab if tab.dim() == 3 else tab.unsqueeze(0))                  # (K, N, D)
    soft = soft.view(*x.shape[:-1], -1)
    return soft - soft.detach()


def check_slots(slots: Tensor | None, shape: torch.Size) -> Tensor:
    """The time slots (K, B, W) int64 in [0, N_SLOTS) of windows of shape (K, B, W)."""
    if slots is None:
        raise ValueError("the deepmove model needs the windows' time slots (slots=...)")
    if tuple(slots.shape) != tuple(shape) or slots.dtype != torch.long:
        raise ValueError(f"slots must be int64 of shape {tuple(shape)}, got "
                         f"{slots.dtype} {tuple(slots.shape)}")
    return slots


def embed_indices(params: dict[str, Tensor], idx: Tensor, slots: Tensor) -> Tensor:
    """[loc_emb[idx]; slot_emb[slots]] (K, B, W, E) for indices and slots (K, B, W)."""
    return torch.cat([lookup(params["loc_emb"], idx), lookup(params["slot_emb"], slots)], dim=-1)


def embed(params: dict[str, Tensor], x: Tensor, spec: ModelSpec,
          slots: Tensor | None) -> tuple[Tensor, Tensor]:
    """(indices (K, B, W), embeddings (K, B, W, E)) of the window points x (K, B, W, 2) visited
    at time slots `slots` (K, B, W)."""
    idx = location_index(x, spec)
    e_loc = lookup(params["loc_emb"], idx)
    if x.requires_grad:
        e_loc = e_loc + _straight_through(params["loc_emb"], x, spec)
    e_slot = lookup(params["slot_emb"], check_slots(slots, idx.shape))
    return idx, torch.cat([e_loc, e_slot], dim=-1)


def _gate(g: Tensor) -> Tensor:
    """copy_gate (1,) shared or (K, 1) per client -> broadcastable to α (K, B, B)."""
    return g if g.dim() == 1 else g[:, None, :]


def history_attention(params: dict[str, Tensor], h: Tensor, keys: Tensor, first: int = 0) -> Tensor:
    """α (K, B − first, B): windows b ≥ `first`, each attending over the earlier windows j < b of
    its batch.

    h (K, B − first, H) those windows' states, keys (K, B, E) every window's history item (its
    last point)."""
    q = _mm(h, params["query"])                                    # (K, B', E)
    scores = q @ keys.transpose(-1, -2) / math.sqrt(keys.shape[-1])  # (K, B', B)
    B = keys.shape[1]
    earlier = torch.ones(B, B, dtype=torch.bool, device=h.device).tril(-1)[first:]  # j < b
    scores = scores.masked_fill(~earlier, -1e9)
    return torch.softmax(scores, dim=-1) * earlier   # a first window (no history) attends to nothing


def head(params: dict[str, Tensor], idx: Tensor, e: Tensor, spec: ModelSpec,
         first: int = 0) -> Tensor:
    """Logits (K, B − first, V) of windows b ≥ `first`, from all B windows' location indices idx
    (K, B, W) and embeddings e (K, B, W, E) (earlier windows enter as history only). The
    embedding-row attack scores candidates for the newest windows with `first` > 0."""
    h = last_hidden(params, e[:, first:], _cell_spec(spec))        # (K, B', H)
    keys, key_loc = e[:, :, -1], idx[:, :, -1]                     # (K, B, E), (K, B)
    att = history_attention(params, h, keys, first)                # (K, B', B)
    context = att @ keys[..., :params["loc_emb"].shape[-1]]        # (K, B', D): places
    logits = _mm(torch.cat([h, context], dim=-1), params["out_weight"]) + _bias(params["out_bias"])
    K, B = key_loc.shape
    # + g·copy_v, copy_v = Σ_j α_bj [loc_j = v]: scattered straight into the logits (K, B', V)
    return logits.scatter_add(-1, key_loc[:, None, :].expand(K, B - first, B),
                              _gate(params["copy_gate"]) * att)


def forward(params: dict[str, Tensor], x: Tensor, spec: ModelSpec,
            slots: Tensor | None = None) -> Tensor:
    """x (K, B, W, 2) normalised windows (batch order = time order), visited at time slots
    `slots` (K, B, W) int64 (required) -> logits (K, B, V)."""
    idx, e = embed(params, x, spec, slots)
    return head(params, idx, e, spec)
