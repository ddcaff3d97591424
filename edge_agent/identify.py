"""Fingerprint identification at the counter: 1:N on the sensor for regulars, 1:1 for everyone else.

A sensor holds a few hundred templates (its reported ``capacity``); a shop may have thousands of enrolled
customers. So the box keeps its **regulars** on the sensor and everyone else in its database:

* the last slot (``capacity - 1``) is a scratch slot for capturing a new template at enrolment; slots
  ``0 .. capacity - 2`` hold regulars. ``biometric.sensor_slot`` says whose template sits where and
  ``biometric.last_seen_at`` when that customer was last identified or verified;
* :meth:`Identifier.identify_by_finger` searches the sensor (1:N) and returns the loyalty id of the slot found;
* :meth:`Identifier.verify` (1:1, after the customer gave a phone number or a sticker) sends the customer's
  template from the database to the sensor's buffer and matches one finger against it; a verified customer
  becomes a regular (:meth:`Identifier.load`): when the sensor is full, the least recently seen regular is
  deleted from the sensor to make room (an LRU of the sensor's capacity);
* erasure (consent withdrawn, customer erased) deletes the template from the sensor through the customer
  book's erasure callback; :meth:`Identifier.reconcile` (run at start-up) deletes any template the database
  does not account for and forgets slots the sensor lost, so a crash between the two never leaves a stray
  template on the sensor.

Errors::

    IdentifyError                        root
     +-- NoFinger (TimeoutError)         no finger was placed within the wait
     +-- NotEnrolled (LookupError)       the customer has no fingerprint template on this box
     +-- SensorUnavailable (OSError)     the sensor failed or did not answer; use the phone or the sticker

A sensor fault never escapes as anything but :class:`SensorUnavailable`, with the sensor's own message.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from core.errors import InvalidInput
from edge_agent.customers import CustomerBook
from edge_agent.errors import EdgeError
from edge_agent.store import Store
from hardware.errors import HardwareError
from hardware.fingerprint.interface import EnrolCallback, FingerprintSensor, Template

log = logging.getLogger(__name__)

MAX_FINGER_TIMEOUT_S: Final = 30.0
"""Longest any call waits for a finger: the counter screen must never hang on the sensor."""
MIN_CAPACITY: Final = 2
"""One regular slot and the scratch slot."""


class IdentifyError(EdgeError):
    """Root of the identification errors."""

    code = "identify_error"


class NoFinger(IdentifyError, TimeoutError):
    """No finger was placed on the sensor within the wait."""


class NotEnrolled(IdentifyError, LookupError):
    """The customer has no fingerprint template on this box."""


class SensorUnavailable(IdentifyError, OSError):
    """The fingerprint sensor failed, refused or did not answer."""


@dataclass(frozen=True)
class Reconciliation:
    """What :meth:`Identifier.reconcile` put right."""

    deleted_from_sensor: frozenset[int]
    forgotten_slots: frozenset[int]


def _timeout(timeout_s: float) -> float:
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise InvalidInput("timeout_s", f"must be a positive number of seconds, got {timeout_s!r}")
    return min(float(timeout_s), MAX_FINGER_TIMEOUT_S)


class Identifier:
    """Fingerprint 1:N and 1:1 for one box's sensor; see the module docstring."""

    def __init__(self, store: Store, sensor: FingerprintSensor, book: CustomerBook) -> None:
        self.store = store
        self.sensor = sensor
        self.book = book
        with self._device("report its capacity"):
            capacity = sensor.capacity
        if capacity < MIN_CAPACITY:
            raise SensorUnavailable(f"the fingerprint sensor holds {capacity} templates; at least 2 are needed")
        self.scratch_slot = capacity - 1
        self.regular_slots = capacity - 1
        """How many regulars the sensor holds: every slot but the scratch slot."""
        book.on_fingerprint_erased(self._erase_from_sensor)

    @contextmanager
    def _device(self, action: str) -> Iterator[None]:
        """Map the sensor's errors, once, to this module's."""
        try:
            yield
        except HardwareError as exc:
            if exc.code == "no_finger":
                raise NoFinger(f"no finger was placed on the sensor: {exc}") from exc
            raise SensorUnavailable(
                f"the fingerprint sensor could not {action} ({exc}); try again, or use the phone number or the sticker"
            ) from exc

    # -- identification -----------------------------------------------------------------------------------

    def identify_by_finger(self, timeout_s: float) -> str | None:
        """1:N: the loyalty id of the regular whose finger is on the sensor, or None when none matches."""
        wait_s = _timeout(timeout_s)
        with self._device("search its library"):
            match = self.sensor.identify(finger_timeout_s=wait_s)
        if match is None:
            return None
        row = self.store.conn.execute(
            "SELECT loyalty_id FROM biometric WHERE sensor_slot = ?", (match.slot,)
        ).fetchone()
        if row is None:
            # A template the database does not account for (erased while the sensor was unreachable).
            log.warning("fingerprint slot %d matched but belongs to no customer; deleting it", match.slot)
            with self._device(f"delete slot {match.slot}"):
                self.sensor.delete(match.slot)
            return None
        loyalty_id = str(row[0])
        self._touch(loyalty_id)
        return loyalty_id

    def verify(self, loyalty_id: str, timeout_s: float) -> bool:
        """1:1: whether the finger on the sensor is the customer's. A verified customer becomes a regular."""
        wait_s = _timeout(timeout_s)
        template = self.book.fingerprint_template(loyalty_id)
        if template is None:
            raise NotEnrolled(f"customer {loyalty_id} has no fingerprint on this box; identify them another way")
        with self._device("match the finger"):
            confidence = self.sensor.verify(Template(template), finger_timeout_s=wait_s)
        if confidence is None:
            return False
        self._touch(loyalty_id)
        try:
            self.load(loyalty_id)
        except SensorUnavailable as exc:
            # The customer is verified; only the next 1:N search will not find them.
            log.warning("could not keep customer's template on the sensor: %s", exc)
        return True

    def capture(self, timeout_s: float, *, on_step: EnrolCallback | None = None) -> bytes:
        """Enrol a finger in the scratch slot and return its template (for the enrolment form)."""
        wait_s = _timeout(timeout_s)
        with self._device("capture the fingerprint"):
            try:
                self.sensor.enrol(self.scratch_slot, on_step=on_step, finger_timeout_s=wait_s)
                return self.sensor.export_template(self.scratch_slot).data
            finally:
                # A template left behind here is deleted by the next reconcile; the capture's own error wins.
                with contextlib.suppress(HardwareError):
                    self.sensor.delete(self.scratch_slot)

    # -- the regulars on the sensor -------------------------------------------------------------------------

    def _touch(self, loyalty_id: str) -> None:
        with self.store.transaction() as tx:
            tx.conn.execute(
                "UPDATE biometric SET last_seen_at = ? WHERE loyalty_id = ?", (tx.now.isoformat(), loyalty_id)
            )

    def slot_of(self, loyalty_id: str) -> int | None:
        row = self.store.conn.execute(
            "SELECT sensor_slot FROM biometric WHERE loyalty_id = ?", (loyalty_id,)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def load(self, loyalty_id: str) -> int:
        """Put the customer's template on the sensor (evicting the least recently seen regular if full)."""
        slot = self.slot_of(loyalty_id)
        if slot is not None:
            self._touch(loyalty_id)
            return slot
        template = self.book.fingerprint_template(loyalty_id)
        if template is None:
            raise NotEnrolled(f"customer {loyalty_id} has no fingerprint on this box")
        taken = {int(r[0]) for r in self.store.conn.execute("SELECT sensor_slot FROM biometric WHERE sensor_slot >= 0")}
        slot = next((s for s in range(self.regular_slots) if s not in taken), None)
        if slot is None:
            slot = self._evict()
        with self._device(f"store a template at slot {slot}"):
            self.sensor.import_template(slot, Template(template))
        with self.store.transaction() as tx:
            tx.conn.execute(
                "UPDATE biometric SET sensor_slot = ?, last_seen_at = ? WHERE loyalty_id = ?",
                (slot, tx.now.isoformat(), loyalty_id),
            )
        return slot

    def _evict(self) -> int:
        """Delete the least recently seen regular from the sensor; its slot is free afterwards."""
        loyalty_id, slot = self.store.conn.execute(
            "SELECT loyalty_id, sensor_slot FROM biometric WHERE sensor_slot IS NOT NULL "
            "ORDER BY last_seen_at IS NOT NULL, last_seen_at, loyalty_id LIMIT 1"
        ).fetchone()
        with self._device(f"delete slot {slot}"):
            self.sensor.delete(int(slot))
        with self.store.transaction() as tx:
            tx.conn.execute("UPDATE biometric SET sensor_slot = NULL WHERE loyalty_id = ?", (loyalty_id,))
        return int(slot)

    def load_regulars(self) -> int:
        """Fill free sensor slots with the most recently seen customers not on it yet; returns how many."""
        taken = int(
            self.store.conn.execute("SELECT count(*) FROM biometric WHERE sensor_slot IS NOT NULL").fetchone()[0]
        )
        free = self.regular_slots - taken
        if free <= 0:
            return 0
        rows = self.store.conn.execute(
            "SELECT loyalty_id FROM biometric WHERE sensor_slot IS NULL AND fingerprint_sealed IS NOT NULL "
            "ORDER BY last_seen_at IS NULL, last_seen_at DESC, loyalty_id LIMIT ?",
            (free,),
        ).fetchall()
        for (loyalty_id,) in rows:
            self.load(str(loyalty_id))
        return len(rows)

    def reconcile(self) -> Reconciliation:
        """Make the sensor and the database agree: delete unaccounted templates, forget lost slots."""
        with self._device("read its index"):
            on_sensor = self.sensor.used_slots()
        known = {
            int(slot): str(lid)
            for lid, slot in self.store.conn.execute(
                "SELECT loyalty_id, sensor_slot FROM biometric WHERE sensor_slot IS NOT NULL"
            )
        }
        valid = {slot for slot in known if slot < self.regular_slots}
        stray = frozenset(on_sensor - valid)
        for slot in sorted(stray):
            with self._device(f"delete slot {slot}"):
                self.sensor.delete(slot)
        lost = frozenset(set(known) - (on_sensor & valid))
        if lost:
            with self.store.transaction() as tx:
                tx.conn.executemany(
                    "UPDATE biometric SET sensor_slot = NULL WHERE sensor_slot = ?", [(s,) for s in sorted(lost)]
                )
        return Reconciliation(stray, lost)

    def forget(self, erased: Mapping[str, int | None]) -> None:
        """Delete the former sensor slots of ``{loyalty_id: slot or None}`` (the configuration sync's callback)."""
        for loyalty_id, slot in erased.items():
            if slot is not None:
                self._erase_from_sensor(loyalty_id, slot)

    def _erase_from_sensor(self, loyalty_id: str, slot: int) -> None:
        """The customer book's erasure callback: delete the slot now, or leave it to :meth:`reconcile`."""
        try:
            with self._device(f"delete slot {slot}"):
                self.sensor.delete(slot)
        except SensorUnavailable as exc:
            log.warning("fingerprint slot %d stays on the sensor until the next reconcile: %s", slot, exc)
