"""Generation by Monte Carlo tree search: PUCT with G as the prior (Silver et al. 2016), batched.

SeqGAN's future work (Yu et al. 2017, Section 6): "Monte Carlo tree search and value network
(Silver et al. 2016) to improve action decision making". At every position t of every sequence a
search tree is grown from the prefix Y_{1:t-1} by ``simulations`` simulations, each of four stages
(Silver et al. 2016, "Searching with policy and value networks", Fig. 3):

* selection: from the root, take a_t = argmax_a Q(s, a) + u(s, a) with the PUCT bonus
  u(s, a) = c_puct * P(s, a) * sqrt(1 + sum_b N(s, b)) / (1 + N(s, a)), P = G's distribution
  (the policy network), until an edge that has no node yet or a complete sequence;
* expansion: that edge's node (the prefix plus the token; G's state after it);
* evaluation: the leaf's value, D's score of a completion (``rollout_leaf``: one roll-out of G,
  AlphaGo's z) or the value network's V of the prefix (``value_leaf``); a complete sequence is
  scored by D itself;
* backup: N += 1 and W += value on every edge of the path; Q(s, a) = W / N.

Then the most visited root edge is the token (AlphaGo's move choice), ties broken by the prior, or
with a move temperature tau > 0 a draw with probability N(s, a)^(1/tau) / sum_b N(s, b)^(1/tau)
(AlphaGo Zero's, Silver et al. 2017: with a deterministic leaf, such as V, the most visited edge
makes every sequence from one start the same), and
the next position's search starts afresh from the longer prefix (the subtree is not reused: simpler,
and each position's search sees all its simulations). Departures, each a choice: ``1 +`` inside the
square root (Silver et al. write sqrt(sum_b N)), so that the first simulation follows the prior
rather than the first token; an edge not yet visited takes its node's own value as Q ("first-play
value"), so that with a constant D the visit counts follow P alone.

Batching: R sequences search together; each tree is stored per row as arrays over its nodes
(an edge is its child node: one node per simulation), so a simulation is one batched descent
(a loop over depth, generation being sequential), one batched step of G and one batched evaluation.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

from seqgan.models.policy import Policy, State, StepContext
from seqgan.rollout import Scorer

# A leaf evaluation: (prefixes (R, T) int64, their lengths (R,), G's state after them, context) -> (R,) values.
# Positions at or after a row's length hold <pad> (or 0 at fixed length).
Leaf = Callable[[torch.Tensor, torch.Tensor, State, StepContext], torch.Tensor]


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """mask (R,) -> a view broadcastable against ``like`` (R, ...)."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


