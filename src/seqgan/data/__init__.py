"""SeqGAN's data layer: tokenizers, vocabulary, corpus files to tensors, real-data corpora.

The corpora (:mod:`seqgan.data.corpora`) are imported on demand, not from here.
"""

from seqgan.data.text import EncodedCorpus, encode_corpus, load_id_sequences, load_lines
from seqgan.data.tokenizers import TOKENIZERS, Tokenizer, get_tokenizer
from seqgan.data.vocab import Vocab

__all__ = [
    "EncodedCorpus", "encode_corpus", "load_id_sequences", "load_lines",
    "TOKENIZERS", "Tokenizer", "get_tokenizer", "Vocab",
]
