"""SPA-VL: forget = (image, question, rejected), retain = (image, question, chosen), as given."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unmirage.data.formats.spavl import data_files, read_records, row_name
from unmirage.data.images import ImageRoot
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.forgetset.options import ForgetSetOptions
from unmirage.forgetset.sets import Built, load_retain_extra, place_images, retain_pairs

SPAVL_FIELDS = ("question", "chosen", "rejected")


def build_spavl(opts: ForgetSetOptions) -> Built:
    """forget = (image, question, rejected), retain = (image, question, chosen), from every
    file of --data (a directory: its shards)."""
    if opts.judge_model is not None or opts.judge != "heuristic":
        raise InputError("--format spavl uses the file's answers: no judge", field="--judge")
    files = data_files(opts.data)
    root = Path(opts.image_root) if opts.image_root is not None else files[0].parent
    images = ImageRoot(root) if not opts.text_only else None
    forget, retain, embedded = [], [], {}
    seen: set[str] = set()
    for path in files:
        for index, rec in enumerate(read_records(path)):
            if not isinstance(rec, dict):
                raise InputError("expected an object", file=str(path), record=index)
            rid = str(rec["id"]) if "id" in rec else row_name(path, index)
            ref = f"{index} (id {rid})"
            if rid in seen:
                raise InputError("duplicate id", file=str(path), record=ref, field="id")
            seen.add(rid)
            text = {}
            for key in SPAVL_FIELDS:
                value = rec.get(key)
                if not isinstance(value, str) or not value.strip():
                    raise InputError(
                        "expected a non-empty string", file=str(path), record=ref, field=key
                    )
                text[key] = value
            image = None if opts.text_only else _spavl_image(rec, rid, ref, path, images, embedded)
            classes = [str(rec[k]) for k in ("class1", "class2", "class3") if rec.get(k)]
            common = {
                "query": text["question"],
                "image": image,
                "category": "/".join(classes) or None,
                "source": f"spavl:{path.name}",
            }
            forget.append(
                Sample(id=f"{rid}#rejected", response=text["rejected"], label="unsafe", **common)
            )
            retain.append(Sample(id=f"{rid}#chosen", response=text["chosen"], **common))
    if not forget:
        raise InputError("no records", file=str(files[0]))
    size = opts.retain_size
    extra = load_retain_extra(opts)
    retain, extra_counts = (
        retain_pairs(retain, extra, opts)
        if size or extra
        else (retain, {"retain": len(retain), "retain_safe": len(retain), "retain_extra": 0})
    )
    if embedded:
        if extra is not None and any(s.image for s in retain if s.source.startswith("retain-")):
            raise InputError(
                "cannot mix embedded SPA-VL images with a top-up that has images",
                field="--retain-extra",
            )
        built = Built(forget, retain, Path(opts.out).resolve(), {}, images=embedded)
    else:
        built = place_images(forget, retain, root, extra, opts)
    built.counts = {"files": len(files), "records": len(forget), "forget": len(forget)}
    built.counts |= extra_counts
    return built


def _spavl_image(
    rec: Mapping[str, Any],
    rid: str,
    ref: str,
    path: Path,
    images: ImageRoot | None,
    embedded: dict[str, bytes],
) -> str:
    """A relative path under the image root, or the bytes of an image stored in the file
    (parquet's {"bytes", "path"}), to be written to OUT/images/."""
    value = rec.get("image")
    if isinstance(value, dict) and value.get("bytes"):
        import io

        from PIL import Image

        data = value["bytes"]
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
                ext = (im.format or "png").lower()
        except Exception:
            raise InputError(
                "embedded image cannot be decoded", file=str(path), record=ref, field="image"
            ) from None
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in rid)
        rel = f"images/spavl-{safe}.{ext}"
        embedded[rel] = data
        return rel
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            "expected an image path or embedded image bytes",
            file=str(path),
            record=ref,
            field="image",
        )
    assert images is not None
    images.check(value, file=str(path), record=ref)
    return value
