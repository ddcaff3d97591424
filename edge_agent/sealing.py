"""Biometrics sealed with AES-256-GCM: at rest on the box, and for the trip to the hub.

Two keys, two purposes:

* the **box key** seals templates, face images and anything biometric in the box's database. It is 32 random
  bytes in a file beside the database (``biometric.key``, created with mode 0600 the first time it is needed)
  or a file named by configuration. It never leaves the box: a copied database is useless without it.
* the **tenant key** is shared by every box of a distributor and its hub (provisioning installs it). It seals
  a fingerprint template for ``EnrolmentData.fingerprint_template`` and ``CustomerUpdateData``, and opens the
  templates the hub sends back in the customer cache. A template never crosses the network in the clear.

The sealed format (both purposes; the hub reads the transport form, so it is written down here exactly)::

    version (1 byte, 0x01) | key id (4 bytes) | nonce (12 bytes) | AES-GCM ciphertext and 16-byte tag

``key id`` is the first four bytes of ``SHA-256(b"mostrador key id" + key)``: it tells a wrong key apart from
tampered data without revealing anything useful about a 256-bit key. The associated data, authenticated but
not stored, binds the ciphertext to where it belongs::

    b"mostrador/" + purpose + b"/v1\\0" + kind + b"\\0" + loyalty_id + b"\\0" + header

with ``purpose`` ``rest`` or ``transport`` and ``kind`` ``fingerprint`` or ``face``; ``header`` is the 17
bytes before the ciphertext. Moving a sealed template to another customer's row, or passing a box-sealed blob
off as a transport one, fails to open exactly as a tampered one does. The transport form travels as standard
base64 text.

Errors::

    SealingError                   root
     +-- KeyFileError (OSError)    the key file cannot be read or created, or is not a key
     +-- WrongKey (ValueError)     sealed with another key (another box's, another tenant's)
     +-- TamperedData (ValueError) the bytes, the customer or the kind do not match what was sealed
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge_agent.errors import EdgeError

KEY_SIZE_BYTES: Final = 32
"""AES-256."""
NONCE_SIZE_BYTES: Final = 12
KEY_ID_SIZE_BYTES: Final = 4
FORMAT_VERSION: Final = 1
HEADER_SIZE_BYTES: Final = 1 + KEY_ID_SIZE_BYTES + NONCE_SIZE_BYTES
TAG_SIZE_BYTES: Final = 16
MAX_PLAINTEXT_BYTES: Final = 2 * 1024 * 1024
"""Largest thing sealed: a face image from the counter camera is well under this."""
MAX_KEY_FILE_BYTES: Final = 256
"""A key file is 32 raw bytes or their base64 text; anything larger is not a key file."""
BOX_KEY_FILE_NAME: Final = "biometric.key"

Kind = Literal["fingerprint", "face"]
Purpose = Literal["rest", "transport"]


class SealingError(EdgeError):
    """Root of the sealing errors."""

    code = "sealing_error"


class KeyFileError(SealingError, OSError):
    """A key file that cannot be read or created, or that does not hold a key."""


class WrongKey(SealingError, ValueError):
    """The data was sealed with another key."""


class TamperedData(SealingError, ValueError):
    """The sealed bytes were changed, or belong to another customer or kind."""


def key_id(key: bytes) -> bytes:
    """The four bytes that name a key in its sealed blobs."""
    return hashlib.sha256(b"mostrador key id" + key).digest()[:KEY_ID_SIZE_BYTES]


def _check_key(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE_BYTES:
        size = len(key) if isinstance(key, bytes) else type(key).__name__
        raise KeyFileError(f"the {what} must be {KEY_SIZE_BYTES} bytes, got {size}")
    return key


class Sealer:
    """Seals and opens biometric data with one key for one purpose (``rest`` or ``transport``)."""

    def __init__(self, key: bytes, purpose: Purpose, *, entropy: Callable[[int], bytes] = os.urandom) -> None:
        if purpose not in ("rest", "transport"):
            raise ValueError(f"purpose must be 'rest' or 'transport', not {purpose!r}")
        self._aead = AESGCM(_check_key(key, f"{purpose} key"))
        self._key_id = key_id(key)
        self.purpose: Purpose = purpose
        self._entropy = entropy

    def _aad(self, kind: str, loyalty_id: str, header: bytes) -> bytes:
        return b"mostrador/%s/v1\0%s\0%s\0%s" % (
            self.purpose.encode(),
            kind.encode(),
            loyalty_id.encode(),
            header,
        )

    def seal(self, plaintext: bytes, *, loyalty_id: str, kind: Kind) -> bytes:
        """Encrypt ``plaintext`` for ``loyalty_id``'s ``kind`` of biometric."""
        if not isinstance(plaintext, bytes) or not 1 <= len(plaintext) <= MAX_PLAINTEXT_BYTES:
            raise ValueError(f"only 1 to {MAX_PLAINTEXT_BYTES} bytes can be sealed")
        nonce = self._entropy(NONCE_SIZE_BYTES)
        header = bytes([FORMAT_VERSION]) + self._key_id + nonce
        return header + self._aead.encrypt(nonce, plaintext, self._aad(kind, loyalty_id, header))

    def sealed_by_this_key(self, sealed: bytes) -> bool:
        """Whether ``sealed`` names this key in its header (it may still be tampered with)."""
        return len(sealed) >= HEADER_SIZE_BYTES and sealed[1 : 1 + KEY_ID_SIZE_BYTES] == self._key_id

    def open(self, sealed: bytes, *, loyalty_id: str, kind: Kind) -> bytes:
        """Decrypt what :meth:`seal` made for this customer and kind; WrongKey or TamperedData otherwise."""
        if len(sealed) < HEADER_SIZE_BYTES + TAG_SIZE_BYTES or sealed[0] != FORMAT_VERSION:
            raise TamperedData(
                f"the sealed {kind} of {loyalty_id} is not in sealed format v{FORMAT_VERSION}: "
                "it was damaged or written by something else; enrol it again"
            )
        header = bytes(sealed[:HEADER_SIZE_BYTES])
        if header[1 : 1 + KEY_ID_SIZE_BYTES] != self._key_id:
            raise WrongKey(
                f"the {kind} of {loyalty_id} was sealed with another {self.purpose} key "
                f"(key id {header[1:5].hex()}, this key is {self._key_id.hex()}): "
                "check that the right key file is configured"
            )
        nonce = header[1 + KEY_ID_SIZE_BYTES :]
        try:
            return self._aead.decrypt(nonce, bytes(sealed[HEADER_SIZE_BYTES:]), self._aad(kind, loyalty_id, header))
        except InvalidTag as exc:
            raise TamperedData(
                f"the sealed {kind} of {loyalty_id} does not open: it was altered, or it belongs to another "
                "customer; enrol it again"
            ) from exc

    def seal_text(self, plaintext: bytes, *, loyalty_id: str, kind: Kind) -> str:
        """:meth:`seal` as base64 text, the form carried in wire events."""
        return base64.b64encode(self.seal(plaintext, loyalty_id=loyalty_id, kind=kind)).decode("ascii")

    def open_text(self, text: str, *, loyalty_id: str, kind: Kind) -> bytes:
        """:meth:`open` for the base64 text of :meth:`seal_text`."""
        try:
            sealed = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise TamperedData(f"the sealed {kind} of {loyalty_id} is not base64 text") from exc
        return self.open(sealed, loyalty_id=loyalty_id, kind=kind)


