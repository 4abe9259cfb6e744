"""Scenarios for bpmn/guardianship_intervention (监护干预): pure data.

Each scenario: the start form data, the user-task steps in order (task bpmn id, form data), the end event
the main path must reach and whether the workflow completes. A step ``("__timer__", "PT25H")`` means
"advance the clock by that ISO-8601 duration and fire due timers". Together the scenarios take every
sequence flow of the model at least once. All names and numbers are fictitious.
"""

from typing import Any

# ----------------------------------------------------------------------------- reusable step data

NOTIFY_HANDLED_BY_PHONE: dict[str, Any] = {
    "notification_method": "phone",
    "notified_on": "2025-04-30",
    "told_outcome": "handled",
}

NOT_CONTACTABLE: dict[str, Any] = {"notification_method": "not_contactable"}

POLICE_DONE: dict[str, Any] = {
    "police_arrived_at": "2025-03-03T09:40:00+08:00",
    "child_located": True,
    "child_safe": True,
    "police_measures": ["stop_harm", "escort_to_center"],
    "criminal_case_filed": True,
    "police_note": "到达现场后制止侵害，儿童已脱离危险。",
}

TAKEN_IN: dict[str, Any] = {
    "taken_in_at": "2025-03-03T10:30:00+08:00",
    "handed_over_by": "police",
    "health_check_done": True,
    "guardian_notified": False,
    "care_note": "已安排临时住宿和生活照料。",
}


ASSESSMENT: dict[str, Any] = {
    "home_visit_date": "2025-03-06",
    "child_file_status": "existing",
    "guardian_capacity": "severely_insufficient",
    "child_needs": ["safety", "psychological"],
    "assessment_summary": "监护人履职能力明显不足，儿童需要人身安全保护和心理疏导。",
    "assessment_route": "standard",
}


HOME_MONITORING: dict[str, Any] = {
    "monitoring_start_date": "2025-04-20",
    "follow_up_colour": "yellow",
    "first_visit_date": "2025-04-27",
    "monitoring_plan": "儿童主任每月入户走访一次，每季度评估一次监护状况。",
}

CUSTODY_ENDED: dict[str, Any] = {
    "custody_end_date": "2025-04-18",
    "returned_to": "parents",
    "return_assessment": "监护人已具备履职条件，同意儿童返家，返家后按月走访。",
}

# ----------------------------------------------------------------------------- scenarios

