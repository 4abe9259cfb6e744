"""Demo guardianship-intervention cases at several steps (fictitious names and numbers)."""

from __future__ import annotations

from typing import Any

_REVIEW_RED = {
    "intake_decision": "accept",
    "situation": "violence",
    "without_guardian": False,
    "immediate_danger": True,
}
_POLICE = {
    "police_arrived_at": "2026-11-20T09:40:00+08:00",
    "child_located": True,
    "child_safe": True,
    "police_measures": ["stop_harm"],
    "criminal_case_filed": False,
    "police_note": "到达现场后制止侵害，儿童暂由祖父母照料。",
}
_ASSESS = {
    "home_visit_date": "2026-11-21",
    "child_file_status": "existing",
    "guardian_capacity": "severely_insufficient",
    "child_needs": ["safety", "psychological"],
    "assessment_summary": "监护人履职能力明显不足，儿童需要人身安全保护和心理疏导。",
}
_COORDINATE = {"coordinated_on": "2026-11-20", "assessment_focus": "监护人履职能力与儿童安全需求"}
_COMMITTEE = {
    "input_date": "2026-11-21",
    "guardian_performance": "infringes",
    "prior_measures": "村委会曾两次上门劝诫。",
}
_CONCLUDE = {
    "assessment_conclusion": "监护人实施家庭暴力，监护严重不足，建议临时监护。",
    "guardian_capacity_final": "severely_insufficient",
    "assessment_route": "standard",
}
_LEGAL_AID = {
    "aid_accepted_on": "2026-11-22",
    "aid_lawyer": "大足区法律援助中心",
    "aid_matter": "申请人身安全保护令",
}
_DECIDE_CUSTODY = {
    "assessment_decision": "temporary_custody",
    "decision_basis": "监护评估结论。",
    "legal_aid_referred": True,
}
_CUSTODY = {
    "custody_decision_no": "大足民临监〔2026〕3号",
    "custody_start_date": "2026-11-22",
    "custody_grounds": "监护人实施家庭暴力，儿童在家中面临危险。",
    "placement": "relatives",
}
_RELATIVES = {
    "relative_name": "演示祖父",
    "relative_relationship": "祖父",
    "relative_capacity_confirmed": True,
    "entrustment_agreement_date": "2026-11-22",
    "follow_up_director_assigned": True,
}
_PETITION = {
    "petition_type": "protection_order",
    "petition_grounds": "父亲多次实施家庭暴力。",
    "petition_filed_on": "2026-11-23",
    "procuratorate_support_requested": False,
}


def _report(name: str, situation: str, danger: bool, text: str) -> dict[str, Any]:
    return {
        "reporter_type": "village_director",
        "reporter_name": "演示报告人",
        "reporter_phone": "13900000000",
        "situation": situation,
        "without_guardian": False,
        "immediate_danger": danger,
        "child_known": True,
        "child_name": name,
        "location_description": "金龙村三组",
        "description": text,
    }


STORIES: list[dict[str, Any]] = [
    {
        "title": "新报告，待救助保护机构受理",
        "process_key": "guardianship_intervention",
        "start": _report("演示儿童甲", "living_alone", False, "儿童独自在家多日，无人照料。"),
        "steps": [],
    },
    {
        "title": "红色案件，待公安出警",
        "process_key": "guardianship_intervention",
        "start": _report("演示儿童乙", "violence", True, "邻居反映儿童被家长殴打。"),
        "steps": [("review_report", _REVIEW_RED)],
    },
    {
        "title": "待监护评估",
        "process_key": "guardianship_intervention",
        "start": _report("演示儿童丙", "violence", True, "父亲酒后打骂儿童。"),
        "steps": [("review_report", _REVIEW_RED), ("emergency_response_police", _POLICE)],
    },
    {
        "title": "临时监护中，待法院裁判",
        "process_key": "guardianship_intervention",
        "start": _report("演示儿童丁", "violence", True, "父亲多次实施家庭暴力，母亲无力制止。"),
        "steps": [
            ("review_report", _REVIEW_RED),
            ("emergency_response_police", _POLICE),
            ("coordinate_assessment", _COORDINATE),
            ("assess_guardianship", _ASSESS),
            ("committee_guardianship_input", _COMMITTEE),
            ("conclude_assessment", _CONCLUDE),
            ("decide_intervention", _DECIDE_CUSTODY),
            ("provide_legal_aid", _LEGAL_AID),
            ("decide_temporary_custody", _CUSTODY),
            ("place_with_relatives", _RELATIVES),
            ("decide_court_petition", _PETITION),
        ],
    },
    {
        "title": "重复报告，已结案",
        "process_key": "guardianship_intervention",
        "start": _report("演示儿童甲", "living_alone", False, "同一情况的再次报告。"),
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "duplicate",
                    "close_reason": "与前一报告为同一情况。",
                    "duplicate_of_case": "演示案件",
                    "situation": "living_alone",
                    "without_guardian": False,
                    "immediate_danger": False,
                },
            ),
            (
                "emergency_response_police",
                _POLICE,
            ),  # a report of a child living alone went to the police at once
            ("notify_reporter", {"notification_method": "not_contactable"}),
        ],
    },
]


def _id_number(region: str, born: str, seq: str) -> str:
    """A fictitious ID number with a valid check digit (GB 11643), for the demo only."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = f"{region}{born.replace('-', '')}{seq}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


# Demo children's files (fictitious): the cases above about the same child are filed under them.
CHILDREN: list[dict[str, Any]] = [
    {
        "name": name,
        "gender": gender,
        "birth_date": born,
        "id_number": _id_number("500111", born, seq),
        "household": "rural",
        "address": address,
        "guardians": [{"name": guardian, "relation": relation, "phone": "13900000001"}],
        "categories": categories,
        "risk_colour": colour,
    }
    for name, gender, born, seq, address, guardian, relation, categories, colour in (
        (
            "演示儿童甲",
            "female",
            "2015-04-12",
            "122",
            "金龙村三组",
            "演示祖母",
            "祖母",
            ["留守儿童"],
            "yellow",
        ),
        ("演示儿童乙", "male", "2013-09-30", "131", "金龙村一组", "演示父亲乙", "父亲", [], "red"),
        ("演示儿童丙", "male", "2014-01-01", "123", "金龙村三组", "演示母亲丙", "母亲", [], "red"),
        (
            "演示儿童丁",
            "female",
            "2012-06-18",
            "144",
            "金龙村二组",
            "演示祖父",
            "祖父",
            ["国家监护儿童"],
            "red",
        ),
        ("演示儿童戊", "male", "2016-11-05", "151", "金龙村五组", "演示外婆", "外祖母", ["留守儿童"], "blue"),
    )
]