def read_key_file(path: Path) -> bytes:
    """Read a key: 32 raw bytes, or their base64 text (a line a technician can paste into a file)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc.strerror or exc}") from exc
    if len(raw) == KEY_SIZE_BYTES:
        return raw
    try:
        decoded = base64.b64decode(raw.strip(), validate=True)
    except binascii.Error:
        decoded = b""
    if len(decoded) != KEY_SIZE_BYTES:
        raise KeyFileError(
            f"{path} does not hold a key: expected {KEY_SIZE_BYTES} raw bytes or their base64 text, "
            f"found {len(raw)} bytes"
        )
    return decoded


def load_or_create_box_key(path: Path, *, entropy: Callable[[int], bytes] = os.urandom) -> bytes:
    """The box key at ``path``, created (mode 0600, owner only) when there is none yet.

    An existing key file that group or others may read is refused: the key protects biometrics.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{path} may be read by other users (mode {stat.filemode(mode)}); run `chmod 600 {path}`"
            ) from None
        return read_key_file(path)
    except OSError as exc:
        raise KeyFileError(f"cannot create the key file {path}: {exc.strerror or exc}") from exc
    key = entropy(KEY_SIZE_BYTES)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def box_key_path(database: Path) -> Path:
    """Where the box key lives by default: beside the database."""
    return database.parent / BOX_KEY_FILE_NAME
