"""``seqgan sample``: draw sequences from a checkpoint's generator and write them as text.

A real-data checkpoint carries its vocabulary and tokenizer (a ``bpe``/``unigram`` run: its trained
model), so nothing but the file is needed: ids are decoded with :meth:`Vocab.decode` (stopping at
``<eos>``, dropping ``<pad>``) and joined by the tokenizer's rule (``char``: concatenated;
``word``/``ids``: single spaces; subword pieces: by sentencepiece). A generator with NaN or infinite
weights is refused.
A synthetic-task checkpoint has no vocabulary; its sequences are written as raw token ids.

Temperature T divides G's logits before sampling (T = 1: the model's own distribution; T < 1
sharper, T > 1 flatter). It is applied to a scaled copy of the output layer of the generator
rebuilt from the checkpoint, so the model code is untouched and the checkpoint is not changed.

``--mcts S`` chooses each token by S simulations of Monte Carlo tree search (``seqgan.mcts``: PUCT
with G as the prior and D's score of a roll-out, or with ``--leaf value`` the checkpoint's value
network, as the leaf evaluation), instead of drawing it from G (docs/value_mcts.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from seqgan import distributed as dist
from seqgan.checkpoint import build_model, check_finite_weights, load_checkpoint, write_atomic
from seqgan.data.tokenizers import Tokenizer, get_tokenizer, tokenizer_from_checkpoint
from seqgan.data.vocab import UNK, Vocab
from seqgan.errors import SeqGANError
from seqgan.experiments.common import add_threads_arg, set_threads
from seqgan.experiments.run_dir import check_new_file
from seqgan.seeding import check_seed
from seqgan.mcts import mcts_sample, rollout_leaf, value_leaf
from seqgan.models.discriminator import Discriminator
from seqgan.models.generator import Generator
from seqgan.models.value import ValueNetwork
from seqgan.train.registry import generator_class

#: How a sampled ``<unk>`` is written. ``char`` needs one character per token (U+FFFD, the
#: replacement character); ``word`` and ``ids`` keep the literal, which no reference contains;
#: ``bpe`` and ``unigram`` pass ``<unk>`` to sentencepiece, which writes U+FFFD.
UNK_TEXT = {"char": "\ufffd", "word": UNK, "ids": UNK, "bpe": UNK, "unigram": UNK}
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
LOWEST_MIDI = 21  # the music corpus writes token = MIDI pitch - 21 (A0 = 0 .. C8 = 87)


def decode_rows(rows: torch.Tensor, vocab: Vocab, tokenizer: Tokenizer | str) -> list[list[str]]:
    """(N, T) ids -> N token lists: each stops at its first <eos>; <unk> is written per UNK_TEXT."""
    unk = UNK_TEXT[tokenizer if isinstance(tokenizer, str) else tokenizer.name]
    return [[unk if t == UNK else t for t in vocab.decode(row)] for row in rows.tolist()]


def detokenize_all(token_lists: Sequence[Sequence[str]], tokenizer: Tokenizer | str) -> list[str]:
    """Token lists -> lines, joined by the tokenizer's rule. An <unk> under ``ids`` stays ``<unk>``."""
    if getattr(tokenizer, "name", tokenizer) == "ids":
        return [" ".join(toks) for toks in token_lists]  # ids are canonical already; keeps <unk>
    tok = get_tokenizer(tokenizer)
    return [tok.detokenize(toks) for toks in token_lists]


def pitch_name(token: str) -> str:
    """Music token (MIDI pitch - 21) -> scientific pitch name: '0' -> 'A0', '39' -> 'C4'."""
    if not token.isdigit():
        return token  # <unk>
    midi = int(token) + LOWEST_MIDI
    return f"{PITCH_NAMES[midi % 12]}{midi // 12 - 1}"


def load_sampler(path: str | Path, device: str = "cpu") -> tuple[Generator, Vocab | None, str | None, dict[str, Any]]:
    """(generator on ``device``, vocabulary or None, tokenizer name or None, the checkpoint) from a checkpoint file."""
    ckpt = load_checkpoint(path)
    if "generator" not in ckpt:
        raise SeqGANError(f"checkpoint {path} holds no generator")
    cls = generator_class(ckpt.get("algorithm"))  # the LSTM, or the algorithm's own (RelGAN's)
    gen = build_model(cls, ckpt["generator"], "generator").requires_grad_(False).eval()
    check_finite_weights(gen, path, "generator")
    gen = gen.to(dist.init(device))  # checks the device (CUDA available, index in range)
    vocab = Vocab.from_dict(ckpt["vocab"]) if ckpt.get("vocab") is not None else None
    tokenizer = ckpt.get("tokenizer")
    if vocab is not None:
        if tokenizer not in UNK_TEXT:
            raise SeqGANError(f"checkpoint {path} has a vocabulary but tokenizer {tokenizer!r}; it is damaged")
        if len(vocab) != gen.vocab_size:
            raise SeqGANError(f"checkpoint {path}: vocabulary of {len(vocab)} tokens but a generator of "
                              f"{gen.vocab_size}; it is damaged")
    return gen, vocab, tokenizer, ckpt


