"""Hospital rule additions: admin UI, validation, and the engine using them."""

from __future__ import annotations

from xinqiao.content import services
from xinqiao.content.models import RuleAddition
from xinqiao.content.tests.helpers import CLEAN_BODY, make_item, writer


def test_admin_adds_a_phrase_and_the_engine_flags_it(client, world):
    author = writer(world)
    item = make_item(world, author, body="<p>低盐饮食，坚持服药，试试心桥特供食谱。</p>" + CLEAN_BODY)
    assert [f["rule_id"] for f in services.item_compliance(item)["findings"]] == []
    client.force_login(world.users["admin"])
    response = client.post(
        "/content/rules/", {"rule_id": "abs-001", "phrases": "心桥特供\n", "exceptions": "", "note": "院内"}
    )
    assert response.status_code == 302
    addition = RuleAddition.objects.get()
    assert (addition.rule_id, addition.phrases, addition.hospital_id) == ("ABS-001", ["心桥特供"], world.hospital.pk)
    findings = services.item_compliance(item)["findings"]
    assert [(f["rule_id"], f["text"]) for f in findings] == [("ABS-001", "心桥特供")]
    # another hospital's checks are not affected
    assert services.rule_overlay(world.other_hospital.pk) is None


def test_exception_silences_a_rule(world):
    item = make_item(world, writer(world), body="<p>本院是最有效的科普阵地。</p>" + CLEAN_BODY)
    assert [f["rule_id"] for f in services.item_compliance(item)["findings"]] == ["ABS-002"]
    services.rule_addition_save(principal=world.principal("admin"), rule_id="ABS-002", phrases=[],
                                exceptions=["最有效的科普"])  # fmt: skip
    assert services.item_compliance(item)["findings"] == []


def test_bad_rule_input_changes_nothing(client, world):
    client.force_login(world.users["admin"])
    response = client.post("/content/rules/", {"rule_id": "NOPE-999", "phrases": "x"})
    assert response.status_code == 400
    assert "Unknown rule ID NOPE-999." in response.content.decode()
    response = client.post("/content/rules/", {"rule_id": "ABS-001", "phrases": "", "exceptions": "([unclosed"})
    assert response.status_code == 400
    assert "The engine cannot use these entries" in response.content.decode()
    assert RuleAddition.objects.count() == 0
    client.force_login(world.users["brand"])
    assert client.post("/content/rules/", {"rule_id": "ABS-001", "phrases": "x"}).status_code == 403
    assert RuleAddition.objects.count() == 0
