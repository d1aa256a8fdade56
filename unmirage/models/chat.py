"""Chat messages and the LLaVA-1.5-style template of the tiny models.

Every prompt in unmirage is rendered by the processor's own chat template from the same
messages, so a real model (LLaVA, Qwen2-VL) sees its native format and the tiny model sees
the one below, which `AutoProcessor` restores from a saved directory.
"""

from __future__ import annotations

from typing import Any

from unmirage.data.sample import Sample

LLAVA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['content'] is string %}"
    "{% set parts = [{'type': 'text', 'text': message['content']}] %}"
    "{% else %}{% set parts = message['content'] %}{% endif %}"
    "{% if message['role'] == 'assistant' %}ASSISTANT:"
    "{% for part in parts %}{% if part['type'] == 'text' %} {{ part['text'] }}{% endif %}"
    "{% endfor %}{{ eos_token }}"
    "{% else %}{{ message['role'] | upper }}: "
    "{% for part in parts %}{% if part['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for part in parts %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %} "
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
"""`<s>USER: <image>\\n{query} ASSISTANT: {response}</s>`, as in LLaVA-1.5."""


def user_messages(sample: Sample) -> list[dict[str, Any]]:
    """The one user turn of a sample: its image (if any) then its query."""
    content: list[dict[str, Any]] = [{"type": "image"}] if sample.image else []
    content.append({"type": "text", "text": sample.query})
    return [{"role": "user", "content": content}]


def conversation(sample: Sample, response: str) -> list[dict[str, Any]]:
    """The user turn followed by the assistant's `response`."""
    reply = {"role": "assistant", "content": [{"type": "text", "text": response}]}
    return [*user_messages(sample), reply]


def render_prompt(processor: Any, sample: Sample, prefill: str = "") -> str:
    """The prompt text up to where the assistant starts answering; with `prefill`, up to the
    end of an assistant turn that already begins with it (see `assistant_opening`)."""
    prompt = processor.apply_chat_template(
        user_messages(sample), add_generation_prompt=True, tokenize=False
    )
    return prompt + assistant_opening(processor, sample, prefill, prompt) if prefill else prompt


def assistant_opening(processor: Any, sample: Sample, text: str, prompt: str) -> str:
    """What the template writes after `prompt` for an assistant turn that begins with `text`,
    without its end of turn: " Sure," for LLaVA ("ASSISTANT: Sure,"), "Sure," for Qwen2-VL
    ("<|im_start|>assistant\nSure,"). A prefilled answer and a GCG target are placed exactly
    where the model saw answers in training. A template that rewrites `text` (so it cannot be
    found in the rendered turn) gets `text` appended as it is."""
    turn = render_response(processor, sample, text, prompt)
    end = turn.rfind(text)
    return turn[: end + len(text)] if end >= 0 else text


def render_response(processor: Any, sample: Sample, response: str, prompt: str) -> str:
    """The text the template puts after `prompt` for `response`, end-of-turn token included.

    Taken from the template itself, so separators (" " for LLaVA, "\\n" for Qwen2-VL) and the
    end-of-turn token are the ones the model sees at inference. A template whose rendered
    conversation does not extend the generation prompt falls back to response + EOS.
    """
    full = processor.apply_chat_template(conversation(sample, response), tokenize=False)
    if full.startswith(prompt):
        return full[len(prompt) :]
    return response + processor.tokenizer.eos_token
