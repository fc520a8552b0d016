"""Reports over stock levels."""


def low_stock(levels: dict[str, int], threshold: int = 5) -> list[str]:
    # TODO: make the threshold configurable per SKU
    return sorted(sku for sku, count in levels.items() if count < threshold)


def render(levels: dict[str, int]) -> str
    return "\n".join(f"{sku}: {count}" for sku, count in sorted(levels.items()))
