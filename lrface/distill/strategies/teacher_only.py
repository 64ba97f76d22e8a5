"""Train a teacher alone (to be reused as the fixed teacher of KD); guided modules per config."""

from ..strategy import Strategy, register_strategy


@register_strategy
class TeacherOnly(Strategy):
    name = "teacher-only"
    streams = ("teacher",)

    def trains(self, stream: str) -> bool:
        return stream == "teacher"
