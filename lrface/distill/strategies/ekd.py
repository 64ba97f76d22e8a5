"""EKD (Algorithm 1): evolutionary teacher + guided module pairs + within/cross-stream losses."""

from ..strategy import Strategy, register_strategy


@register_strategy
class EKD(Strategy):
    name = "ekd"
