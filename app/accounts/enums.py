"""Account enums; roles and organization kinds live in the kernel so permissions can name them."""

from enum import StrEnum

from app.core.permissions import OrgKind, Role

__all__ = ["Industry", "OrgKind", "Role"]


class Industry(StrEnum):
    """Industry of a regulator (行业监督部门)."""

    HOUSING_CONSTRUCTION = "housing_construction"  # 住建
    TRANSPORT = "transport"  # 交通
    WATER = "water"  # 水利
    FINANCE_PROCUREMENT = "finance_procurement"  # 财政（政府采购）
    LAND_RESOURCES = "land_resources"  # 自然资源
    STATE_ASSETS = "state_assets"  # 国资
    OTHER = "other"
