"""Hinton KD from a fixed, pre-trained teacher: L = ce * CE + cross_kl * KL_T * T^2, heads only."""

from ...errors import UserError
from ..strategy import Strategy, register_strategy


@register_strategy
class KD(Strategy):
    name = "kd"

    @classmethod
    def check(cls, cfg) -> None:
        if not cfg.teacher.checkpoint:
            raise UserError("strategy kd needs a fixed teacher: set teacher.checkpoint to a teacher-only run")

    def guided(self, stream: str) -> bool:
        return False

    def trains(self, stream: str) -> bool:
        return stream == "student"