@torch.no_grad()
def with_temperature(gen: Generator, temperature: float) -> Generator:
    """Divide the logits by T: scale this (rebuilt, private) generator's output layer by 1/T in place.
    softmax((h W^T + b) / T) = softmax(h (W/T)^T + b/T); <pad>'s -inf bias stays -inf."""
    if not temperature > 0 or temperature != temperature or temperature == float("inf"):
        raise SeqGANError(f"--temperature must be a positive number, got {temperature}")
    if temperature != 1.0:
        gen.output.weight.div_(temperature)
        gen.output.bias.div_(temperature)
    return gen


def generate(gen: Generator, num: int, seed: int) -> torch.Tensor:
    """num sequences (num, T) from G with a private RNG seeded by ``seed``."""
    if num < 1:
        raise SeqGANError(f"-n must be at least 1, got {num}")
    rng = torch.Generator(device=gen.output.weight.device)
    rng.manual_seed(seed)
    return gen.sample(num, generator=rng)


LEAVES = ("rollout", "value")


def search(gen: Generator, ckpt: dict[str, Any], num: int, simulations: int, c_puct: float, leaf: str,
           seed: int, move_temperature: float = 0.0) -> torch.Tensor:
    """num sequences (num, T) chosen by tree search with the checkpoint's D (and V for ``leaf='value'``)."""
    if simulations < 1:
        raise SeqGANError(f"--mcts must be at least 1 simulation per token, got {simulations}")
    if not (c_puct > 0 and c_puct != float("inf")):  # inf * a zero prior is NaN: garbage tokens, no error
        raise SeqGANError(f"--c-puct must be a positive number, got {c_puct}")
    if not (move_temperature >= 0 and move_temperature != float("inf")):
        raise SeqGANError(f"--move-temperature must be 0 (the most visited token) or positive, got {move_temperature}")
    if leaf not in LEAVES:
        raise SeqGANError(f"--leaf must be one of {', '.join(LEAVES)}, got {leaf!r}")
    if num < 1:
        raise SeqGANError(f"-n must be at least 1, got {num}")
    if generator_class(ckpt.get("algorithm")) is not Generator:
        raise SeqGANError(f"--mcts searches with SeqGAN's LSTM generator and CNN discriminator; this checkpoint "
                          f"is of {ckpt.get('algorithm')!r}, which has models of its own: sample it without --mcts")
    if ckpt.get("algorithm") == "rankgan":
        raise SeqGANError("--mcts scores leaves by D's probability of real, and RankGAN's D is a ranker (its "
                          "classifier output is left from pre-training): sample it without --mcts")
    if ckpt.get("algorithm") == "random":
        raise SeqGANError("--mcts needs a trained discriminator, and this checkpoint (table1's random row) holds the "
                          "untrained one: use a checkpoint of a method trained after D's pre-training")
    phase, step = (ckpt.get("position") or {}).get("phase"), (ckpt.get("position") or {}).get("step", 0)
    if phase == "mle" or (phase == "d_pretrain" and step == 0):
        raise SeqGANError("--mcts needs a trained discriminator, and this checkpoint was saved before D's "
                          "pre-training (e.g. mle.pt): use d_pretrain.pt, adversarial.pt or latest.pt of a later phase")
    if leaf == "value" and (phase in ("mle", "d_pretrain") or (phase == "adversarial" and step == 0)):
        raise SeqGANError("--leaf value needs a trained value network, and it trains only in the adversarial "
                          "rounds: use a checkpoint saved after them (adversarial.pt), or --leaf rollout")
    device = gen.output.weight.device
    if "discriminator" not in ckpt:
        raise SeqGANError("--mcts needs the checkpoint's discriminator, and this checkpoint has none")
    disc = build_model(Discriminator, ckpt["discriminator"], "discriminator").requires_grad_(False).eval().to(device)
    scorer = disc.frozen_scorer()
    if leaf == "value":
        entry = ckpt.get("extra_models", {}).get("value")
        if entry is None:
            raise SeqGANError("--leaf value needs a value network: this checkpoint has none (train with "
                              "--set train.reward_estimator=value or rollout_baseline), or use --leaf rollout")
        value = build_model(ValueNetwork, entry, "value network").requires_grad_(False).eval().to(device)
        evaluate = value_leaf(value, scorer, gen.eos_token)
    rng = torch.Generator(device=device)
    rng.manual_seed(seed)
    if leaf != "value":
        evaluate = rollout_leaf(gen, scorer, rng)
    return mcts_sample(gen, num, simulations, evaluate, c_puct, move_temperature=move_temperature, generator=rng)


