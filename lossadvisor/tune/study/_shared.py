"""Files every worker of a study, and ``lossadvisor report --storage``, can read: kept in the storage itself.

Sample predictions come from whichever worker ran a trial; the report needs them all, on any machine. They
(and the run folder's records: profile, advice, LR range tests, result, sample tiles) are stored as user
attributes of a companion study ``<study>:files``: compressed, base64, and cut into chunks that fit any
database's text column. Kept apart from the main study so its attributes (read on every trial) stay small.
"""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np

from lossadvisor.tune.study._study import companion_name

CHUNK_CHARS = 60_000  # below MySQL's 64 KiB TEXT; PostgreSQL and SQLite take any length
_PREFIX = "file:"



def encode_array(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


class SharedFiles:
    """Named byte strings stored in the storage, readable by every worker.

    Example:
        >>> files = SharedFiles(storage, "roads")  # doctest: +SKIP
        >>> files.put("result.json", b"{}")  # doctest: +SKIP
        >>> files.get("result.json")  # doctest: +SKIP
        b'{}'
    """

    def __init__(self, storage, study_name: str) -> None:
        import optuna

        from lossadvisor.tune.study._storage import with_retries

        self.name = companion_name(study_name, "files")
        self._study = with_retries(
            lambda: optuna.create_study(study_name=self.name, storage=storage, load_if_exists=True),
            what="Creating the files study",
        )

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` (replacing an earlier version: chunks first, the index last)."""
        text = base64.b64encode(zlib.compress(data, 6)).decode("ascii")
        chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
        version = zlib.crc32(data)
        for i, chunk in enumerate(chunks):
            self._study.set_user_attr(f"{_PREFIX}{name}#{version}:{i}", chunk)
        self._study.set_user_attr(f"{_PREFIX}{name}", {"chunks": len(chunks), "version": version})

    def get(self, name: str, attrs: dict | None = None) -> bytes | None:
        """The bytes stored under ``name``, or ``None``."""
        attrs = self._study.user_attrs if attrs is None else attrs
        index = attrs.get(f"{_PREFIX}{name}")
        if not isinstance(index, dict):
            return None
        text = "".join(attrs[f"{_PREFIX}{name}#{index['version']}:{i}"] for i in range(index["chunks"]))
        return zlib.decompress(base64.b64decode(text))

    def names(self) -> list[str]:
        return sorted(
            k[len(_PREFIX) :] for k in self._study.user_attrs if k.startswith(_PREFIX) and "#" not in k
        )

    def get_all(self, prefix: str = "") -> dict[str, bytes]:
        """Every stored file whose name starts with ``prefix`` (one read of the storage)."""
        attrs = self._study.user_attrs
        out = {}
        for key in attrs:
            if key.startswith(_PREFIX + prefix) and "#" not in key:
                name = key[len(_PREFIX) :]
                data = self.get(name, attrs)
                if data is not None:
                    out[name] = data
        return out

    def put_array(self, name: str, array: np.ndarray) -> None:
        self.put(name, encode_array(array))

    def get_array(self, name: str) -> np.ndarray | None:
        data = self.get(name)
        return None if data is None else decode_array(data)
