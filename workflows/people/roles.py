"""The roles of domain.md: BPMN lanes are named by these ids; people read the Chinese labels."""

from __future__ import annotations

ROLES: dict[str, str] = {
    "village_director": "儿童主任",
    "village_committee": "村(居)民委员会",
    "township_supervisor": "儿童督导员",
    "county_civil_affairs": "县级民政部门",
    "city_civil_affairs": "市级民政部门",
    "province_civil_affairs": "省级民政部门",
    "protection_center": "未成年人救助保护机构",
    "welfare_institution": "儿童福利机构",
    "police": "公安机关",
    "court": "人民法院",
    "procuratorate": "人民检察院",
    "education": "教育部门",
    "health": "卫生健康部门",
    "medical_insurance": "医疗保障部门",
    "disabled_federation": "残疾人联合会",
    "youth_league": "共青团(12355)",
    "womens_federation": "妇女联合会",
    "judicial_admin": "司法行政部门",
    "process_admin": "流程管理员",
    "user_admin": "账号管理员",
    "auditor": "监督检查/合规",
}

# Roles that take in and handle reports may see who reported (the reporter is protected).
REPORT_HANDLERS: frozenset[str] = frozenset(
    {
        "village_director",
        "township_supervisor",
        "county_civil_affairs",
        "protection_center",
        "police",
        "procuratorate",
        "auditor",
    }
)


def role_label(role: str | None) -> str:
    """The Chinese label of a role id (the id itself when unknown)."""
    return ROLES.get(role or "", role or "")


# Roles that may see a child's full ID number, and only by giving a reason that is logged.
ID_REVEALERS: tuple[str, ...] = (
    "village_director",
    "township_supervisor",
    "county_civil_affairs",
    "police",
    "court",
    "procuratorate",
)

# Roles that work cases (everyone but the administrators and the auditors, who only read or configure).
CASEWORK_ROLES: tuple[str, ...] = tuple(
    r for r in ROLES if r not in ("process_admin", "user_admin", "auditor")
)