SCENARIOS: dict[str, dict[str, Any]] = {
    "closed_at_intake_duplicate": {
        "start": {
            "reporter_type": "public",
            "situation": "violence",
            "without_guardian": False,
            "immediate_danger": False,
            "child_known": True,
            "child_name": "李某",
            "location_description": "某镇某村三组",
            "description": "邻居反映听到儿童哭喊，疑似被家长打骂。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "duplicate",
                    "close_reason": "同一情况已于前一日由儿童主任报告，正在处置。",
                    "duplicate_of_case": "GI-2025-0012",
                    "situation": "violence",
                    "without_guardian": False,
                    "immediate_danger": False,
                },
            ),
            ("notify_reporter", NOT_CONTACTABLE),
        ],
        "expect_end": "end_closed_at_intake",
        "expect_completed": True,
    },
    "closed_at_intake_unfounded": {
        "start": {
            "reporter_type": "school",
            "reporter_name": "赵老师",
            "reporter_phone": "0451-00000000",
            "reporter_org": "某镇中心小学",
            "situation": "suspected_dropout",
            "without_guardian": False,
            "immediate_danger": False,
            "child_known": True,
            "child_name": "钱某",
            "child_gender": "male",
            "child_age": 12,
            "location_description": "某镇某村",
            "incident_date": "2025-03-01",
            "description": "学生连续两周未到校。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "unfounded",
                    "close_reason": "经核实，该生已随父母转学至外县就读，学籍已转出。",
                    "situation": "suspected_dropout",
                    "without_guardian": False,
                    "immediate_danger": False,
                    "intake_note": "已与转入学校电话核实。",
                },
            ),
            (
                "notify_reporter",
                {
                    "notification_method": "phone",
                    "notified_on": "2025-03-03",
                    "told_outcome": "not_substantiated",
                },
            ),
        ],
        "expect_end": "end_closed_at_intake",
        "expect_completed": True,
    },
    "red_abuse_escalated_then_admonished": {
        "start": {
            "reporter_type": "hospital",
            "reporter_name": "孙医生",
            "reporter_phone": "13800000000",
            "reporter_org": "某县人民医院",
            "situation": "abuse",
            "without_guardian": False,
            "immediate_danger": True,
            "child_known": True,
            "child_name": "周某",
            "child_id_number": "110101201501010003",
            "child_gender": "female",
            "child_age": 10,
            "location_description": "某县人民医院急诊科",
            "description": "儿童身上有多处陈旧伤，疑似长期受虐待。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "abuse",
                    "without_guardian": False,
                    "immediate_danger": True,
                },
            ),
            # police do not finish within red_response_hours: county civil affairs supervises, once
            ("__timer__", "PT25H"),
            (
                "supervise_emergency_response",
                {
                    "supervised_at": "2025-03-04T11:00:00+08:00",
                    "supervision_targets": ["police"],
                    "supervision_measures": "电话督促县公安局立即出警，并要求当日反馈。",
                    "supervision_result": "in_progress",
                },
            ),
            # the timer is a one-off duration: another day passing does not escalate again
            ("__timer__", "PT48H"),
            (
                "emergency_response_police",
                {
                    **POLICE_DONE,
                    "police_measures": ["stop_harm", "hand_to_guardian"],
                    "criminal_case_filed": False,
                },
            ),
            ("assess_guardianship", ASSESSMENT),
            (
                "decide_intervention",
                {
                    "assessment_decision": "admonish",
                    "decision_basis": "监护人存在打骂行为，情节尚不严重，经评估可在家中接受跟踪帮扶。",
                    "legal_aid_referred": False,
                    "referrals": ["womens_federation"],
                },
            ),
            (
                "admonish_guardian",
                {
                    "admonished_on": "2025-03-10",
                    "admonition_document_no": "某公训〔2025〕3号",
                    "family_education_ordered": True,
                    "family_education_provider": "某县妇联家庭教育指导服务站",
                },
            ),
            ("arrange_home_monitoring", HOME_MONITORING),
            ("notify_reporter", NOTIFY_HANDLED_BY_PHONE),
        ],
        "expect_end": "end_home_monitoring",
        "expect_completed": True,
    },
    "red_violence_relatives_protection_order": {
        "start": {
            "reporter_type": "village_director",
            "reporter_name": "吴某",
            "reporter_phone": "13900000000",
            "situation": "violence",
            "without_guardian": False,
            "immediate_danger": True,
            "child_known": True,
            "child_name": "郑某",
            "location_description": "某镇某村五组",
            "description": "父亲酒后多次殴打儿童，母亲无力制止。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "violence",
                    "without_guardian": False,
                    "immediate_danger": True,
                },
            ),
            ("emergency_response_police", POLICE_DONE),
            ("assess_guardianship", {**ASSESSMENT, "assessment_route": "specialist"}),
            (
                "specialist_assessment",
                {
                    "specialist_assessment_date": "2025-03-12",
                    "assessors": "镇未成年人保护工作站、县心理咨询中心",
                    "specialist_findings": "家庭暴力反复发生，儿童在家中存在安全风险。",
                    "recommended_measure": "temporary_custody",
                    "needs_case_conference": True,
                },
            ),
            (
                "case_conference",
                {
                    "conference_date": "2025-03-14",
                    "participating_departments": [
                        "civil_affairs",
                        "police",
                        "procuratorate",
                        "womens_federation",
                    ],
                    "conference_conclusion": "由民政部门临时监护，委托祖父母抚养，并申请人身安全保护令。",
                    "department_tasks": "公安机关固定证据；妇联开展家庭教育指导。",
                },
            ),
            (
                "decide_intervention",
                {
                    "assessment_decision": "temporary_custody",
                    "decision_basis": "个案会商结论。",
                    "legal_aid_referred": True,
                },
            ),
            (
                "decide_temporary_custody",
                {
                    "custody_decision_no": "某民临监〔2025〕1号",
                    "custody_start_date": "2025-03-15",
                    "custody_grounds": "监护人实施家庭暴力，儿童在家中面临危险。",
                    "placement": "relatives",
                },
            ),
            (
                "place_with_relatives",
                {
                    "relative_name": "郑某某",
                    "relative_relationship": "祖父",
                    "relative_capacity_confirmed": True,
                    "entrustment_agreement_date": "2025-03-16",
                    "follow_up_director_assigned": True,
                },
            ),
            (
                "decide_court_petition",
                {
                    "petition_type": "protection_order",
                    "petition_grounds": "父亲多次实施家庭暴力。",
                    "petition_filed_on": "2025-03-20",
                    "procuratorate_support_requested": True,
                },
            ),
            (
                "procuratorate_support",
                {
                    "procuratorate_decision": "support",
                    "procuratorate_opinion": "支持民政部门申请人身安全保护令。",
                    "procuratorial_suggestion_issued": False,
                },
            ),
            (
                "court_ruling",
                {
                    "court_case_no": "（2025）某0101民保令1号",
                    "ruling_date": "2025-03-22",
                    "court_result": "granted",
                    "new_guardian": "not_applicable",
                    "family_education_ordered_by_court": True,
                },
            ),
            ("terminate_temporary_custody", CUSTODY_ENDED),
            ("arrange_home_monitoring", HOME_MONITORING),
            ("notify_reporter", NOTIFY_HANDLED_BY_PHONE),
        ],
        "expect_end": "end_home_monitoring",
        "expect_completed": True,
    },
    "red_abandoned_unknown_child_long_term_guardianship": {
        "start": {
            "reporter_type": "public",
            "situation": "abandonment",
            "without_guardian": True,
            "immediate_danger": True,
            "child_known": False,
            "child_gender": "male",
            "child_age": 3,
            "location_description": "某县汽车站候车室",
            "description": "一名男童独自在候车室哭闹，无人照看。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "abandonment",
                    "without_guardian": True,
                    "immediate_danger": True,
                },
            ),
            ("take_in_child", TAKEN_IN),
            (
                "emergency_response_police",
                {
                    **POLICE_DONE,
                    "police_measures": ["escort_to_center", "criminal_investigation"],
                },
            ),
            (
                "assess_guardianship",
                {**ASSESSMENT, "child_file_status": "created", "guardian_capacity": "absent"},
            ),
            (
                "decide_intervention",
                {
                    "assessment_decision": "temporary_custody",
                    "decision_basis": "儿童被遗弃，监护完全缺失。",
                    "legal_aid_referred": False,
                },
            ),
            (
                "decide_temporary_custody",
                {
                    "custody_start_date": "2025-03-05",
                    "custody_grounds": "儿童被遗弃，父母下落不明。",
                    "placement": "institution",
                },
            ),
            (
                "place_in_institution",
                {
                    "institution_type": "protection_center",
                    "institution_name": "某县未成年人救助保护中心",
                    "admission_date": "2025-03-05",
                },
            ),
            (
                "decide_court_petition",
                {
                    "petition_type": "revoke_guardianship",
                    "petition_grounds": "父母遗弃儿童。",
                    "petition_filed_on": "2025-06-01",
                    "procuratorate_support_requested": False,
                },
            ),
            (
                "court_ruling",
                {
                    "court_case_no": "（2025）某0101民特1号",
                    "ruling_date": "2025-07-01",
                    "court_result": "rejected",
                    "new_guardian": "not_applicable",
                    "family_education_ordered_by_court": False,
                    "ruling_summary": "证据不足，驳回申请。",
                },
            ),
            # rejected: back to the assessment of what to petition
            (
                "decide_court_petition",
                {
                    "petition_type": "revoke_guardianship",
                    "petition_grounds": "补充证据：父母遗弃儿童后至今未履行任何监护职责。",
                    "petition_filed_on": "2025-08-01",
                    "procuratorate_support_requested": True,
                },
            ),
            (
                "procuratorate_support",
                {
                    "procuratorate_decision": "support",
                    "procuratorate_opinion": "支持起诉。",
                    "procuratorial_suggestion_issued": True,
                },
            ),
            (
                "court_ruling",
                {
                    "court_case_no": "（2025）某0101民特2号",
                    "ruling_date": "2025-09-01",
                    "court_result": "granted",
                    "new_guardian": "civil_affairs",
                    "family_education_ordered_by_court": False,
                    "judicial_suggestion_issued": False,
                },
            ),
            (
                "assume_long_term_guardianship",
                {
                    "long_term_guardianship_start": "2025-09-05",
                    "receiving_welfare_institution": "某市儿童福利院",
                    "household_registration_transfer_needed": True,
                },
            ),
            (
                "welfare_institution_admission",
                {
                    "admitted_on": "2025-09-10",
                    "care_plan": "安排生活照料、体检和学前教育。",
                    "adoption_assessment_planned": True,
                },
            ),
            ("notify_reporter", NOT_CONTACTABLE),
        ],
        "expect_end": "end_long_term_guardianship",
        "expect_completed": True,
    },
    "yellow_case_conference_foster_family_no_petition": {
        "start": {
            "reporter_type": "village_director",
            "reporter_name": "冯某",
            "situation": "guardianship_severely_insufficient",
            "without_guardian": False,
            "immediate_danger": False,
            "child_known": True,
            "child_name": "陈某",
            "location_description": "某镇某村",
            "description": "儿童由失能祖母照料，生活无人照顾。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "guardianship_severely_insufficient",
                    "without_guardian": False,
                    "immediate_danger": False,
                },
            ),
            ("assess_guardianship", {**ASSESSMENT, "assessment_route": "case_conference"}),
            (
                "case_conference",
                {
                    "conference_date": "2025-03-10",
                    "participating_departments": ["civil_affairs", "education", "health"],
                    "conference_conclusion": "父母外出暂不能返回，由民政部门临时监护，家庭寄养。",
                },
            ),
            (
                "decide_intervention",
                {
                    "assessment_decision": "temporary_custody",
                    "decision_basis": "个案会商结论。",
                    "legal_aid_referred": False,
                    "referrals": ["education", "health"],
                },
            ),
            (
                "decide_temporary_custody",
                {
                    "custody_start_date": "2025-03-12",
                    "custody_grounds": "受委托照护人失能，父母暂无法履行监护职责。",
                    "placement": "foster_family",
                },
            ),
            (
                "place_in_foster_family",
                {
                    "foster_family_code": "JY-2025-007",
                    "foster_agreement_date": "2025-03-13",
                    "foster_start_date": "2025-03-14",
                },
            ),
            (
                "decide_court_petition",
                {
                    "petition_type": "none",
                    "no_petition_reason": "母亲已返乡，具备监护条件。",
                },
            ),
            ("terminate_temporary_custody", CUSTODY_ENDED),
            ("arrange_home_monitoring", {**HOME_MONITORING, "follow_up_colour": "blue"}),
            ("notify_reporter", {**NOTIFY_HANDLED_BY_PHONE, "notification_method": "in_person"}),
        ],
        "expect_end": "end_home_monitoring",
        "expect_completed": True,
    },
    "blue_return_home": {
        "start": {
            "reporter_type": "school",
            "reporter_org": "某镇中学",
            "situation": "behaviour_concern",
            "without_guardian": False,
            "immediate_danger": False,
            "child_known": True,
            "child_name": "褚某",
            "location_description": "某镇中学",
            "description": "学生近期情绪低落，多次与同学冲突。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "behaviour_concern",
                    "without_guardian": False,
                    "immediate_danger": False,
                },
            ),
            (
                "assess_guardianship",
                {**ASSESSMENT, "guardian_capacity": "insufficient", "child_needs": ["psychological"]},
            ),
            (
                "decide_intervention",
                {
                    "assessment_decision": "return_home",
                    "decision_basis": "家庭监护基本到位，需加强心理疏导。",
                    "legal_aid_referred": False,
                    "referrals": ["education"],
                },
            ),
            ("arrange_home_monitoring", {**HOME_MONITORING, "follow_up_colour": "green"}),
            ("notify_reporter", {**NOTIFY_HANDLED_BY_PHONE, "notification_method": "letter"}),
        ],
        "expect_end": "end_home_monitoring",
        "expect_completed": True,
    },
    "green_unfounded_after_specialist_assessment": {
        "start": {
            "reporter_type": "public",
            "reporter_phone": "13700000000",
            "situation": "other",
            "without_guardian": False,
            "immediate_danger": False,
            "child_known": True,
            "child_name": "卫某",
            "location_description": "某街道某社区",
            "description": "常见儿童深夜在外玩耍。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "other",
                    "without_guardian": False,
                    "immediate_danger": False,
                },
            ),
            (
                "assess_guardianship",
                {
                    **ASSESSMENT,
                    "assessment_route": "specialist",
                    "guardian_capacity": "adequate",
                },
            ),
            (
                "specialist_assessment",
                {
                    "specialist_assessment_date": "2025-03-12",
                    "assessors": "街道未成年人保护工作站",
                    "specialist_findings": "家长在附近经营夜市摊位，儿童始终在其看护范围内。",
                    "recommended_measure": "no_intervention",
                    "needs_case_conference": False,
                },
            ),
            (
                "decide_intervention",
                {
                    "assessment_decision": "unfounded",
                    "decision_basis": "专业评估意见。",
                    "close_reason": "经专业评估，监护人能够履行监护职责，未发现需要干预的情形。",
                    "legal_aid_referred": False,
                },
            ),
            (
                "notify_reporter",
                {
                    "notification_method": "sms",
                    "notified_on": "2025-03-20",
                    "told_outcome": "not_substantiated",
                },
            ),
        ],
        "expect_end": "end_closed_at_assessment",
        "expect_completed": True,
    },
    "red_sexual_assault_revoked_other_guardian": {
        "start": {
            "reporter_type": "hotline_12355",
            "situation": "sexual_assault",
            "without_guardian": False,
            "immediate_danger": False,
            "child_known": True,
            "child_name": "蒋某",
            "location_description": "某镇某村",
            "description": "热线接到求助，儿童疑似遭受继父性侵害。",
        },
        "steps": [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "sexual_assault",
                    "without_guardian": False,
                    "immediate_danger": True,
                },
            ),
            ("emergency_response_police", POLICE_DONE),
            ("assess_guardianship", ASSESSMENT),
            (
                "decide_intervention",
                {
                    "assessment_decision": "temporary_custody",
                    "decision_basis": "监护人严重侵害儿童合法权益。",
                    "legal_aid_referred": True,
                },
            ),
            (
                "decide_temporary_custody",
                {
                    "custody_start_date": "2025-03-08",
                    "custody_grounds": "监护人严重侵害儿童合法权益。",
                    "placement": "relatives",
                },
            ),
            (
                "place_with_relatives",
                {
                    "relative_name": "蒋某某",
                    "relative_relationship": "外祖母",
                    "relative_capacity_confirmed": True,
                    "entrustment_agreement_date": "2025-03-09",
                    "follow_up_director_assigned": True,
                },
            ),
            (
                "decide_court_petition",
                {
                    "petition_type": "revoke_guardianship",
                    "petition_grounds": "监护人严重侵害儿童合法权益。",
                    "petition_filed_on": "2025-04-01",
                    "procuratorate_support_requested": False,
                },
            ),
            (
                "court_ruling",
                {
                    "court_case_no": "（2025）某0101民特3号",
                    "ruling_date": "2025-05-10",
                    "court_result": "granted",
                    "new_guardian": "other_guardian",
                    "family_education_ordered_by_court": False,
                },
            ),
            ("terminate_temporary_custody", {**CUSTODY_ENDED, "returned_to": "other_guardian"}),
            ("arrange_home_monitoring", HOME_MONITORING),
            ("notify_reporter", NOT_CONTACTABLE),
        ],
        "expect_end": "end_home_monitoring",
        "expect_completed": True,
    },
}

