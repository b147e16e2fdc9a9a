"""Arabic first (RTL), English beside it: a visible switch and Accept-Language."""


def test_arabic_is_the_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert "تسجيل الدخول" in html


def test_accept_language_english(client):
    html = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html and "Sign in" in html


def test_the_switch_sets_the_language_and_returns(client):
    response = client.get("/lang/en?next=/register")
    assert response.status_code == 302 and response.location == "/register"
    html = client.get("/login", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html


def test_the_switch_never_redirects_away(client):
    assert client.get("/lang/en?next=https://evil.example/").location == "/"
    assert client.get("/lang/en?next=//evil.example/").location == "/"


def test_service_errors_are_translated(web, people):
    html = web.submit("/login", {"username": "x", "password": "y"}).get_data(as_text=True)
    assert "اسم المستخدم أو كلمة المرور غير صحيحة" in html or "غير صحيح" in html


def test_every_page_links_to_the_other_language(client):
    for path in ("/", "/login", "/register", "/recover"):
        html = client.get(path).get_data(as_text=True)
        assert 'href="/lang/en' in html, path
