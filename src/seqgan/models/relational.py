"""RelGAN's generator: a relational-memory language model (Nie et al., ICLR 2019, Section 2.2).

The recurrent core is the relational memory of Santoro et al. (2018, "Relational recurrent neural
networks"): a memory M_t of ``mem_slots`` rows of size ``head_size * num_heads`` that, at every step,
attends over itself and the new input with multi-head self-attention, then passes through an MLP,
each with a residual connection and layer normalisation, and is gated into the old memory like an
LSTM's cell (RelGAN, Eqs. 1-2; Santoro et al., Section 3):

    x_t~     = W_in e(y_{t-1}) + b_in                         the input as one more memory row
    [M~; .]  = attend([M_{t-1}; x_t~])                         MHA, + residual, LN; MLP, + residual, LN
    i, f     = sigmoid(W_i x_t~ + U_i tanh(M_{t-1})),  sigmoid(W_f x_t~ + U_f tanh(M_{t-1}) + 1)
    M_t      = i * tanh(M~) + f * M_{t-1}
    o_t      = W_o vec(M_t) + b_o                              the next token's logits

It follows the authors' TensorFlow code (weilinie/RelGAN, ``utils/models/relational_memory.py`` and
``models/rmc_vanilla.py``), read, not copied, including its details:

* M_0 is the identity, padded with zeros to the row size (each slot starts distinct); it is no
  parameter; the start token is fed first, as in SeqGAN's LSTM;
* the key size is the head size; queries are scaled by (2 * key + head)^-1/2, the size of one head's
  q, k and v together (the authors' line; Transformer's scale would be key^-1/2);
* each layer norm takes its statistics over all rows and features of the (rows, features) block
  together (``tf.contrib.layers.layer_norm``'s begin_norm_axis=1), with a gain and bias per feature;
  the q/k/v projection is normalised too;
* the MLP has two layers of the row size, ReLU between them; the gates have no bias but the forget
  gate's +1 (and the input gate's +0);
* weights ~ truncated N(0, 1/fan_in) (cut at 2 std), the embedding's with fan_in = V; biases 0.

The per-token log-probabilities are exact (teacher forcing through the same cell), so NLL-oracle,
NLL-test and ``seqgan sample`` work as for the LSTM; the token-at-a-time methods are the
:class:`seqgan.models.policy.Policy` interface, and the whole-sequence losses are the LSTM's
(:class:`seqgan.models.generator.Generator`), which need only :meth:`hidden` and ``output``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from seqgan.models.generator import Generator
from seqgan.models.policy import StepContext

State = tuple[torch.Tensor]  # (memory,): (R, mem_slots, mem_size)


def truncated_normal_(w: torch.Tensor, std: float) -> torch.Tensor:
    """TensorFlow's truncated normal: N(0, std), redrawn outside two standard deviations."""
    return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


class BlockLayerNorm(nn.Module):
    """Layer norm over the last two dimensions together (rows x features), gain and bias per feature:
    ``tf.contrib.layers.layer_norm`` on a (B, rows, features) tensor, as the authors use it."""

    def __init__(self, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, rows, F) -> (B, rows, F)
        return F.layer_norm(x, x.shape[-2:], eps=1e-12) * self.weight + self.bias


