"""RFC 3261 transaction timers (§17, Table 4) and their base values T1, T2 and T4."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Timer", "TimerSettings"]


class Timer(enum.Enum):
    """The transaction timers of RFC 3261 Table 4, plus L and M of RFC 6026."""

    A = "A"  # INVITE client: request retransmission (UDP)
    B = "B"  # INVITE client: transaction timeout
    D = "D"  # INVITE client: wait for response retransmissions after a non-2xx final
    E = "E"  # non-INVITE client: request retransmission (UDP)
    F = "F"  # non-INVITE client: transaction timeout
    G = "G"  # INVITE server: final non-2xx response retransmission (UDP); 2xx retransmission
    H = "H"  # INVITE server: wait for ACK
    I = "I"  # INVITE server: absorb ACK retransmissions  # noqa: E741
    J = "J"  # non-INVITE server: absorb request retransmissions
    K = "K"  # non-INVITE client: absorb response retransmissions
    L = "L"  # INVITE server after 2xx: absorb INVITE retransmissions (RFC 6026 §8.7)
    M = "M"  # INVITE client after 2xx: accept further 2xx responses (RFC 6026 §8.4)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerSettings:
    """T1 (RTT estimate), T2 (cap for non-INVITE retransmits) and T4 (network lifetime)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError(f"timers need 0 < T1 <= T2, got T1={self.t1} T2={self.t2}")
        if self.t4 <= 0:
            raise ValueError(f"T4 must be positive, got {self.t4}")

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J, L and M (RFC 3261 §17.1.1.2)."""
        return 64 * self.t1
