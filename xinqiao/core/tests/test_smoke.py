from __future__ import annotations


def test_patient_list_shows_masked_values(client, world, password):
    client.login(username="service", password=password)
    response = client.get("/patients/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "138****8000" in body
    assert "13800138000" not in body