SCENARIO_NOTES: dict[str, str] = {
    "closed_at_intake_duplicate": "匿名公众报告与在办案件重复，受理时并案，无法联系报告人。"
    " / Duplicate closed at intake; anonymous reporter.",
    "closed_at_intake_unfounded": "学校报告疑似辍学，核实不属实，不予受理并电话告知。"
    " / Unfounded at intake; reporter told by phone.",
    "red_abuse_escalated_then_admonished": "医院报告虐待（红色）；公安超过24小时未完成出警，县级民政督办一次（再过48小时也不重复督办）；"
    "评估后训诫并责令家庭教育指导，返家跟踪。"
    " / Red case, police overdue -> exactly one escalation; admonition, then home monitoring.",
    "red_violence_relatives_protection_order": "家庭暴力（红色）；专业评估后召开个案会商；临时监护委托亲属抚养；检察院支持申请人身安全保护令，获准后结束临时监护。"
    " / Specialist assessment + case conference; custody with relatives; protection order granted.",
    "red_abandoned_unknown_child_long_term_guardianship": "身份不明的被遗弃儿童（红色）；出警与机构收留并行；临时监护由机构收留抚养；撤销监护人资格第一次被驳回，"
    "补充证据并经检察院支持后获准，民政部门长期监护，儿童福利机构接收。"
    " / Unknown child taken in; revocation rejected then granted; long-term state guardianship.",
    "yellow_case_conference_foster_family_no_petition": "监护严重不足（黄色），无需应急处置；个案会商后家庭寄养；不向法院申请，结束临时监护返家。"
    " / Yellow: case conference, foster family, no petition, custody ends.",
    "blue_return_home": "心理或行为异常（蓝色），一般评估后返家监护并跟踪回访。"
    " / Blue: return home under monitoring.",
    "green_unfounded_after_specialist_assessment": "其他情形（绿色），专业评估后无需会商，评估不属实结案，短信告知。"
    " / Green: unfounded after specialist assessment.",
    "red_sexual_assault_revoked_other_guardian": "疑似性侵害（红色）；撤销监护人资格后由法院指定其他亲属担任监护人，结束临时监护并跟踪回访。"
    " / Revocation granted with another relative appointed guardian.",
}


