"""Images named by data files, opened only inside their root directory and under size caps.

One rule for every command: a data file's `image` paths are relative to the image root given
for that file (`--image-root`), else to the reader's default (the file's own directory, or a
benchmark's image folder). The reader stamps that root on each sample (`Sample.image_root`);
`Images` opens any sample's image against it, so samples of several files (VLGuard beside an
instruction set whose images live elsewhere) mix freely in one batch.

Data files come from strangers: an `image` field such as "../../etc/passwd", an absolute
path, a symlink out of the tree or a 100k x 100k PNG must end as a clear `InputError`, not as
a read outside the data set or an exhausted machine (`ImageRoot` confines one directory).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from PIL import Image

from unmirage.data.sample import Sample
from unmirage.errors import InputError

DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_BYTES = 32 * 2**20

EVERY = "*"
"""The key of an image-root mapping that holds the root of every file not named in it."""

RootRule = str | Path | Mapping[str, str | Path] | None
"""What `--image-root` says: nothing (each file's default root), one directory for every file,
or NAME -> directory, where NAME is a file as given on the command line or, in `reproduce`, an
input's name (safety, helpful, test, forget, retain), and `EVERY` the root of the rest."""


def root_for(rule: RootRule, *names: str | Path) -> Path | None:
    """The image root `rule` gives a file known by `names`; None leaves the reader's default
    (the file's own directory, or a benchmark's image folder)."""
    if rule is None:
        return None
    if not isinstance(rule, Mapping):
        return Path(rule)
    for name in (*(str(Path(n)) for n in names), EVERY):
        if name in rule:
            return Path(rule[name])
    return None


def add_image_root_option(parser: Any) -> None:
    """`--image-root [FILE=]DIR` as `align` and `eval` take it (read back with `parse_roots`)."""
    parser.add_argument(
        "--image-root",
        action="append",
        metavar="[FILE=]DIR",
        help="directory the image paths of FILE (as given), or of every file without its own, "
        "are relative to; repeatable (default: each file's directory)",
    )


def parse_roots(
    values: Sequence[str] | None, names: Iterable[str], option: str = "--image-root"
) -> str | dict[str, str] | None:
    """`--image-root` values as a `RootRule`: "DIR" for every file, "NAME=DIR" for the file or
    input NAME (one of `names`; any other text is a directory, "=" and all)."""
    if not values:
        return None
    known = {str(Path(n)) for n in names}
    rule: dict[str, str] = {}
    for value in values:
        name, sep, directory = value.partition("=")
        named = sep and name and str(Path(name)) in known
        key, root = (str(Path(name)), directory) if named else (EVERY, value)
        if key in rule:
            what = "one directory for every file" if key == EVERY else f"one directory for {key}"
            raise InputError(f"give {what}, not two ({rule[key]!r}, {root!r})", field=option)
        if not root:
            raise InputError(f"{value!r} names no directory", field=option)
        rule[key] = root
    return rule[EVERY] if list(rule) == [EVERY] else rule


class ImageRoot:
    """Resolves and opens images relative to `root`, refusing anything outside it.

    `max_pixels` caps width x height (checked from the header, before any pixel is
    decoded) and `max_bytes` caps the file size. Every failure is an `InputError` with field
    "image", naming the data file and record passed by the caller.
    """

    def __init__(
        self,
        root: str | Path,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.root = Path(root).resolve()
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        if not self.root.is_dir():
            raise InputError(f"image root {root} is not a directory")

    def resolve(
        self, rel: str, *, file: str | None = None, record: int | str | None = None
    ) -> Path:
        """The existing regular file `rel` names inside the root (symlinks resolved)."""

        def fail(message: str) -> InputError:
            return InputError(message, file=file, record=record, field="image")

        if not isinstance(rel, str) or not rel.strip():
            raise fail("expected a non-empty relative path")
        if "\x00" in rel:
            raise fail("path contains a NUL character")
        if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).anchor:
            raise fail(f"absolute path {rel!r} not allowed; give a path relative to the root")
        if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
            raise fail(f"path {rel!r} leaves the image root ('..')")
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root):
            raise fail(f"{rel!r} resolves outside the image root {self.root} (symlink)")
        if not path.exists():
            raise fail(f"image {rel!r} not found under {self.root}")
        if not path.is_file():
            raise fail(f"image {rel!r} is not a regular file")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise fail(f"image {rel!r} has {size} bytes, over the cap of {self.max_bytes} bytes")
        return path

    def check(
        self, rel: str, *, file: str | None = None, record: int | str | None = None
    ) -> tuple[int, int]:
        """Resolve and decode `rel` once; returns (width, height). A truncated or corrupt file
        fails here, when the data is loaded, not batches into a run (decoding is bounded:
        the pixel cap is checked from the header first)."""
        return self.load(rel, file=file, record=record).size

    def load(
        self, rel: str, *, file: str | None = None, record: int | str | None = None
    ) -> Image.Image:
        """Resolve, check and fully decode `rel` as an RGB image."""
        with self._open(rel, file=file, record=record) as image:
            try:
                return _to_rgb(image)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
                raise InputError(
                    f"image {rel!r} cannot be decoded: {err}",
                    file=file,
                    record=record,
                    field="image",
                ) from None

    def _open(self, rel: str, *, file: str | None, record: int | str | None) -> Image.Image:
        """Open lazily (header only) and enforce the pixel cap before any decoding."""
        path = self.resolve(rel, file=file, record=record)
        try:
            image = Image.open(path)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            raise InputError(
                f"image {rel!r} is not a readable image: {err}",
                file=file,
                record=record,
                field="image",
            ) from None
        width, height = image.size
        if width * height > self.max_pixels:
            image.close()
            raise InputError(
                f"image {rel!r} is {width}x{height} = {width * height} pixels, over the cap "
                f"of {self.max_pixels}",
                file=file,
                record=record,
                field="image",
            )
        return image


class Images:
    """Opens each sample's image inside the root it was read with (`Sample.image_root`).

    With `cache`, each image is decoded once: a training run revisits every image many times.
    """

    def __init__(self, *, cache: bool = False) -> None:
        self.roots: dict[str, ImageRoot] = {}
        self.cache: dict[tuple[str, str], Image.Image] | None = {} if cache else None

    def load(self, sample: Sample) -> Image.Image:
        if sample.image is None or sample.image_root is None:
            raise InputError(
                "names no image"
                if sample.image is None
                else "has no image root: "
                "samples with images must be read from a file (its root is set there)",
                record=sample.id,
                field="image",
            )
        key = (sample.image_root, sample.image)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        if sample.image_root not in self.roots:
            self.roots[sample.image_root] = ImageRoot(sample.image_root)
        image = self.roots[sample.image_root].load(sample.image, record=sample.id)
        if self.cache is not None:
            self.cache[key] = image
        return image


SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB of any mode: 16-bit grey is scaled to 8 bits (Pillow's own conversion clips every
    value above 255 to white); CMYK, palette, grey and alpha images convert as Pillow does;
    an animated image gives its first frame."""
    if image.mode in SIXTEEN_BIT_MODES:
        import numpy as np  # only here: the command line's data path stays numpy-free

        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8
        image = Image.fromarray(values.astype(np.uint8), "L")
    return image.convert("RGB")
