"""Hinton KD from a fixed, pre-trained teacher: L = ce * CE + cross_kl * KL_T * T^2, heads only."""

from ..strategy import Strategy, register_strategy


@register_strategy
class KD(Strategy):
    name = "kd"

    def guided(self, stream: str) -> bool:
        return False

    def trains(self, stream: str) -> bool:
        return stream == "student"
