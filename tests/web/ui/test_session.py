"""Dashboard sign-in: a token exchanged for a server-side session, CSRF on every change,
sign-out, and the session following the user's current state."""

from __future__ import annotations

from tests.web.ui.conftest import csrf_token


def test_pages_send_a_signed_out_browser_to_sign_in(client):
    response = client.get("/ui/jobs?status=failed")
    assert response.status_code == 303
    assert response.location.startswith("/ui/sign-in?next=")


def test_sign_in_opens_a_server_side_session(browser, tenant):
    response = browser.sign_in(tenant.tokens["developer"])
    assert response.status_code == 303 and response.location == "/ui/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert tenant.tokens["developer"] not in cookie  # only a random session id
    page = browser.get("/ui/")
    assert page.status_code == 200 and b"developer" in page.data


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(browser, tenant):
    token = csrf_token(browser.get("/ui/sign-in").data)
    data = {"credential": tenant.tokens["viewer"], "csrf_token": token}
    assert browser.client.post("/ui/sign-in?next=/ui/jobs", data=data).location == "/ui/jobs"
    token = csrf_token(browser.get("/ui/sign-in").data)
    data["csrf_token"] = token
    assert browser.client.post("/ui/sign-in?next=//evil.example", data=data).location == "/ui/"


def test_a_bad_credential_is_refused_on_the_form(browser):
    response = browser.sign_in("n8o_pat_not-a-token")
    assert response.status_code == 401
    assert b"invalid or revoked" in response.data
    assert browser.get("/ui/").status_code == 303


def test_a_change_without_the_csrf_token_is_refused(signed_in):
    browser = signed_in("developer")
    response = browser.client.post("/ui/tokens", data={"name": "x"})
    assert response.status_code == 400
    assert b"did not come from this site" in response.data
    # htmx sends the token as a header instead of a field.
    response = browser.client.post(
        "/ui/tokens", data={"name": "x"}, headers={"X-CSRFToken": browser.token}
    )
    assert response.status_code == 201


def test_the_sign_in_form_itself_needs_the_csrf_token(browser, tenant):
    response = browser.client.post("/ui/sign-in", data={"credential": tenant.tokens["admin"]})
    assert response.status_code == 400


def test_sign_out_ends_the_session(signed_in):
    browser = signed_in("viewer")
    assert browser.post("/ui/sign-out").status_code == 303
    assert browser.get("/ui/").status_code == 303


def test_revoking_the_sign_in_token_ends_the_session(signed_in, client, tenant):
    browser = signed_in("viewer")
    tokens = client.get("/api/v1/tokens", headers=tenant.viewer).json
    revoked = client.post(f"/api/v1/tokens/{tokens[0]['id']}/revoke", headers=tenant.viewer)
    assert revoked.status_code == 200
    assert browser.get("/ui/").status_code == 303


def test_a_role_change_applies_to_an_open_session(signed_in, client, tenant):
    browser = signed_in("developer")
    assert b">developer<" in browser.get("/ui/").data
    user_id = tenant.user_ids["developer"]
    demote = {"role": "viewer"}
    response = client.patch(f"/api/v1/users/{user_id}", json=demote, headers=tenant.admin)
    assert response.status_code == 200
    assert b">viewer<" in browser.get("/ui/").data
    client.post(f"/api/v1/users/{user_id}/deactivate", headers=tenant.admin)
    assert browser.get("/ui/").status_code == 403


def test_the_session_cookie_is_secure_over_tls(app, tenant):
    browser = app.test_client()
    page = browser.get("/ui/sign-in", base_url="https://ops.example")
    token = csrf_token(page.data)
    response = browser.post(
        "/ui/sign-in",
        data={"credential": tenant.tokens["viewer"], "csrf_token": token},
        base_url="https://ops.example",
        # Over TLS the CSRF check also wants a same-site Referer, as browsers send it.
        headers={"Referer": "https://ops.example/ui/sign-in"},
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]
    plain = app.test_client()
    token = csrf_token(plain.get("/ui/sign-in").data)
    data = {"credential": tenant.tokens["viewer"], "csrf_token": token}
    assert "Secure" not in plain.post("/ui/sign-in", data=data).headers["Set-Cookie"]
