"""The console's own logic: API errors into plain words, routing of paths, forms into bodies, sign-in."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests

from services.console.app import months_behind
from services.console.backend import ApiError, service_for
from services.console.errors import plain_error, plain_field_message
from services.console.signin import Identity, SignInRefused, custom_identity, token_for
from services.console.translation import t
from services.console.views_tasks import current_quarter, status_counts
from services.console.web import body_from
from shared.auth import decode_token
from shared.settings import DEV_JWT_SECRET, Settings
from tests.support.console_locale import in_locale


def smorest_response(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.reason = "Unprocessable Entity"
    return response


def test_smorest_errors_become_messages_per_field():
    error = ApiError.from_response(
        smorest_response(
            422,
            {
                "code": 422,
                "status": "Unprocessable Entity",
                "errors": {
                    "json": {
                        "reason": ["Missing data for required field."],
                        "quiet_hours": {"start": ["bad"]},
                    }
                },
            },
        )
    )
    assert error.status == 422
    assert error.fields == {"reason": ["Missing data for required field."], "quiet_hours": ["bad"]}
    with in_locale("zh-CN"):
        message, fields = plain_error(error)
    assert message == "请检查填写的内容。"
    assert fields["reason"] == "此项为必填项"
    assert fields["quiet_hours"] == "请检查此项"  # English nothing matches never reaches a Chinese page
    with in_locale("en"):
        assert plain_error(error)[1]["reason"] == "Missing data for required field."


def test_import_row_errors_are_flattened_with_their_row():
    error = ApiError.from_response(
        smorest_response(
            422,
            {
                "errors": {
                    "json": {"file": [{"row": 2, "field": "birth_date", "message": "Not a valid date."}]}
                }
            },
        )
    )
    assert error.fields["file"] == ["第 2 行 birth_date: Not a valid date."]


def test_conflicts_are_said_in_chinese_with_the_stage_label_and_other_statuses_are_plain():
    with in_locale("zh-CN"):
        message = plain_error(ApiError(409, "the transfer is at pending_township, held by XX-NOWHERE"))[0]
        assert message == "当前状态下无法办理：转接待乡镇(街道)审批（XX-NOWHERE）"
        assert plain_error(ApiError(409, "this task is full: all 3 places are taken"))[0] == "该任务名额已满（共 3 个名额）"
        assert plain_error(ApiError(409, "something nobody foresaw"))[0] == "当前状态下无法办理"
        assert plain_error(ApiError(502, "bad gateway"))[0] == "系统出了点问题，请稍后再试。"
        dues = ApiError(409, "dues", {"dues_paid_through": ["not paid through 2026-12"]})
        assert plain_error(dues)[0] == "党费未缴至本月，暂不能同意转出"
    with in_locale("en"):
        assert plain_error(ApiError(403, "forbidden"))[0] == "You are not allowed to do this."
        assert "Traceback" not in plain_error(ApiError(500, "Traceback (most recent call last)"))[0]


def test_field_messages_are_chosen_by_field_and_reason():
    with in_locale("zh-CN"):
        assert plain_field_message("contact_phone", "Length must be between 11 and 11.") == "请输入 11 位手机号"
        assert plain_field_message("phone", "Length must be 11.") == "请输入 11 位手机号"
        assert plain_field_message("title", "Length must be between 1 and 200.") == "请填写 1 到 200 个字符"
        assert plain_field_message(
            "capacity", "Must be greater than or equal to 1 and less than or equal to 50."
        ) == ("请填写 1 到 50 之间的数")
        assert plain_field_message("destination_region", "must be a region code of 2-20 digits") == (
            "请选择所在地（省、市、县）"
        )
        assert plain_field_message("file", "第 2 行 出生日期: 格式不对") == "第 2 行 出生日期: 格式不对"


def test_unknown_catalogue_keys_show_the_value_not_the_key():
    with in_locale("zh-CN"):
        assert t("transfer_status.something_new") == "something_new"
        assert t("nav.inbox") == "转接待办"
    with in_locale("en"):
        assert t("nav.inbox") == "Transfer inbox"


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/members/1/outflows", "registration"),
        ("/api/v1/imports/members?branch=X", "registration"),
        ("/api/v1/stats/transfers", "transfer"),
        ("/api/v1/stats/tasks", "tasks"),
        ("/api/v1/points", "tasks"),
        ("/api/v1/preferences", "notify"),
    ],
)
def test_each_path_goes_to_the_service_that_owns_it(path, service):
    assert service_for(path) == service


def test_forms_send_only_what_was_filled_and_numbers_as_numbers():
    form = {"title": " 清理河道 ", "capacity": "2", "points": "ten", "description": ""}
    assert body_from(
        form, ("title", "capacity", "points", "description"), integers=("capacity", "points")
    ) == {
        "title": "清理河道",
        "capacity": 2,
        "points": "ten",  # left as typed: the API names the field
    }


def test_task_counts_whether_nested_or_flat():
    assert status_counts({"by_status": {"open": 2, "evaluated": 1}})["open"] == 2
    assert status_counts({"open": 3, "draft": 1})["draft"] == 1
    assert current_quarter(date(2026, 11, 22)) == "2026-Q4"


def test_dev_sign_in_issues_a_token_and_production_refuses_it():
    identity = Identity("sec-1", "branch_secretary", "TJ-WQ-YC-01", "王书记")
    token = token_for(Settings(service="console"), identity)
    principal = decode_token(token, DEV_JWT_SECRET)
    assert (principal.sub, principal.role, principal.org, principal.name) == (
        "sec-1",
        "branch_secretary",
        "TJ-WQ-YC-01",
        "王书记",
    )
    with pytest.raises(SignInRefused):
        token_for(Settings(service="console", environment="production", jwt_secret="x" * 40), identity)


def test_custom_identities_cannot_be_services_or_members():
    with pytest.raises(SignInRefused):
        custom_identity("svc", "service", "CN", "")
    with pytest.raises(SignInRefused):
        custom_identity("m1", "member", "B1", "")
    assert custom_identity(" o1 ", "township_officer", "to-1", "").org == "TO-1"


def test_months_behind_counts_unpaid_months_up_to_this_one():
    today = date(2026, 12, 2)
    assert months_behind("2026-12", today) == 0
    assert months_behind("2026-10", today) == 2
    assert months_behind("2025-12", today) == 12
    assert months_behind("2027-01", today) == 0
    assert months_behind(None, today) == 0 and months_behind("bad", today) == 0
