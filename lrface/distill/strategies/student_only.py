"""The paper's Baseline: the student alone, cross-entropy on its own head."""

from ..strategy import Strategy, register_strategy


@register_strategy
class StudentOnly(Strategy):
    name = "student-only"
    streams = ("student",)

    def guided(self, stream: str) -> bool:
        return False