def complete(policy: Policy, tokens: torch.Tensor, lengths: torch.Tensor, state: State, ctx: StepContext,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """One roll-out of every prefix: rows (R, T) whose first ``lengths`` (R,) tokens are kept and the
    rest drawn from ``policy``, starting from ``state``, G's state after each prefix. A row whose prefix
    holds <eos> is padded. Returns (R, T) int64. A loop over positions, batched over rows."""
    R, T = tokens.shape
    out = tokens.clone()
    fin = None if policy.eos_token is None else ended(tokens, lengths, policy.eos_token)
    for p in range(int(lengths.min()), T):
        go = lengths <= p                                                   # rows generating position p
        tok = policy.draw(state, ctx, generator=generator)
        if fin is not None:
            f = fin.clone()
            tok = policy.pad_after_end(tok, f)
            fin = torch.where(go, f, fin)
        out[:, p] = tok = torch.where(go, tok, out[:, p])
        if p + 1 < T:
            state = tuple(torch.where(_rows(go, s), new, s) for new, s in zip(policy.step(tok, state, ctx), state))
    return out


def rollout_leaf(policy: Policy, scorer: Scorer, generator: torch.Generator | None = None) -> Leaf:
    """A leaf's value: D's score of one completion of its prefix by G (AlphaGo's fast roll-out z)."""
    def evaluate(tokens, lengths, state, ctx):
        return scorer(complete(policy, tokens, lengths, state, ctx, generator))
    return evaluate


def ended(tokens: torch.Tensor, lengths: torch.Tensor, eos: int | None) -> torch.Tensor:
    """(R,) bool: the prefix (its first ``lengths`` tokens) holds <eos>. All False at fixed length."""
    if eos is None:
        return torch.zeros_like(lengths, dtype=torch.bool)
    pos = torch.arange(tokens.shape[1], device=tokens.device)
    return ((tokens == eos) & (pos < lengths.unsqueeze(1))).any(dim=1)


def value_leaf(value: torch.nn.Module, scorer: Scorer, eos_token: int | None = None) -> Leaf:
    """A leaf's value: V(Y_{1:k}) of the value network (``seqgan.models.value``), and D's score where the
    prefix is a complete sequence (length T, or ended by ``eos_token``)."""
    def evaluate(tokens, lengths, state, ctx):
        v = value(tokens).gather(1, lengths.unsqueeze(1)).squeeze(1)       # (R,): column k = V(Y_{1:k})
        done = (lengths == tokens.shape[1]) | ended(tokens, lengths, eos_token)
        if bool(done.any()):
            v = torch.where(done, scorer(tokens).to(v.dtype), v)
        return v
    return evaluate


def _select(policy, ctx, states, value, visits, total, parent, action, exists, node, c_puct):
    """One PUCT choice per row at ``node`` (R,): the token a (R,) and its child node (-1: none yet).
    Every per-node array is (R, M); states are (R, M, ...)."""
    R, M = parent.shape
    ar = torch.arange(R, device=node.device)
    logits = policy.next_logits(tuple(s[ar, node] for s in states), ctx).float()
    prior = F.softmax(logits, dim=1)                                                              # (R, V)
    kids = exists & (parent == node.unsqueeze(1))                                                 # (R, M)
    n = torch.where(kids, visits, 0.0)
    scale = c_puct * torch.sqrt(1.0 + n.sum(dim=1, keepdim=True))                                 # (R, 1)
    u = value[ar, node].unsqueeze(1) + scale * prior                       # unvisited: Q = the node's value, N = 0
    p_kid = prior.gather(1, action.clamp(min=0))
    u_kid = total / visits.clamp(min=1) + scale * p_kid / (1.0 + visits)   # visited: Q = W / N
    V = u.shape[1]
    u = torch.cat([u, u.new_zeros(R, 1)], dim=1)                          # column V: a sink for non-children
    u.scatter_(1, torch.where(kids, action, V), torch.where(kids, u_kid, 0.0))
    # A token G cannot draw (logit -inf: <pad>) is never searched: unvisited, it would score the node's own
    # value and win once the visited edges fall below it, or a tie (argmax: the lowest id).
    a = u[:, :V].masked_fill(logits == float("-inf"), float("-inf")).argmax(dim=1)
    hit = kids & (action == a.unsqueeze(1))
    child = torch.where(hit.any(dim=1), hit.int().argmax(dim=1), -1)
    return a, child, prior


@torch.no_grad()
def search_step(policy: Policy, prefix: torch.Tensor, length: int, state: State, ctx: StepContext,
                simulations: int, leaf: Leaf, c_puct: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The search at one position for R rows: prefix (R, T) whose first ``length`` tokens are set,
    ``state`` G's state after them. Returns (the chosen token (R,), the root's visit counts (R, V), the
    root's prior (R, V))."""
    R, T = prefix.shape
    M = simulations + 1                                                     # the root and one node per simulation
    dev = prefix.device
    ar = torch.arange(R, device=dev)
    tokens = prefix.unsqueeze(1).repeat(1, M, 1)                            # (R, M, T)
    depth = torch.full((R, M), length, dtype=torch.long, device=dev)
    states = tuple(s.unsqueeze(1).repeat(1, M, *([1] * (s.dim() - 1))) for s in state)
    parent = torch.full((R, M), -1, dtype=torch.long, device=dev)
    action = torch.full((R, M), -1, dtype=torch.long, device=dev)
    exists = torch.zeros(R, M, dtype=torch.bool, device=dev)
    exists[:, 0] = True
    terminal = torch.zeros(R, M, dtype=torch.bool, device=dev)
    terminal[:, 0] = (length >= T) | ended(prefix, depth[:, 0], policy.eos_token)  # nothing left to choose
    visits, total = torch.zeros(R, M, device=dev), torch.zeros(R, M, device=dev)
    value = torch.zeros(R, M, device=dev)
    value[:, 0] = leaf(prefix, depth[:, 0], state, ctx).float()
    root_prior = None
    for sim in range(1, M):
        node = torch.zeros(R, dtype=torch.long, device=dev)
        going = ~terminal[:, 0]
        new = torch.zeros(R, dtype=torch.bool, device=dev)                  # rows that expand a node this time
        a_new = torch.zeros(R, dtype=torch.long, device=dev)
        for _ in range(T - length):                                         # selection, one level per pass
            a, child, prior = _select(policy, ctx, states, value, visits, total, parent, action, exists, node, c_puct)
            if root_prior is None:
                root_prior = prior
            expand = going & (child < 0)
            new |= expand
            a_new = torch.where(expand, a, a_new)
            going = going & (child >= 0)
            node = torch.where(going, child, node)
            going = going & ~terminal[ar, node]
            if not bool(going.any()):
                break
        # Expansion: node index ``sim`` for the rows that reached an edge without a node.
        leaf_at = torch.where(new, sim, node)
        if bool(new.any()):
            d = depth[ar, node]
            toks = tokens[ar, node].clone()
            toks[ar, d.clamp(max=T - 1)] = torch.where(new, a_new, toks[ar, d.clamp(max=T - 1)])
            step = policy.step(a_new, tuple(s[ar, node] for s in states), ctx)
            # A row that stopped at a complete sequence (depth T) expands nothing; its slot stays unused
            # but is evaluated with the others, so its depth is clamped to a valid length.
            tokens[:, sim], depth[:, sim] = toks, (d + 1).clamp(max=T)
            for s, st in zip(states, step):
                s[:, sim] = st
            parent[:, sim], action[:, sim], exists[:, sim] = node, a_new, new
            terminal[:, sim] = (depth[:, sim] >= T) | ended(toks, depth[:, sim], policy.eos_token)
            # Evaluation of the new leaves (every row is evaluated; only the new ones are kept).
            value[:, sim] = torch.where(new, leaf(toks, depth[:, sim], step, ctx).float(), 0.0)
        v = value[ar, leaf_at]
        # Backup: every edge (= node but the root) on the path from the leaf up.
        cur = torch.where(new | (node > 0), leaf_at, 0)
        while bool((cur > 0).any()):
            up = cur > 0
            visits[ar, cur] += up.float()
            total[ar, cur] += torch.where(up, v, 0.0)
            cur = torch.where(up, parent[ar, cur], 0).clamp(min=0)
    kids = exists & (parent == 0)
    counts = torch.zeros_like(root_prior).scatter_add_(1, action.clamp(min=0), torch.where(kids, visits, 0.0))
    token = (counts + 0.5 * root_prior).argmax(dim=1)                      # the most visited; ties: the prior
    return token, counts, root_prior


@torch.no_grad()
def move_distribution(counts: torch.Tensor, tau: float) -> torch.Tensor:
    """pi(a) = N(a)^(1/tau) / sum_b N(b)^(1/tau) over the root's visit counts (R, V) (AlphaGo Zero's move
    choice), computed in log space so that a small tau does not overflow. A row without visits (a
    terminal root) has no distribution (NaN): draw only for rows with visits."""
    log_c = counts.double().clamp(min=1).log()  # float64: a tau of 1e-40 is no float32 denormal (flushed to 0)
    logits = torch.where(counts > 0, (log_c - log_c.amax(dim=1, keepdim=True)) / tau, float("-inf"))  # <= 0
    return torch.softmax(logits, dim=1).to(counts.dtype)


def mcts_sample(policy: Policy, num: int, simulations: int, leaf: Leaf, c_puct: float = 1.0,
                batch_size: int = 64, move_temperature: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``num`` sequences (num, T) int64 chosen token by token by ``simulations`` PUCT simulations each,
    ``batch_size`` sequences searching together. Rows end at <eos> and are padded after it. The token is
    the most visited edge, or with ``move_temperature`` > 0 drawn by :func:`move_distribution`."""
    ctx = policy.step_context()
    device, T = ctx.bias.device, policy.seq_len
    pad = getattr(policy, "pad_token", None)
    out = torch.full((num, T), 0 if pad is None else pad, dtype=torch.long, device=device)
    for lo in range(0, num, batch_size):
        rows = min(batch_size, num - lo)
        prefix = out[lo:lo + rows].clone()
        state = policy.start_state(rows, device, ctx)
        finished = None if policy.eos_token is None else torch.zeros(rows, dtype=torch.bool, device=device)
        for t in range(T):
            tok, counts, _ = search_step(policy, prefix, t, state, ctx, simulations, leaf, c_puct)
            if move_temperature > 0:
                # A row that has emitted <eos> has a terminal root: no visits, no distribution to draw from.
                # It keeps the search's token, which pad_after_end replaces by <pad>.
                searched = counts.sum(dim=1) > 0                            # all rows at fixed length
                if bool(searched.any()):
                    drawn = torch.multinomial(move_distribution(counts[searched], move_temperature), 1,
                                              generator=generator).squeeze(1)
                    tok = tok.masked_scatter(searched, drawn)
            prefix[:, t] = tok = policy.pad_after_end(tok, finished)
            if t + 1 < T:
                state = policy.step(tok, state, ctx)
        out[lo:lo + rows] = prefix
    return out