def sample_lines(path: str | Path, num: int, temperature: float = 1.0, seed: int = 0,
                 pitch_names: bool = False, device: str = "cpu", mcts: int = 0, c_puct: float = 1.0,
                 leaf: str = "rollout", move_temperature: float = 0.0) -> list[str]:
    """The decoded lines of ``num`` sequences sampled on ``device`` from the checkpoint at ``path``
    (``mcts`` > 0: chosen by that many tree-search simulations per token). The draws depend on the
    device's random generator: CPU and CUDA give different samples for one seed."""
    gen, vocab, tokenizer, ckpt = load_sampler(path, device)
    if pitch_names and (vocab is None or tokenizer != "ids"):  # before the draws (minutes with --mcts), not after
        raise SeqGANError(f"--pitch-names is for music (ids tokenizer); this checkpoint's tokenizer is "
                          f"{tokenizer if vocab is not None else 'none (the synthetic task)'}")
    # bpe / unigram: the model stored in the checkpoint, read (and a damaged one refused) before the draws
    tok = None if vocab is None else tokenizer_from_checkpoint(ckpt, path)
    gen = with_temperature(gen, temperature)
    rows = search(gen, ckpt, num, mcts, c_puct, leaf, seed, move_temperature) if mcts else generate(gen, num, seed)
    if vocab is None:  # synthetic task: raw ids, the authors' format
        return [" ".join(map(str, r)) for r in rows.tolist()]
    tokens = decode_rows(rows, vocab, tok)
    if pitch_names:
        tokens = [[pitch_name(t) for t in toks] for toks in tokens]
        return [" ".join(toks) for toks in tokens]
    return detokenize_all(tokens, tok)


def write_lines(path: Path, lines: Sequence[str]) -> None:
    """UTF-8, one per line, written to a temporary file and renamed into place (:func:`write_atomic`)."""
    write_atomic(path, "".join(line + "\n" for line in lines).encode("utf-8"))


# ------------------------------------------------------------------------------- CLI


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write sequences sampled from a checkpoint's generator",
                       description="Sample from a checkpoint's generator and write one decoded sequence per "
                                   "line (an empty line for a sequence that ends at once).")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint of seqgan train / oracle")
    p.add_argument("-n", "--num", "--num-samples", dest="num", type=int, default=100,
                   help="number of sequences (default 100)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divide the logits by T before sampling (default 1: the model's distribution)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_threads_arg(p)
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--pitch-names", action="store_true",
                   help="music (ids tokenizer): write pitch names such as C4 instead of numbers (token = MIDI - 21)")
    p.add_argument("--mcts", type=int, default=0, metavar="SIMULATIONS",
                   help="choose each token by this many Monte Carlo tree-search simulations (PUCT with G as the "
                        "prior and D as the leaf evaluation; docs/value_mcts.md) instead of sampling (default 0: sample)")
    p.add_argument("--c-puct", type=float, metavar="C",
                   help="with --mcts: weight of the prior's exploration bonus in PUCT (default 1)")
    p.add_argument("--leaf", choices=LEAVES,
                   help="with --mcts: a leaf's value is D's score of one roll-out by G (rollout, default) or the "
                        "checkpoint's value network (value)")
    p.add_argument("--move-temperature", type=float, metavar="TAU",
                   help="with --mcts: draw each token with probability N^(1/TAU) of its visit count N (AlphaGo "
                        "Zero's choice) instead of taking the most visited (default 0); with --leaf value, the only "
                        "source of variety between sequences")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.mcts < 0:
        raise SeqGANError(f"--mcts must be 0 (sample) or a number of simulations, got {args.mcts}")
    search_flags = {"--c-puct": args.c_puct, "--leaf": args.leaf, "--move-temperature": args.move_temperature}
    given = [flag for flag, value in search_flags.items() if value is not None]
    if given and not args.mcts:
        raise SeqGANError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only to tree search: add "
                          "--mcts SIMULATIONS, or leave them out")
    c_puct, leaf, move_t = (v if v is not None else d for v, d in zip(search_flags.values(), (1.0, "rollout", 0.0)))
    check_seed(args.seed)
    set_threads(args.threads)
    if args.out:
        check_new_file(args.out, "--out", args.overwrite)
    lines = sample_lines(args.checkpoint, args.num, args.temperature, args.seed, args.pitch_names, args.device,
                         args.mcts, c_puct, leaf, move_t)
    empty = sum(1 for line in lines if not line)
    if args.out:
        write_lines(Path(args.out), lines)
        print(f"wrote {len(lines)} sequences to {args.out}" + (f" ({empty} empty)" if empty else ""),
              file=sys.stderr)
    else:
        sys.stdout.writelines(line + "\n" for line in lines)
    return 0