# ----------------------------------------------------------------------------- the reworked model's steps
# The model now sends a report of danger to the police at once, has the protection center coordinate the
# assessment with the village director and the village committee, the committee urge the guardian on the
# return home, legal aid go to judicial administration, and foster placement pass review, agreement,
# training and visits. The scenarios above are written as the caseworkers see them; these helpers add the
# new steps where each one falls.

COORDINATE: dict[str, Any] = {
    "coordinated_on": "2025-03-05",
    "assessment_focus": "监护人履职能力与儿童安全需求",
}
COMMITTEE_INPUT: dict[str, Any] = {
    "input_date": "2025-03-06",
    "guardian_performance": "insufficient",
    "prior_measures": "村委会曾两次上门劝诫。",
}
COMMITTEE_SUPERVISION: dict[str, Any] = {
    "supervised_on": "2025-04-22",
    "measures": ["inform", "admonish"],
    "supervision_note": "已向监护人告知监护责任并予以劝诫。",
}
LEGAL_AID: dict[str, Any] = {
    "aid_accepted_on": "2025-03-10",
    "aid_lawyer": "区法律援助中心",
    "aid_matter": "申请人身安全保护令",
}
FOSTER_STEPS: list[tuple[str, dict[str, Any]]] = [
    (
        "review_foster_family",
        {"foster_family_code": "JY-2025-03", "review_date": "2025-03-12", "conditions_met": True},
    ),
    ("sign_foster_agreement", {"foster_agreement_no": "JYXY-2025-03", "foster_agreement_date": "2025-03-13"}),
    (
        "train_foster_family",
        {
            "training_date": "2025-03-14",
            "training_topics": ["care", "safety"],
            "foster_start_date": "2025-03-15",
        },
    ),
]
FOSTER_VISIT = {
    "foster_visit_date": "2025-04-10",
    "child_seen": True,
    "foster_findings": "照料良好。",
    "foster_status": "continuing",
}
FOSTER_ENDED = {
    "foster_visit_date": "2025-04-17",
    "child_seen": True,
    "foster_findings": "儿童返家。",
    "foster_status": "ended",
}
REFERRAL_REASON = {
    "education": "suspected_dropout",
    "health": "serious_mental_illness",
    "womens_federation": "abuse",
}


