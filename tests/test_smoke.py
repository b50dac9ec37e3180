import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_login_page_answers(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