class RelationalMemory(nn.Module):
    """The relational memory core (Santoro et al. 2018): one attention block, 'unit' gating."""

    def __init__(self, input_size: int, mem_slots: int, head_size: int, num_heads: int,
                 mlp_layers: int = 2, forget_bias: float = 1.0, input_bias: float = 0.0):
        super().__init__()
        self.mem_slots, self.head_size, self.num_heads = mem_slots, head_size, num_heads
        self.mem_size = head_size * num_heads
        self.forget_bias, self.input_bias = forget_bias, input_bias
        M, qkv = self.mem_size, 3 * head_size  # key size = head size: q, k, v of one head
        self.input_proj = nn.Linear(input_size, M)                     # the input as a memory row
        self.qkv = nn.Linear(M, qkv * num_heads, bias=False)
        self.qkv_norm = BlockLayerNorm(qkv * num_heads)
        self.attn_norm = BlockLayerNorm(M)
        self.mlp = nn.ModuleList(nn.Linear(M, M) for _ in range(mlp_layers))
        self.mlp_norm = BlockLayerNorm(M)
        self.gate_input = nn.Linear(M, 2 * M, bias=False)              # W_i, W_f
        self.gate_memory = nn.Linear(M, 2 * M, bias=False)             # U_i, U_f

    def initial_memory(self, rows: int, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """M_0: the (slots x slots) identity, zero-padded (or cut) to the row size: (R, slots, mem_size)."""
        eye = torch.eye(self.mem_slots, max(self.mem_slots, self.mem_size), device=device, dtype=dtype)
        return eye[:, :self.mem_size].expand(rows, -1, -1).contiguous()

    def attention(self, memory: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention over the rows: (R, S, M) -> (R, S, M)."""
        R, S, _ = memory.shape
        H, hs = self.num_heads, self.head_size
        qkv = self.qkv_norm(self.qkv(memory)).view(R, S, H, 3 * hs).transpose(1, 2)  # (R, H, S, 3 hs)
        q, k, v = qkv.split(hs, dim=-1)
        weights = torch.softmax((q * (3 * hs) ** -0.5) @ k.transpose(-1, -2), dim=-1)  # (R, H, S, S)
        return (weights @ v).transpose(1, 2).reshape(R, S, self.mem_size)

    def attend(self, memory: torch.Tensor) -> torch.Tensor:
        """Attention and the MLP, each with a residual connection and layer norm: (R, S, M) -> (R, S, M)."""
        memory = self.attn_norm(memory + self.attention(memory))
        h = memory
        for i, layer in enumerate(self.mlp):
            h = layer(h)
            if i + 1 < len(self.mlp):
                h = torch.relu(h)
        return self.mlp_norm(memory + h)

    def forward(self, x_proj: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """One step. x_proj (R, M): the input already through ``input_proj``; memory (R, slots, M) ->
        the next memory (R, slots, M)."""
        attended = self.attend(torch.cat([memory, x_proj.unsqueeze(1)], dim=1))[:, :-1]  # the memory rows
        gates = self.gate_memory(torch.tanh(memory)) + self.gate_input(x_proj).unsqueeze(1)  # (R, slots, 2M)
        i, f = gates.chunk(2, dim=2)
        i, f = torch.sigmoid(i + self.input_bias), torch.sigmoid(f + self.forget_bias)
        return i * torch.tanh(attended) + f * memory


class RelationalGenerator(nn.Module):
    """G_theta of RelGAN: embedding -> relational memory -> linear -> softmax, start token first."""

    def __init__(self, vocab_size: int, emb_dim: int, seq_len: int, mem_slots: int = 1, head_size: int = 256,
                 num_heads: int = 2, start_token: int = 0, eos_token: int | None = None,
                 pad_token: int | None = None):
        super().__init__()
        if (eos_token is None) != (pad_token is None):
            raise ValueError("eos_token and pad_token go together: give both or neither")
        self.vocab_size, self.emb_dim, self.seq_len, self.start_token = vocab_size, emb_dim, seq_len, start_token
        self.mem_slots, self.head_size, self.num_heads = mem_slots, head_size, num_heads
        self.eos_token, self.pad_token = eos_token, pad_token
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.memory = RelationalMemory(emb_dim, mem_slots, head_size, num_heads)
        self.hidden_dim = mem_slots * self.memory.mem_size  # o_t reads the whole memory
        self.output = nn.Linear(self.hidden_dim, vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The authors' initialisers: truncated N(0, 1/fan_in) weights (the embedding's fan_in is V),
        zero biases, layer-norm gains 1."""
        with torch.no_grad():
            truncated_normal_(self.embedding.weight, 1 / math.sqrt(self.vocab_size))
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    truncated_normal_(module.weight, 1 / math.sqrt(module.weight.shape[1]))
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, BlockLayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()

    def config(self) -> dict[str, int | None]:
        """Constructor arguments, stored in checkpoints so the model can be rebuilt from the file alone."""
        return dict(vocab_size=self.vocab_size, emb_dim=self.emb_dim, seq_len=self.seq_len,
                    mem_slots=self.mem_slots, head_size=self.head_size, num_heads=self.num_heads,
                    start_token=self.start_token, eos_token=self.eos_token, pad_token=self.pad_token)

    # The LSTM's code that needs only hidden(), output and the special tokens: variable length,
    # teacher-forced logits, exact log-probabilities, the fused weighted NLL (MLE) and sampling.
    ended = Generator.ended
    valid_mask = Generator.valid_mask
    pad_after_end = Generator.pad_after_end
    shift_right = Generator.shift_right
    output_bias = Generator.output_bias
    logits = Generator.logits
    forward = Generator.forward
    log_probs = Generator.log_probs
    weighted_nll = Generator.weighted_nll
    sample = Generator.sample

    # ---------------------------------------------------------------- whole sequences
    def prefix_states(self, tokens: torch.Tensor) -> State:
        """The memory after each prefix: tokens (B, T) -> ((B, T, slots, M),), [:, t] after the start token
        and y_1..y_t, the state that scores y_{t+1}. A time loop over the whole batch (teacher forcing)."""
        B, T = tokens.shape
        inputs, table = self.shift_right(tokens), self.input_table()
        memory = self.memory.initial_memory(B, tokens.device, self.output.weight.dtype)
        out = []
        for t in range(T):
            memory = self.memory(table[inputs[:, t]], memory)
            out.append(memory)
        return (torch.stack(out, 1),)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced outputs: tokens (B, T) -> (B, T, slots * M); [:, t] scores y_t given y_<t."""
        return self.prefix_states(tokens)[0].flatten(2)

    # ---------------------------------------------------------------- one token at a time (Policy)
    def input_table(self) -> torch.Tensor:
        """(V, M): every token's embedding through the input projection."""
        p = self.memory.input_proj
        return torch.addmm(p.bias, self.embedding.weight, p.weight.t())

    def step_context(self) -> StepContext:
        return StepContext(self.input_table(), self.output_bias())

    def initial_state(self, rows: int, device: torch.device | str) -> State:
        return (self.memory.initial_memory(rows, device, self.output.weight.dtype),)

    def step(self, tokens: torch.Tensor, state: State, ctx: StepContext | None = None) -> State:
        """Feed one token per row: tokens (R,) int64 -> the next memory."""
        table = self.input_table() if ctx is None else ctx.table
        return (self.memory(table[tokens], state[0]),)

    def start_state(self, rows: int, device: torch.device | str, ctx: StepContext) -> State:
        return self.step(torch.full((rows,), self.start_token, device=device), self.initial_state(rows, device), ctx)

    def next_logits(self, state: State, ctx: StepContext) -> torch.Tensor:
        """(R, V) logits o_t of the next token."""
        return F.linear(state[0].flatten(1), self.output.weight, ctx.bias)

    def draw(self, state: State, ctx: StepContext, generator: torch.Generator | None = None,
             uniforms: torch.Tensor | None = None) -> torch.Tensor:
        from seqgan.sampling import sample_from_hidden  # here to keep models free of a module cycle

        return sample_from_hidden(state[0].flatten(1), self.output.weight, ctx.bias, generator=generator,
                                  uniforms=uniforms)
