from django.urls import reverse


def test_the_health_probe_answers_when_the_database_does(client, db):
    response = client.get(reverse("core:healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
