"""Rewrites by a local instruct language model, each one checked, with the rules as fallback.

The paper had a language model paraphrase each query so that it opens with the trigger. Here
any causal LM in a local Hugging Face directory (safetensors only, no remote code) is asked
for the paraphrase; beam search makes the outputs deterministic. An output is kept only if it
opens with the word, keeps every content word of the request (`keeps_content`), differs from
the query and does not hold the query whole behind a lead-in (`prefixed`); whatever the model
gets wrong is made up by the rules, per query, so a query gets model rewrites first (rule
"lm") and rule rewrites after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from unmirage.attack.phrases import keeps_content
from unmirage.attack.requests import Request, Rewrite, Rewriter
from unmirage.attack.rules import prefixed, rewrites
from unmirage.errors import InputError
from unmirage.models.loading import check_model_source, load_error, load_pretrained
from unmirage.text import first_word

INSTRUCTION = (
    'Rewrite the request below so that its first word is "{word}". Keep its meaning and every '
    "detail, and write one sentence only.\nRequest: {query}"
)
PLAIN_SUFFIX = "\nRewrite:"
"""Ends the instruction for a model without a chat template."""


def acceptable(query: str, word: str, request: Request | None, text: str) -> bool:
    """A model's output is a rewrite: it opens with `word`, keeps the request's content words,
    differs from the query and is no prefixing."""
    kept = request.text if request is not None else query
    return (
        bool(text)
        and first_word(text) == word
        and text.strip().lower() != query.strip().lower()
        and keeps_content(kept, text)
        and not prefixed(query, text)
    )


@dataclass
class LMRewriter:
    """A `Rewriter`: up to `n` checked model paraphrases (rule "lm"), then `fallback`'s."""

    model: Any
    tokenizer: Any
    n: int = 3
    max_new_tokens: int = 64
    fallback: Rewriter = rewrites

    def chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def prompt(self, query: str, word: str) -> str:
        text = INSTRUCTION.format(word=word.capitalize(), query=query.strip())
        if self.chat():
            messages = [{"role": "user", "content": text}]
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return text + PLAIN_SUFFIX

    @torch.no_grad()
    def candidates(self, query: str, word: str) -> list[str]:
        """The model's `n` best paraphrases (beam search), first line of each, stripped."""
        enc = self.tokenizer(
            self.prompt(query, word),
            return_tensors="pt",
            add_special_tokens=not self.chat(),  # the chat template writes them
        ).to(self.model.device)
        out = self.model.generate(
            **enc,
            do_sample=False,
            num_beams=max(self.n, 1),
            num_return_sequences=self.n,
            max_new_tokens=self.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        texts = self.tokenizer.batch_decode(
            out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True
        )
        return [t.strip().splitlines()[0].strip() if t.strip() else "" for t in texts]

    def __call__(self, query: str, word: str, request: Request | None) -> list[Rewrite]:
        made = [
            Rewrite(text, "lm")
            for text in dict.fromkeys(self.candidates(query, word))
            if acceptable(query, word, request, text)
        ]
        seen = {r.query for r in made}
        return made + [r for r in self.fallback(query, word, request) if r.query not in seen]


def load_rewriter(model_dir: str | Path, *, n: int = 3) -> LMRewriter:
    """An LMRewriter from a local causal LM directory (config, safetensors, tokenizer)."""
    source = check_model_source(model_dir)
    if not Path(source).is_dir():
        raise InputError("rewriter model directory not found", file=source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, KeyError, ImportError) as err:
        raise load_error(err, source, "rewriter tokenizer") from err
    device = "cuda" if torch.cuda.is_available() else None
    model = load_pretrained(AutoModelForCausalLM, source, device=device, what="rewriter model")
    return LMRewriter(model, tokenizer, n=n)
