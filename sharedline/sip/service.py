"""The layer above transactions: a :class:`Service` turns core events into answers.

:class:`OptionsService` is the smallest useful one: it answers OPTIONS with 200 (the liveness
probe of ``sharedline serve``), CANCEL per RFC 3261 §9.2, and everything else with the error
:func:`~sharedline.sip.uas.check_request` implies. The switch is another :class:`Service`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .errors import CallDoesNotExist, ProtocolError
from .events import Event, RequestReceived
from .ids import IdSource
from .responses import make_response, response_for_error
from .transactions import TransactionLayer
from .uas import UasPolicy, check_request, options_response

__all__ = ["Action", "OptionsService", "Service"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base class of the non-SIP work a service asks its adapter to do (persist, notify)."""


class Service(Protocol):
    """Consumes the events of a :class:`TransactionLayer` and acts on it.

    A service may keep timers of its own (``next_deadline``/``handle_timer``) and hand
    non-SIP work to its adapter (``take_actions``), in the same sans-IO manner as the layer.
    """

    def handle(self, event: Event, layer: TransactionLayer, now: float) -> None:
        """React to one event; answers go out through ``layer``."""
        ...

    def handle_timer(self, layer: TransactionLayer, now: float) -> None:
        """Fire the service's own timers due at ``now``."""
        ...

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` should next run."""
        ...

    def take_actions(self) -> list[Action]:
        """Non-SIP work produced since the last call; the list is emptied."""
        ...


class OptionsService:
    """Answers OPTIONS and refuses what it does not serve, with the right status."""

    def __init__(self, *, ids: IdSource, policy: UasPolicy | None = None) -> None:
        self.ids = ids
        self.policy = policy or UasPolicy()

    def handle(self, event: Event, layer: TransactionLayer, now: float) -> None:
        if not isinstance(event, RequestReceived):
            return
        request = event.request
        tag = self.ids.tag()
        if request.method == "CANCEL":
            # §9.2: 200 to a CANCEL that matches an INVITE; this service never has one ringing.
            error = CallDoesNotExist("no INVITE transaction matches this CANCEL")
            response = (
                make_response(request, 200, to_tag=tag)
                if event.cancels is not None
                else response_for_error(request, error, to_tag=tag)
            )
            layer.respond(event.transaction, response, now)
            return
        try:
            check_request(request, self.policy)
        except ProtocolError as error:
            layer.respond(event.transaction, response_for_error(request, error, to_tag=tag), now)
            return
        if request.method == "OPTIONS":
            layer.respond(
                event.transaction, options_response(request, self.policy, to_tag=tag), now
            )

    def handle_timer(self, layer: TransactionLayer, now: float) -> None:
        """This service keeps no timers."""

    def next_deadline(self) -> float | None:
        return None

    def take_actions(self) -> list[Action]:
        return []