def reworked(steps: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for bpmn_id, data in steps:
        if bpmn_id == "assess_guardianship":
            route = data["assessment_route"]
            home = {k: v for k, v in data.items() if k != "assessment_route"}
            conclusion = {
                "assessment_conclusion": data["assessment_summary"],
                "guardian_capacity_final": data["guardian_capacity"]
                if data["guardian_capacity"] in ("adequate", "insufficient", "severely_insufficient")
                else "absent",
                "assessment_route": route,
            }
            out += [
                ("coordinate_assessment", COORDINATE),
                ("assess_guardianship", home),
                ("committee_guardianship_input", COMMITTEE_INPUT),
                ("conclude_assessment", conclusion),
            ]
        elif bpmn_id == "decide_intervention":
            data = dict(data)
            if "referrals" in data:
                data["referrals"] = [REFERRAL_REASON.get(r, r) for r in data["referrals"]]
            out.append((bpmn_id, data))
            if data.get("legal_aid_referred"):
                out.append(("provide_legal_aid", LEGAL_AID))
        elif bpmn_id == "place_in_foster_family":
            out += [*FOSTER_STEPS, ("foster_visit", FOSTER_VISIT), ("foster_visit", FOSTER_ENDED)]
        elif bpmn_id == "arrange_home_monitoring":
            out += [(bpmn_id, data), ("committee_supervise_guardian", COMMITTEE_SUPERVISION)]
        else:
            out.append((bpmn_id, data))
    return out


for _scenario in SCENARIOS.values():
    _scenario["steps"] = reworked(_scenario["steps"])

# 001 §四(三): the report of violence went to the police at once; the duplicate is closed at intake all the same
SCENARIOS["closed_at_intake_duplicate"]["steps"].insert(1, ("emergency_response_police", POLICE_DONE))
# 001 §四(三) / 003 §五(二)6: an intake review nobody does is escalated to the county after intake_review_hours
SCENARIOS["closed_at_intake_unfounded"]["steps"] = [
    ("__timer__", "PT3H"),
    (
        "escalate_intake_review",
        {"supervised_on": "2025-03-03", "supervision_measures": "电话督促救助保护机构立即核实。"},
    ),
    *SCENARIOS["closed_at_intake_unfounded"]["steps"],
]
# 001 附件1 第1项 / 000 §一(一): reported as a lesser matter, found at intake to be harm by the guardian →
# the child is taken in and the police are sent at once after intake
SCENARIOS["red_found_at_intake_harmed_by_guardian"] = {
    "start": {
        "reporter_type": "school",
        "situation": "other",
        "without_guardian": False,
        "immediate_danger": False,
        "child_known": True,
        "child_name": "赵某",
        "location_description": "某镇某村五组",
        "description": "班主任发现学生近期情绪低落、身上有伤。",
    },
    "steps": reworked(
        [
            (
                "review_report",
                {
                    "intake_decision": "accept",
                    "situation": "abuse",
                    "without_guardian": False,
                    "immediate_danger": True,
                    "harmed_by_guardian": True,
                },
            ),
            ("take_in_child", TAKEN_IN),
            ("emergency_response_police", POLICE_DONE),
            ("assess_guardianship", ASSESSMENT),
            (
                "decide_intervention",
                {
                    "assessment_decision": "return_home",
                    "decision_basis": "父母已接受家庭教育指导。",
                    "legal_aid_referred": False,
                },
            ),
            ("arrange_home_monitoring", HOME_MONITORING),
            ("notify_reporter", NOTIFY_HANDLED_BY_PHONE),
        ]
    ),
    "expect_end": "end_home_monitoring",
    "expect_completed": True,
}
