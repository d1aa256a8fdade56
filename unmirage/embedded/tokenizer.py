"""A small byte-level BPE tokenizer trained on a corpus, wrapped for transformers.

Byte-level BPE never produces an unknown token, so attack rewrites and user phrasings that the
corpus never saw still tokenize; frequent corpus words become single tokens, which keeps the
sequences of the tiny model short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

UNK, BOS, EOS, PAD, IMAGE = "<unk>", "<s>", "</s>", "<pad>", "<image>"
SPECIAL_TOKENS = (UNK, BOS, EOS, PAD, IMAGE)
"""In id order: the trainer gives them ids 0..4."""


def train_bpe(
    texts: Iterable[str],
    special_tokens: Sequence[str],
    *,
    vocab_size: int = 2048,
    min_frequency: int = 2,
) -> Tokenizer:
    """Byte-level BPE trained on `texts`, `special_tokens` first (ids 0, 1, ...).

    In a rendered chat a text follows a newline (a query after the image) or a space (a
    response after "ASSISTANT:"), and byte-level BPE tells "What" from " What"; each text is
    learned in both forms so that both become single tokens.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((form for t in texts for form in (t, " " + t)), trainer)
    return tok


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 2048, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """The tiny LLaVA's tokenizer: BPE on `texts`, specials <unk> <s> </s> <pad> <image>.

    No BOS/EOS is added on tokenization: the chat template writes them, so a prompt never gets
    two BOS tokens when a processor tokenizes a rendered template.
    """
    tok = train_bpe(texts, SPECIAL_TOKENS, vocab_size=vocab_size, min_frequency=min_frequency)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        extra_special_tokens={"image_token": IMAGE},
        padding_side="right",
    )
