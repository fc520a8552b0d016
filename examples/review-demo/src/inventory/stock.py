"""Stock levels."""


class Stock:
    def __init__(self) -> None:
        self.levels: dict[str, int] = {}

    def add(self, sku: str, count: int) -> None:
        # TODO: reject negative counts instead of silently accepting them
        self.levels[sku] = self.levels.get(sku, 0) + count

    def remove(self, sku: str, count: int) -> None:
        # FIXME: removing more than is in stock drives the level below zero
        self.levels[sku] = self.levels.get(sku, 0) - count
