"""Be-Your-Own-Teacher self-distillation: the student's within-stream losses only, no teacher."""

from ..strategy import Strategy, register_strategy


@register_strategy
class BYOT(Strategy):
    name = "byot"
    streams = ("student",)
