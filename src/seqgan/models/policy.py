"""The policy interface: what sampling, roll-outs and Scheduled Sampling need of a generator.

A generator is a stochastic policy over tokens (paper, Section 3): the state summarises the prefix
Y_{1:t-1}, an action is the next token. Code that generates token by token talks to a generator
only through :class:`Policy`, so that a hierarchical or relational-memory generator can stand in
for the LSTM of :class:`seqgan.models.generator.Generator`. A state is a tuple of tensors whose
first dimension is the row; a roll-out slices and writes back rows of every one of them.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch

State = tuple[torch.Tensor, ...]  # every tensor (R, ...): row r's state


class StepContext(NamedTuple):
    """What all steps of one pass share, computed once per pass (the LSTM's input table and its
    output bias; another policy may put anything here)."""

    table: Any
    bias: Any


class Policy(Protocol):
    seq_len: int
    eos_token: int | None

    def step_context(self) -> StepContext: ...

    def start_state(self, rows: int, device: torch.device | str, ctx: StepContext) -> State:
        """The state after the start token, which scores y_1."""

    def step(self, tokens: torch.Tensor, state: State, ctx: StepContext) -> State:
        """Feed one token per row: tokens (R,) int64 -> the next state."""

    def next_logits(self, state: State, ctx: StepContext) -> torch.Tensor:
        """(R, V) logits of the next token."""

    def draw(self, state: State, ctx: StepContext, generator: torch.Generator | None = None,
             uniforms: torch.Tensor | None = None) -> torch.Tensor:
        """One next token per row, (R,) int64, from softmax(next_logits)."""

    def prefix_states(self, tokens: torch.Tensor) -> State:
        """The state after every prefix of tokens (B, T): each tensor (B, T, ...), [:, t] the state after
        the start token and y_1..y_t, which scores y_{t+1}."""

    def ended(self, tokens: torch.Tensor) -> torch.Tensor: ...

    def pad_after_end(self, tok: torch.Tensor, finished: torch.Tensor | None) -> torch.Tensor: ...


@torch.no_grad()
def sample_sequences(policy: Policy, num: int, generator: torch.Generator | None = None,
                     batch_size: int = 4096) -> torch.Tensor:
    """Draw ``num`` sequences of length T: (num, T) int64, in batches of ``batch_size`` rows so that
    memory stays bounded for 100,000 samples. Rows end at <eos> and are padded after it."""
    ctx = policy.step_context()
    device = ctx.bias.device
    T = policy.seq_len
    out = torch.empty(num, T, dtype=torch.long, device=device)
    for lo in range(0, num, batch_size):
        rows = min(batch_size, num - lo)
        state = policy.start_state(rows, device, ctx)
        finished = None if policy.eos_token is None else torch.zeros(rows, dtype=torch.bool, device=device)
        for t in range(T):
            tok = policy.pad_after_end(policy.draw(state, ctx, generator=generator), finished)
            out[lo:lo + rows, t] = tok
            if t + 1 < T:
                state = policy.step(tok, state, ctx)
    return out
