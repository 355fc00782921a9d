//! The browser console over HTTP, as a browser would use it (the browser-driven tests come with
//! the rest of the console): cookie sessions from the same session store, the CSRF token on every
//! form, the security headers, and user-supplied text rendered inert.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use docent_infrastructure::testing::Backend;

use crate::support::TestApp;

const PW: &str = "correct horse battery";

/// A browser that does not follow redirects, keeping its cookies by hand.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookies: std::collections::BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.page(response).await
    }

    pub(crate) async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.page(response).await
    }

    /// Opens the sign-in page and signs in with its CSRF token.
    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = csrf_of(&form);
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
            &[],
        )
        .await
    }

    async fn page(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.keep(&headers);
        Page {
            status,
            headers,
            body: response.text().await.unwrap(),
        }
    }
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CSRF token a page wrote into its forms.
pub(crate) fn csrf_of(page: &Page) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.body.find(marker).expect("the page has a CSRF field") + marker.len();
    page.body[start..start + 64].to_owned()
}

fn set_cookie(page: &Page, name: &str) -> String {
    page.headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", page.headers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_up_in_and_out_with_cookie_sessions_and_csrf() {
    let app = TestApp::start(Backend::Sqlite).await;
    let mut browser = Browser::new(&app);

    // A visitor is sent to sign in; every page carries the security headers.
    let home = browser.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.headers[LOCATION], "/login");
    let login = browser.get("/login").await;
    assert_eq!(login.status, 200);
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    assert_eq!(login.headers["referrer-policy"], "same-origin");
    let csrf_cookie = set_cookie(&login, "docent_csrf");
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    let csrf = csrf_of(&login);
    assert_eq!(browser.cookies["docent_csrf"], csrf);
    let css = browser.get("/static/console.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    // Posts without the token, with another token, or from another site are refused.
    let hostile_name = "<script>alert(1)</script>";
    let signup = [
        ("name", hostile_name),
        ("email", "console@example.com"),
        ("password", PW),
    ];
    let refused = browser.post("/signup", &signup, &[]).await;
    assert_eq!(refused.status, 403, "no token");
    let wrong = "0".repeat(64);
    fn with<'a>(signup: &[(&'a str, &'a str)], token: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut form = signup.to_vec();
        form.push(("csrf", token));
        form
    }
    assert_eq!(
        browser
            .post("/signup", &with(&signup, &wrong), &[])
            .await
            .status,
        403,
        "another token"
    );
    let cross = browser
        .post(
            "/signup",
            &with(&signup, &csrf),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross.status, 403, "a post from another site");
    let fetched = browser
        .post(
            "/signup",
            &with(&signup, &csrf),
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(fetched.status, 403, "a cross-site fetch");
    let mut stranger = Browser::new(&app);
    assert_eq!(
        stranger
            .post("/signup", &with(&signup, &csrf), &[])
            .await
            .status,
        403,
        "the token without its cookie"
    );

    // Signing up sets the session cookie and lands on the home page, the name rendered inert.
    let origin = app.base.clone();
    let created = browser
        .post("/signup", &with(&signup, &csrf), &[("origin", &origin)])
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.headers[LOCATION], "/");
    let session = set_cookie(&created, "docent_session");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Secure"), "no TLS here: {session}");
    let token = browser.cookies["docent_session"].clone();
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("&lt;script&gt;alert(1)&lt;"),
        "{}",
        home.body
    );
    assert!(!home.body.contains(hostile_name));
    assert!(home.body.contains("Welcome to docent"), "the flash message");
    assert!(
        !browser.get("/").await.body.contains("Welcome to docent"),
        "shown once"
    );

    // The cookie holds a session of the one store: the API takes the same token.
    app.get("/v1/users/me", Some(&token)).await.expect(200);

    // An organization made in the console, with a hostile name, shows escaped.
    let hostile_org = r#"<img src=x onerror="alert(1)">"#;
    let home = browser.get("/").await;
    let made = browser
        .post(
            "/orgs",
            &[("csrf", &csrf_of(&home)), ("name", hostile_org)],
            &[],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let home = browser.get("/").await;
    assert!(
        home.body.contains("&lt;img src=x onerror="),
        "{}",
        home.body
    );
    assert!(!home.body.contains("<img src=x"));
    let orgs = app.get("/v1/orgs", Some(&token)).await.expect(200);
    assert_eq!(orgs["items"][0]["name"], hostile_org);

    // Signing out ends the session in the store: the API refuses the token at once.
    let out = browser
        .post("/logout", &[("csrf", &csrf_of(&home))], &[])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(out.headers[LOCATION], "/login");
    assert!(set_cookie(&out, "docent_session").contains("Max-Age=0"));
    app.get("/v1/users/me", Some(&token))
        .await
        .expect_error(401, "invalid_session");
    assert_eq!(browser.get("/").await.status, 303);

    // A wrong password re-renders the form with the reason and the address kept, escaped.
    let wrong = browser
        .sign_in("console@example.com\"><b>x", "nope nope nope")
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("role=\"alert\""), "{}", wrong.body);
    assert!(
        wrong.body.contains("&quot;&gt;&lt;b&gt;x"),
        "{}",
        wrong.body
    );
    let back = browser.sign_in("console@example.com", PW).await;
    assert_eq!(back.status, 303);
    assert_eq!(browser.get("/").await.status, 200);

    // A forgotten password: the request page, the mailed link, the landing page.
    let forgot = browser.get("/forgot-password").await;
    assert_eq!(forgot.status, 200);
    let asked = browser
        .post(
            "/forgot-password",
            &[
                ("csrf", &csrf_of(&forgot)),
                ("email", "console@example.com"),
            ],
            &[],
        )
        .await;
    assert_eq!(asked.status, 303);
    assert_eq!(asked.headers[LOCATION], "/login");
    let reset_token = app.token_mailed_to("console@example.com", "dsr_", 0).await;
    let mail = app.mails_to("console@example.com").remove(0);
    assert!(mail.contains("/reset-password?token=dsr_"), "{mail}");
    let landing = browser
        .get(&format!("/reset-password?token={reset_token}"))
        .await;
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains(&reset_token));
    let csrf = csrf_of(&landing);
    let bad = browser
        .post(
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", "dsr_not-a-token"),
                ("password", "a brand new passphrase"),
            ],
            &[],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("role=\"alert\""));
    let done = browser
        .post(
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", &reset_token),
                ("password", "a brand new passphrase"),
            ],
            &[],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Every session of the account ended, this browser's too; the new password signs in.
    assert_eq!(browser.get("/").await.status, 303);
    let used = browser
        .post(
            "/reset-password",
            &[
                ("csrf", &csrf),
                ("token", &reset_token),
                ("password", "yet another passphrase"),
            ],
            &[],
        )
        .await;
    assert_eq!(used.status, 422, "a token works once");
    let back = browser
        .sign_in("console@example.com", "a brand new passphrase")
        .await;
    assert_eq!(back.status, 303);
    assert_eq!(browser.get("/").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_accepted_through_its_landing_page_after_signing_up() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-web@example.com", PW).await;
    let org = app.create_org(&owner, "Depot").await;
    app.invite(&owner, &org, "guest@example.com", "member")
        .await
        .expect(201);
    let token = app.token_mailed_to("guest@example.com", "dsi_", 0).await;
    assert!(app.mails_to("guest@example.com")[0].contains("/accept-invitation?token=dsi_"));

    // A visitor is asked to sign in or sign up, and comes back here after.
    let mut browser = Browser::new(&app);
    let landing = browser
        .get(&format!("/accept-invitation?token={token}"))
        .await;
    assert_eq!(landing.status, 200);
    let next = format!("%2Faccept-invitation%3Ftoken%3D{token}");
    assert!(
        landing.body.contains(&format!("/signup?next={next}")),
        "{}",
        landing.body
    );
    let signup = browser.get(&format!("/signup?next={next}")).await;
    let back_here = format!("/accept-invitation?token={token}");
    let created = browser
        .post(
            "/signup",
            &[
                ("csrf", &csrf_of(&signup)),
                ("next", &back_here),
                ("name", "Guest"),
                ("email", "guest@example.com"),
                ("password", PW),
            ],
            &[],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(created.headers[LOCATION], back_here.as_str());

    // Signed in, the page offers to accept; accepting joins the organization.
    let landing = browser.get(&back_here).await;
    assert!(
        landing.body.contains("guest@example.com"),
        "{}",
        landing.body
    );
    let joined = browser
        .post(
            "/accept-invitation",
            &[("csrf", &csrf_of(&landing)), ("token", &token)],
            &[],
        )
        .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let home = browser.get("/").await;
    assert!(
        home.body.contains("You joined Depot as member."),
        "{}",
        home.body
    );
    assert!(home.body.contains(">Depot</a></td>"), "{}", home.body);

    // The token worked once; a hostile `next` is not followed.
    let again = browser.get(&back_here).await;
    let used = browser
        .post(
            "/accept-invitation",
            &[("csrf", &csrf_of(&again)), ("token", &token)],
            &[],
        )
        .await;
    assert_eq!(used.status, 422, "{}", used.body);
    let out = browser.get("/").await;
    browser
        .post("/logout", &[("csrf", &csrf_of(&out))], &[])
        .await;
    let login = browser.get("/login?next=https://evil.example/").await;
    let signed_in = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf_of(&login)),
                ("next", "//evil.example/"),
                ("email", "guest@example.com"),
                ("password", PW),
            ],
            &[],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.headers[LOCATION], "/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_renames_changes_the_password_and_revokes_sessions() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, api_token) = app.signup("account-web@example.com", PW).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.get("/account").await.headers[LOCATION],
        "/login?next=%2Faccount"
    );
    let signed_in = browser.sign_in("account-web@example.com", PW).await;
    assert_eq!(signed_in.status, 303);

    // Both sessions are listed; the API's can be signed out from here.
    let page = browser.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("this session"), "{}", page.body);
    let me = app
        .get("/v1/auth/sessions", Some(&api_token))
        .await
        .expect(200);
    let api_session = me["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.body.contains(&api_session), "{}", page.body);
    let csrf = csrf_of(&page);
    let revoked = browser
        .post(
            "/account",
            &[
                ("csrf", &csrf),
                ("action", "revoke"),
                ("session", &api_session),
            ],
            &[],
        )
        .await;
    assert_eq!(revoked.status, 303);
    app.get("/v1/users/me", Some(&api_token))
        .await
        .expect_error(401, "invalid_session");

    // A new name, shown inert; a wrong current password refused; a new one accepted.
    let renamed = browser
        .post(
            "/account",
            &[
                ("csrf", &csrf),
                ("action", "profile"),
                ("name", "<i>Renamed</i>"),
            ],
            &[],
        )
        .await;
    assert_eq!(renamed.status, 303);
    let page = browser.get("/account").await;
    assert!(page.body.contains("&lt;i&gt;Renamed&lt;"), "{}", page.body);
    let wrong = browser
        .post(
            "/account",
            &[
                ("csrf", &csrf),
                ("action", "password"),
                ("current_password", "not the password"),
                ("new_password", "a brand new passphrase"),
            ],
            &[],
        )
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let changed = browser
        .post(
            "/account",
            &[
                ("csrf", &csrf),
                ("action", "password"),
                ("current_password", PW),
                ("new_password", "a brand new passphrase"),
            ],
            &[],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    // This session stays; the old password no longer signs in.
    assert_eq!(browser.get("/account").await.status, 200);
    let refused = app
        .post(
            "/v1/auth/login",
            None,
            serde_json::json!({"email": "account-web@example.com", "password": PW}),
        )
        .await;
    assert_eq!(refused.status.as_u16(), 401);
}

/// The organization pages and the least role each admits (`None`: any member).
const ORG_PAGES: &[(&str, &str)] = &[
    ("", "viewer"),
    ("/documents", "viewer"),
    ("/providers", "viewer"),
    ("/chatbots", "viewer"),
    ("/keys", "admin"),
    ("/usage", "viewer"),
    ("/members", "viewer"),
    ("/settings", "viewer"),
    ("/audit", "admin"),
];

const RANKS: [&str; 4] = ["viewer", "member", "admin", "owner"];

fn at_least(role: &str, least: &str) -> bool {
    let rank = |r: &str| RANKS.iter().position(|x| *x == r).unwrap();
    rank(role) >= rank(least)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_pages_admit_exactly_the_right_members_and_act_through_the_services() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-org@example.com", PW).await;
    let org = app.create_org(&owner, "Harbour <b>Works</b>").await;
    let mut people = vec![("owner", "owner-org@example.com".to_owned())];
    for role in ["admin", "member", "viewer"] {
        let email = format!("{role}-org@example.com");
        app.join(&owner, &org, &email, role, PW).await;
        people.push((role, email));
    }
    app.signup("outsider-org@example.com", PW).await;

    // A visitor is sent to sign in, and back.
    let mut visitor = Browser::new(&app);
    let sent = visitor.get(&format!("/orgs/{org}/members")).await;
    assert_eq!(sent.status, 303);
    assert_eq!(
        sent.headers[LOCATION],
        format!("/login?next=%2Forgs%2F{org}%2Fmembers").as_str()
    );

    // Every page admits exactly the roles it should; outsiders and bad ids see "not found".
    let mut browsers = std::collections::BTreeMap::new();
    for (role, email) in &people {
        let mut browser = Browser::new(&app);
        assert_eq!(browser.sign_in(email, PW).await.status, 303);
        for (page, least) in ORG_PAGES {
            let shown = browser.get(&format!("/orgs/{org}{page}")).await;
            let expected = if at_least(role, least) { 200 } else { 403 };
            assert_eq!(shown.status, expected, "{role} on {page}: {}", shown.body);
            if expected == 200 {
                // The name renders inert, in the switcher and the page.
                assert!(
                    shown.body.contains("Harbour &lt;b&gt;Works&lt;"),
                    "{}",
                    shown.body
                );
                assert!(!shown.body.contains("<b>Works"), "{}", shown.body);
            }
        }
        browsers.insert(*role, browser);
    }
    let mut outsider = Browser::new(&app);
    outsider.sign_in("outsider-org@example.com", PW).await;
    for (page, _) in ORG_PAGES {
        assert_eq!(
            outsider.get(&format!("/orgs/{org}{page}")).await.status,
            404
        );
    }
    assert_eq!(outsider.get("/orgs/not-a-uuid/members").await.status, 404);

    // Members: a viewer cannot change roles or invite; an admin can, through the services.
    let members = format!("/orgs/{org}/members");
    let viewer = browsers.get_mut("viewer").unwrap();
    let page = viewer.get(&members).await;
    assert!(!page.body.contains(r#"name="action" value="invite""#));
    let csrf = csrf_of(&page);
    let listed = app
        .get(&format!("/v1/orgs/{org}/members"), Some(&owner))
        .await
        .expect(200);
    let id_of = |email: &str| {
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let member_id = id_of("member-org@example.com");
    let refused = viewer
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("action", "role"),
                ("user", &member_id),
                ("role", "admin"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let refused = viewer
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("action", "invite"),
                ("email", "x@example.com"),
                ("role", "viewer"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let admin = browsers.get_mut("admin").unwrap();
    let page = admin.get(&members).await;
    let csrf = csrf_of(&page);
    let changed = admin
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("action", "role"),
                ("user", &member_id),
                ("role", "viewer"),
            ],
            &[],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let invited = admin
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("action", "invite"),
                ("email", "new-org@example.com"),
                ("role", "member"),
            ],
            &[],
        )
        .await;
    assert_eq!(invited.status, 303, "{}", invited.body);
    assert_eq!(app.mails_to("new-org@example.com").len(), 1);
    let page = admin.get(&members).await;
    assert!(
        page.body
            .contains("An invitation is on its way to new-org@example.com.")
    );
    assert!(page.body.contains("new-org@example.com"), "{}", page.body);
    let bad = admin
        .post(
            &members,
            &[
                ("csrf", &csrf),
                ("action", "invite"),
                ("email", "not an address"),
                ("role", "member"),
            ],
            &[],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    // Without the token, nothing happens.
    let forged = admin
        .post(
            &members,
            &[("action", "role"), ("user", &member_id), ("role", "owner")],
            &[],
        )
        .await;
    assert_eq!(forged.status, 403);
    let roles = app
        .get(&format!("/v1/orgs/{org}/members"), Some(&owner))
        .await
        .expect(200);
    assert!(
        roles["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["email"] == "member-org@example.com" && m["role"] == "viewer")
    );

    // The audit log: filtered by action and by actor.
    let owner_browser = browsers.get_mut("owner").unwrap();
    let log = owner_browser
        .get(&format!("/orgs/{org}/audit?action=member.role_change"))
        .await;
    assert_eq!(log.status, 200);
    assert!(
        log.body.contains("viewer") && log.body.contains("admin-org@example.com"),
        "{}",
        log.body
    );
    assert!(
        !log.body.contains("<code>invitation.create</code>"),
        "{}",
        log.body
    );
    let owner_id = id_of("owner-org@example.com");
    let mine = owner_browser
        .get(&format!("/orgs/{org}/audit?actor={owner_id}"))
        .await;
    assert!(
        mine.body.contains("<code>invitation.create</code>"),
        "{}",
        mine.body
    );
    assert!(
        !mine.body.contains("<code>member.role_change</code>"),
        "{}",
        mine.body
    );
    // A malformed query is the page, not an API error.
    let odd = owner_browser
        .get(&format!("/orgs/{org}/audit?actor=%ZZ&cursor=nope"))
        .await;
    assert!(
        odd.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Settings: a member cannot rename; an admin can; only the owner deletes, after typing the name.
    let settings = format!("/orgs/{org}/settings");
    let member = browsers.get_mut("admin").unwrap();
    let page = member.get(&settings).await;
    let csrf = csrf_of(&page);
    let renamed = member
        .post(
            &settings,
            &[
                ("csrf", &csrf),
                ("action", "rename"),
                ("name", "Harbour Works"),
                ("slug", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(renamed.status, 303, "{}", renamed.body);
    let refused = member
        .post(
            &settings,
            &[
                ("csrf", &csrf),
                ("action", "delete"),
                ("confirm", "Harbour Works"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
    let viewer = browsers.get_mut("viewer").unwrap();
    let page = viewer.get(&settings).await;
    assert!(!page.body.contains(r#"value="rename""#));
    let refused = viewer
        .post(
            &settings,
            &[
                ("csrf", &csrf_of(&page)),
                ("action", "rename"),
                ("name", "Mine"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
    let owner_browser = browsers.get_mut("owner").unwrap();
    let page = owner_browser.get(&settings).await;
    let csrf = csrf_of(&page);
    let mistyped = owner_browser
        .post(
            &settings,
            &[
                ("csrf", &csrf),
                ("action", "delete"),
                ("confirm", "harbour works"),
            ],
            &[],
        )
        .await;
    assert_eq!(mistyped.status, 422);
    app.get(&format!("/v1/orgs/{org}"), Some(&owner))
        .await
        .expect(200);
    let deleted = owner_browser
        .post(
            &settings,
            &[
                ("csrf", &csrf),
                ("action", "delete"),
                ("confirm", "Harbour Works"),
            ],
            &[],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    app.get(&format!("/v1/orgs/{org}"), Some(&owner))
        .await
        .expect_error(404, "org_not_found");
    assert_eq!(owner_browser.get(&format!("/orgs/{org}")).await.status, 404);
}

/// Posts the console's upload form (the CSRF token first, as the page's form sends it) with
/// `files`, as `browser`; `scripted` as the page's script does it (one file, a plain-text answer).
async fn upload_form(
    browser: &mut Browser,
    org: &str,
    csrf: Option<&str>,
    files: Vec<(&str, Vec<u8>)>,
    scripted: bool,
) -> Page {
    let mut form = reqwest::multipart::Form::new();
    if let Some(csrf) = csrf {
        form = form.text("csrf", csrf.to_owned());
    }
    form = form.text("tags", "handbook, 2026");
    for (name, bytes) in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    let mut request = browser
        .client
        .post(format!("{}/orgs/{org}/documents", browser.base))
        .header("cookie", browser.cookie_header())
        .multipart(form);
    if scripted {
        request = request.header("x-docent-upload", "1");
    }
    let response = request.send().await.unwrap();
    browser.page(response).await
}

/// The API's view of the organization's documents: (title, id, status).
async fn documents_of(app: &TestApp, token: &str, org: &str) -> Vec<(String, String, String)> {
    let listed = app
        .get(&format!("/v1/orgs/{org}/documents"), Some(token))
        .await
        .expect(200);
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["title"].as_str().unwrap().to_owned(),
                d["id"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_pages_upload_many_files_show_progress_failures_and_chunks() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-docs@example.com", PW).await;
    let org = app.create_org(&owner, "Docs Org").await;
    app.join(&owner, &org, "member-docs@example.com", "member", PW)
        .await;
    app.join(&owner, &org, "viewer-docs@example.com", "viewer", PW)
        .await;
    let mut member = Browser::new(&app);
    member.sign_in("member-docs@example.com", PW).await;
    let list = format!("/orgs/{org}/documents");
    let page = member.get(&list).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"enctype="multipart/form-data""#));
    assert!(page.body.contains("No documents yet."));
    let csrf = csrf_of(&page);

    let handbook = b"# Leave\n\n## Parental leave\n\nParents get sixteen weeks of paid parental leave.\n\n## Sick days\n\nCall the office before nine when you are ill.\n".to_vec();
    let hostile_title = "<img src=x onerror=alert(1)>.txt";
    // A post without the token, or from another site, stores nothing.
    let refused = upload_form(
        &mut member,
        &org,
        None,
        vec![("handbook.md", handbook.clone())],
        false,
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let mut cross_site = member.client.post(format!("{}{list}", member.base));
    cross_site = cross_site
        .header("cookie", member.cookie_header())
        .header("origin", "https://evil.example")
        .multipart(
            reqwest::multipart::Form::new()
                .text("csrf", csrf.clone())
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(handbook.clone()).file_name("handbook.md"),
                ),
        );
    assert_eq!(cross_site.send().await.unwrap().status().as_u16(), 403);
    assert!(documents_of(&app, &owner, &org).await.is_empty());

    // Many files in one post: the good ones are queued, the bad one is explained.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let posted = upload_form(
        &mut member,
        &org,
        Some(&csrf),
        vec![
            ("handbook.md", handbook.clone()),
            (hostile_title, b"Alarms ring at noon on Fridays.".to_vec()),
            ("picture.png", png),
        ],
        false,
    )
    .await;
    assert_eq!(posted.status, 422, "{}", posted.body);
    assert!(
        posted.body.contains("2 documents are queued"),
        "{}",
        posted.body
    );
    assert!(
        posted.body.contains("picture.png: unsupported file type"),
        "{}",
        posted.body
    );
    // The same bytes again are a duplicate, explained; the script's one-file post answers text.
    let again = upload_form(
        &mut member,
        &org,
        Some(&csrf),
        vec![("handbook copy.md", handbook.clone())],
        true,
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again.body.contains("has this file already"),
        "{}",
        again.body
    );
    let scripted = upload_form(
        &mut member,
        &org,
        Some(&csrf),
        vec![("empty.txt", b"   ".to_vec())],
        true,
    )
    .await;
    assert_eq!(scripted.status, 422, "{}", scripted.body);
    assert_eq!(
        scripted.headers["content-type"],
        "text/plain; charset=utf-8"
    );
    let scripted = upload_form(
        &mut member,
        &org,
        Some(&csrf),
        vec![(
            "lunch.txt",
            b"Lunch is served at half past twelve.".to_vec(),
        )],
        true,
    )
    .await;
    assert_eq!(scripted.status, 201, "{}", scripted.body);
    assert_eq!(scripted.body, "lunch.txt is queued for processing.");

    // A viewer sees the documents but cannot upload.
    let mut viewer = Browser::new(&app);
    viewer.sign_in("viewer-docs@example.com", PW).await;
    let seen = viewer.get(&list).await;
    assert!(!seen.body.contains("multipart/form-data"), "{}", seen.body);
    let viewer_csrf = csrf_of(&seen);
    let refused = upload_form(
        &mut viewer,
        &org,
        Some(&viewer_csrf),
        vec![("v.txt", b"viewer text".to_vec())],
        false,
    )
    .await;
    assert_eq!(refused.status, 403);

    let stored = documents_of(&app, &owner, &org).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (_, id, _) in &stored {
        crate::documents::settled(&app, &owner, &org, id).await;
    }
    let id_of = |title: &str| {
        stored
            .iter()
            .find(|(t, _, _)| t == title)
            .map(|(_, id, _)| id.clone())
            .unwrap()
    };

    // The list: every status, the tags as filters, the hostile title inert; live only while pending.
    let page = member.get(&list).await;
    assert!(
        page.body.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert_eq!(page.body.matches(r#"class="status ready""#).count(), 3);
    assert!(!page.body.contains("data-pending"), "{}", page.body);
    assert!(page.body.contains("?tag=handbook"), "{}", page.body);
    let tagged = member.get(&format!("{list}?tag=2026&status=ready")).await;
    assert_eq!(tagged.body.matches(r#"class="status ready""#).count(), 3);
    let none = member.get(&format!("{list}?status=failed")).await;
    assert!(none.body.contains("No documents match."), "{}", none.body);

    // The detail page: the chunks with their sections; a citation's passage opens marked.
    let handbook_id = id_of("handbook.md");
    let detail = member.get(&format!("{list}/{handbook_id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(
        detail.body.contains("Leave › Parental leave"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("sixteen weeks"), "{}", detail.body);
    let chunks = app
        .get(
            &format!("/v1/orgs/{org}/documents/{handbook_id}/chunks"),
            Some(&owner),
        )
        .await
        .expect(200);
    let last = chunks["items"].as_array().unwrap().last().unwrap()["ordinal"]
        .as_u64()
        .unwrap();
    let cited = member
        .get(&format!("{list}/{handbook_id}?passage={last}"))
        .await;
    assert!(
        cited
            .body
            .contains(&format!(r#"id="chunk-{last}" class="cited""#)),
        "{}",
        cited.body
    );
    assert_eq!(member.get(&format!("{list}/not-an-id")).await.status, 404);

    // A failed document says why in words, with what to do.
    let broken = app
        .post_form(
            &format!("/v1/orgs/{org}/documents"),
            &owner,
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(
                    format!(
                        "<html><body>{}deep{}</body></html>",
                        "<div>".repeat(15_000),
                        "</div>".repeat(15_000)
                    )
                    .into_bytes(),
                )
                .file_name("deep.html"),
            ),
        )
        .await
        .expect(202);
    let broken_id = broken["id"].as_str().unwrap().to_owned();
    let failed = crate::documents::settled(&app, &owner, &org, &broken_id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let explained = member.get(&format!("{list}/{broken_id}")).await;
    assert!(
        explained.body.contains("Why it failed"),
        "{}",
        explained.body
    );
    assert!(
        explained.body.contains("The file looks damaged"),
        "{}",
        explained.body
    );
    assert!(explained.body.contains("<code>extract_error</code>"));

    // Reprocess and delete go through the service; a viewer can do neither.
    let lunch = format!("{list}/{}", id_of("lunch.txt"));
    let refused = viewer
        .post(&lunch, &[("csrf", &viewer_csrf), ("action", "delete")], &[])
        .await;
    assert_eq!(refused.status, 403);
    let done = member
        .post(&lunch, &[("csrf", &csrf), ("action", "reprocess")], &[])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let status = app
        .get(
            &format!("/v1/orgs/{org}/documents/{}", id_of("lunch.txt")),
            Some(&owner),
        )
        .await
        .expect(200)["status"]
        .clone();
    assert!(
        status == "queued" || status == "processing" || status == "ready",
        "{status}"
    );
    crate::documents::settled(&app, &owner, &org, &id_of("lunch.txt")).await;
    let gone = member
        .post(&lunch, &[("csrf", &csrf), ("action", "delete")], &[])
        .await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert_eq!(gone.headers[LOCATION], list.as_str());
    app.get(
        &format!("/v1/orgs/{org}/documents/{}", id_of("lunch.txt")),
        Some(&owner),
    )
    .await
    .expect_error(404, "document_not_found");
    assert_eq!(member.get(&lunch).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_pages_keep_keys_write_only_and_test_connections() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.providers.allow_private_base_urls = true;
    })
    .await;
    let (_, owner) = app.signup("owner-prov@example.com", PW).await;
    let org = app.create_org(&owner, "Prov Org").await;
    app.join(&owner, &org, "admin-prov@example.com", "admin", PW)
        .await;
    app.join(&owner, &org, "member-prov@example.com", "member", PW)
        .await;
    let list = format!("/orgs/{org}/providers");
    let mut member = Browser::new(&app);
    member.sign_in("member-prov@example.com", PW).await;
    let seen = member.get(&list).await;
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("No providers yet."), "{}", seen.body);
    assert!(!seen.body.contains("Connect a provider"), "{}", seen.body);
    let member_csrf = csrf_of(&seen);
    let refused = member
        .post(
            &list,
            &[
                ("csrf", &member_csrf),
                ("name", "x"),
                ("kind", "extractive"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);

    let mut admin = Browser::new(&app);
    admin.sign_in("admin-prov@example.com", PW).await;
    let csrf = csrf_of(&admin.get(&list).await);
    let created = admin
        .post(
            &list,
            &[
                ("csrf", &csrf),
                ("name", "Offline <i>answerer</i>"),
                ("kind", "extractive"),
            ],
            &[],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let offline = created.headers[LOCATION].to_str().unwrap().to_owned();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let created = admin
        .post(
            &list,
            &[
                ("csrf", &csrf),
                ("name", "Dead"),
                ("kind", "openai_compatible"),
                ("base_url", &gone),
                ("api_key", "sk-secret-value-1234"),
                ("timeout_secs", "5"),
            ],
            &[],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let dead = created.headers[LOCATION].to_str().unwrap().to_owned();

    // The key is write-only: its last four characters, never the key.
    let page = admin.get(&dead).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("••••1234"), "{}", page.body);
    assert!(!page.body.contains("sk-secret-value"), "{}", page.body);
    let listed = admin.get(&list).await;
    assert!(
        listed.body.contains("Offline &lt;i&gt;answerer"),
        "{}",
        listed.body
    );
    assert!(!listed.body.contains("<i>answerer"), "{}", listed.body);
    assert!(!listed.body.contains("sk-secret-value"));

    // Test connection: the built-in answerer is ready; a dead server is explained with its
    // latency; a bad value is refused in words.
    let tested = admin
        .post(&offline, &[("csrf", &csrf), ("action", "test")], &[])
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(
        tested.body.contains("needs no connection"),
        "{}",
        tested.body
    );
    let tested = admin
        .post(
            &dead,
            &[("csrf", &csrf), ("action", "test"), ("test_model", "any")],
            &[],
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(
        tested.body.contains("The test failed after"),
        "{}",
        tested.body
    );
    let untested = admin
        .post(&dead, &[("csrf", &csrf), ("action", "test")], &[])
        .await;
    assert_eq!(untested.status, 422, "{}", untested.body);
    assert!(untested.body.contains("default_model"), "{}", untested.body);
    assert_eq!(
        member
            .post(&dead, &[("csrf", &member_csrf), ("action", "test")], &[])
            .await
            .status,
        403
    );

    // Saving without a new key keeps the stored one.
    let saved = admin
        .post(
            &dead,
            &[
                ("csrf", &csrf),
                ("action", "update"),
                ("name", "Dead server"),
                ("base_url", &gone),
                ("api_key", ""),
                ("default_model", "any"),
                ("timeout_secs", "5"),
            ],
            &[],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let dead_id = dead.rsplit('/').next().unwrap();
    let stored = app
        .get(&format!("/v1/orgs/{org}/providers/{dead_id}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(stored["name"], "Dead server");
    assert_eq!(stored["default_model"], "any");
    assert_eq!(stored["api_key_last4"], "1234", "{stored}");

    if let Ok(url) = std::env::var("DOCENT_TEST_LLM_URL") {
        let created = admin
            .post(
                &list,
                &[
                    ("csrf", &csrf),
                    ("name", "llama.cpp"),
                    ("kind", "openai_compatible"),
                    ("base_url", &url),
                    ("default_model", "smollm2"),
                ],
                &[],
            )
            .await;
        let live = created.headers[LOCATION].to_str().unwrap().to_owned();
        let tested = admin
            .post(&live, &[("csrf", &csrf), ("action", "test")], &[])
            .await;
        assert!(
            tested.body.contains("Connected: smollm2 answered in"),
            "{}",
            tested.body
        );
    }

    let deleted = admin
        .post(&dead, &[("csrf", &csrf), ("action", "delete")], &[])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    app.get(&format!("/v1/orgs/{org}/providers/{dead_id}"), Some(&owner))
        .await
        .expect_error(404, "provider_not_found");
    assert_eq!(admin.get(&dead).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatbot_pages_preview_the_prompt_and_the_playground_streams_cited_answers() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-bots@example.com", PW).await;
    let org = app.create_org(&owner, "Bots Org").await;
    app.join(&owner, &org, "member-bots@example.com", "member", PW)
        .await;
    app.join(&owner, &org, "viewer-bots@example.com", "viewer", PW)
        .await;
    app.signup("outsider-bots@example.com", PW).await;
    let provider = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            serde_json::json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect_id(201);
    let document = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            serde_json::json!({"title": "Returns policy", "text": "Customers may return any unopened product within 45 days of delivery for a full refund <script>alert(1)</script> [form](javascript:alert(2)). Refunds are issued to the original payment method within five business days."}),
        )
        .await
        .expect_id(202);
    crate::documents::settled(&app, &owner, &org, &document).await;

    let list = format!("/orgs/{org}/chatbots");
    let mut member = Browser::new(&app);
    member.sign_in("member-bots@example.com", PW).await;
    let page = member.get(&list).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No chatbots yet."));
    assert!(
        page.body
            .contains(&format!(r#"<option value="{provider}""#)),
        "{}",
        page.body
    );
    let csrf = csrf_of(&page);
    let hostile = "<script>alert(1)</script> Helper";
    let settings = |name: &'static str, tone: &'static str, temperature: &'static str| {
        vec![
            ("name", name.to_owned()),
            ("provider", provider.clone()),
            (
                "system_prompt",
                "You answer for Acme's customers.".to_owned(),
            ),
            ("tone", tone.to_owned()),
            ("tone_custom", "Speak like a pirate.".to_owned()),
            ("scope", "documents".to_owned()),
            ("scope_documents", document.clone()),
            (
                "welcome_message",
                "Ahoy <b>there</b>! Ask about returns.".to_owned(),
            ),
            (
                "fallback_answer",
                "I cannot find that in our documents.".to_owned(),
            ),
            ("top_k", "3".to_owned()),
            ("min_score", "".to_owned()),
            ("temperature", temperature.to_owned()),
            ("citation_style", "inline".to_owned()),
        ]
    };
    let with = |csrf: &str, action: Option<&'static str>, fields: Vec<(&'static str, String)>| {
        let mut all = vec![("csrf", csrf.to_owned())];
        if let Some(action) = action {
            all.push(("action", action.to_owned()));
        }
        all.extend(fields);
        all
    };
    let form = with(&csrf, None, settings(hostile, "concise", "0.2"));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let created = member.post(&list, &pairs, &[]).await;
    assert_eq!(created.status, 303, "{}", created.body);
    let bot_page = created.headers[LOCATION].to_str().unwrap().to_owned();
    let bot = bot_page.rsplit('/').next().unwrap().to_owned();
    let stored = app
        .get(&format!("/v1/orgs/{org}/chatbots/{bot}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(stored["name"], hostile);
    assert_eq!(stored["retrieval"]["top_k"], 3, "{stored}");
    assert_eq!(
        stored["knowledge"]["document_ids"][0],
        document.as_str(),
        "{stored}"
    );

    // The page: the name inert, the stored settings, the prompt they make.
    let shown = member.get(&bot_page).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("&lt;script&gt;alert(1)&lt;"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("<script>alert"), "{}", shown.body);
    assert!(
        shown
            .body
            .contains(r#"id="tone-concise" name="tone" type="radio" value="concise" checked"#),
        "{}",
        shown.body
    );
    assert!(
        shown
            .body
            .contains(&format!(r#"value="{document}" checked"#)),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("You answer for Acme&#x27;s customers."),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("[1] A document › Its section (page 3)"),
        "{}",
        shown.body
    );

    // A preview renders the typed settings without saving them; a viewer may preview too.
    let form = with(&csrf, Some("preview"), settings("Helper", "custom", "0.2"));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let previewed = member.post(&bot_page, &pairs, &[]).await;
    assert_eq!(previewed.status, 200, "{}", previewed.body);
    assert!(
        previewed.body.contains("Speak like a pirate.</pre>")
            || previewed.body.contains("Speak like a pirate."),
        "{}",
        previewed.body
    );
    let preview_start = previewed.body.find(r#"id="prompt-preview""#).unwrap();
    assert!(previewed.body[preview_start..].contains("Speak like a pirate."));
    let unchanged = app
        .get(&format!("/v1/orgs/{org}/chatbots/{bot}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(unchanged["name"], hostile, "the preview saved nothing");
    let mut viewer = Browser::new(&app);
    viewer.sign_in("viewer-bots@example.com", PW).await;
    let viewer_csrf = csrf_of(&viewer.get(&bot_page).await);
    let form = with(
        &viewer_csrf,
        Some("preview"),
        settings("Helper", "custom", "0.2"),
    );
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(viewer.post(&bot_page, &pairs, &[]).await.status, 200);
    let form = with(
        &viewer_csrf,
        Some("save"),
        settings("Helper", "custom", "0.2"),
    );
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(viewer.post(&bot_page, &pairs, &[]).await.status, 403);

    // A bad value is explained and what was typed stays in the form.
    let form = with(&csrf, Some("save"), settings("Helper", "custom", "hot"));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = member.post(&bot_page, &pairs, &[]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("invalid temperature"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="hot""#), "{}", refused.body);
    let form = with(&csrf, Some("save"), settings("Helper", "custom", "0.4"));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = member.post(&bot_page, &pairs, &[]).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let stored = app
        .get(&format!("/v1/orgs/{org}/chatbots/{bot}"), Some(&owner))
        .await
        .expect(200);
    assert_eq!(stored["name"], "Helper");
    assert_eq!(stored["tone"], "custom", "{stored}");
    assert_eq!(stored["custom_tone"], "Speak like a pirate.", "{stored}");

    // The playground: the welcome message inert; the streamed answer with its conversation,
    // its text and its citations, each opening its passage.
    let playground = format!("{bot_page}/playground");
    let page = member.get(&playground).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Ahoy &lt;b&gt;there&lt;"),
        "{}",
        page.body
    );
    let question = "How many days do customers have to return a product?";
    let stream = member
        .post(
            &format!("{playground}/stream"),
            &[
                ("csrf", &csrf),
                ("question", question),
                ("conversation", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(stream.status, 200, "{}", stream.body);
    assert!(
        stream.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    for event in [
        "event: conversation",
        "event: delta",
        "event: citations",
        "event: done",
    ] {
        assert!(stream.body.contains(event), "{event}: {}", stream.body);
    }
    assert!(stream.body.contains("45 days"), "{}", stream.body);
    let passage = format!("/orgs/{org}/documents/{document}?passage=0#chunk-0");
    assert!(stream.body.contains(&passage), "{}", stream.body);
    assert!(!stream.body.contains("event: error"), "{}", stream.body);
    let refused = member
        .post(
            &format!("{playground}/stream"),
            &[("csrf", "0"), ("question", question)],
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);

    // Without the script: the post waits for the answer and shows the conversation.
    let asked = member
        .post(
            &playground,
            &[
                ("csrf", &csrf),
                ("question", question),
                ("conversation", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(asked.status, 303, "{}", asked.body);
    let conversation = asked.headers[LOCATION].to_str().unwrap().to_owned();
    assert!(conversation.contains("?conversation="), "{conversation}");
    let transcript = member.get(&conversation).await;
    assert!(transcript.body.contains(question), "{}", transcript.body);
    assert!(transcript.body.contains("45 days"), "{}", transcript.body);
    // The answer quotes the hostile passage as text.
    assert!(
        transcript
            .body
            .contains("refund &lt;script&gt;alert(1)&lt;"),
        "{}",
        transcript.body
    );
    assert!(
        !transcript.body.contains("<script>alert"),
        "{}",
        transcript.body
    );
    assert!(
        !transcript.body.contains(r#"href="javascript"#),
        "{}",
        transcript.body
    );
    assert!(
        transcript.body.contains(&format!(
            r#"<a href="{}">[1] Returns policy"#,
            passage.replace('&', "&amp;").replace('/', "&#x2f;")
        )),
        "{}",
        transcript.body
    );
    // Another member's conversation is not theirs to see: a fresh playground.
    let mut other = Browser::new(&app);
    other.sign_in("viewer-bots@example.com", PW).await;
    let theirs = other.get(&conversation).await;
    assert_eq!(theirs.status, 200);
    assert!(!theirs.body.contains("45 days"), "{}", theirs.body);
    let mut outsider = Browser::new(&app);
    outsider.sign_in("outsider-bots@example.com", PW).await;
    assert_eq!(outsider.get(&playground).await.status, 404);

    let deleted = member
        .post(&bot_page, &[("csrf", &csrf), ("action", "delete")], &[])
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    app.get(&format!("/v1/orgs/{org}/chatbots/{bot}"), Some(&owner))
        .await
        .expect_error(404, "chatbot_not_found");
    assert_eq!(member.get(&bot_page).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_page_shows_a_new_secret_once_and_revokes() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (_, owner) = app.signup("owner-keys@example.com", PW).await;
    let org = app.create_org(&owner, "Keys Org").await;
    app.join(&owner, &org, "admin-keys@example.com", "admin", PW)
        .await;
    let provider = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            serde_json::json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect_id(201);
    let mut bots = Vec::new();
    for name in ["Front <desk>", "Back office"] {
        bots.push(
            app.post(
                &format!("/v1/orgs/{org}/chatbots"),
                Some(&owner),
                serde_json::json!({"name": name, "provider_id": provider}),
            )
            .await
            .expect_id(201),
        );
    }
    let keys = format!("/orgs/{org}/keys");
    let mut admin = Browser::new(&app);
    admin.sign_in("admin-keys@example.com", PW).await;
    let page = admin.get(&keys).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("No API keys yet."));
    assert!(page.body.contains("Front &lt;desk&gt;"), "{}", page.body);
    let csrf = csrf_of(&page);
    let base = [
        ("csrf", csrf.as_str()),
        ("action", "create"),
        ("name", "Website"),
        ("scopes", "chat"),
        ("scopes", "chatbots:read"),
        ("chatbot_scope", "some"),
        ("chatbots", bots[0].as_str()),
        ("expires_on", "2099-12-31"),
        ("message_quota", ""),
        ("token_quota", ""),
    ];
    // A bad value is refused in words, keeping what was typed.
    let mut bad = base.to_vec();
    bad.push(("rate_limit", "fast"));
    let refused = admin.post(&keys, &bad, &[]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("invalid rate_limit_per_minute"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="fast""#), "{}", refused.body);
    let mut unknown = base.to_vec();
    unknown.push(("scopes", "root"));
    let refused = admin.post(&keys, &unknown, &[]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("unknown scope"), "{}", refused.body);

    let mut good = base.to_vec();
    good.push(("rate_limit", "30"));
    let created = admin.post(&keys, &good, &[]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let marker = r#"id="new-secret" type="text" readonly value=""#;
    let start = created.body.find(marker).expect("the secret is shown") + marker.len();
    let secret = created.body[start..].split('"').next().unwrap().to_owned();
    assert!(secret.starts_with("dk_"), "{secret}");
    assert!(created.body.contains(r#"data-copy="new-secret""#));

    // The secret works, within its scopes and its one chatbot; the page never shows it again.
    let listed = app
        .get(&format!("/v1/orgs/{org}/chatbots"), Some(&secret))
        .await
        .expect(200);
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Front <desk>"]);
    app.get(&format!("/v1/orgs/{org}/documents"), Some(&secret))
        .await
        .expect_error(403, "insufficient_scope");
    let page = admin.get(&keys).await;
    assert!(!page.body.contains(&secret), "{}", page.body);
    assert!(
        page.body.contains("only Front &lt;desk&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("30/min"), "{}", page.body);
    assert!(page.body.contains("until 2099-12-31"), "{}", page.body);
    assert!(
        page.body.contains(r#"class="status ready">active"#),
        "{}",
        page.body
    );

    // Revoked, it stops working at once.
    let stored = app
        .get(&format!("/v1/orgs/{org}/api-keys"), Some(&owner))
        .await
        .expect(200);
    let id = stored["items"][0]["id"].as_str().unwrap().to_owned();
    let revoked = admin
        .post(
            &keys,
            &[("csrf", &csrf), ("action", "revoke"), ("key", &id)],
            &[],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    app.get(&format!("/v1/orgs/{org}/chatbots"), Some(&secret))
        .await
        .expect_error(401, "invalid_api_key");
    let page = admin.get(&keys).await;
    assert!(page.body.contains(">revoked<"), "{}", page.body);
    assert!(!page.body.contains(r#"value="revoke""#), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_page_charts_messages_and_shows_the_quota_left() {
    let app = TestApp::start_with(Backend::Sqlite, |config| {
        config.limits.org_monthly_message_quota = Some(100);
    })
    .await;
    let (_, owner) = app.signup("owner-usage@example.com", PW).await;
    let org = app.create_org(&owner, "Usage Org").await;
    app.join(&owner, &org, "viewer-usage@example.com", "viewer", PW)
        .await;
    let provider = app
        .post(
            &format!("/v1/orgs/{org}/providers"),
            Some(&owner),
            serde_json::json!({"name": "Offline", "kind": "extractive"}),
        )
        .await
        .expect_id(201);
    let bot = app
        .post(
            &format!("/v1/orgs/{org}/chatbots"),
            Some(&owner),
            serde_json::json!({"name": "Desk <b>bot</b>", "provider_id": provider}),
        )
        .await
        .expect_id(201);
    let document = app
        .post(
            &format!("/v1/orgs/{org}/documents/text"),
            Some(&owner),
            serde_json::json!({"title": "Hours", "text": "The front desk is open from eight in the morning until six in the evening on weekdays."}),
        )
        .await
        .expect_id(202);
    crate::documents::settled(&app, &owner, &org, &document).await;
    let mut person = Browser::new(&app);
    person.sign_in("owner-usage@example.com", PW).await;
    let playground = format!("/orgs/{org}/chatbots/{bot}/playground");
    let csrf = csrf_of(&person.get(&playground).await);
    for _ in 0..2 {
        let asked = person
            .post(
                &playground,
                &[
                    ("csrf", &csrf),
                    ("question", "When is the front desk open?"),
                ],
                &[],
            )
            .await;
        assert_eq!(asked.status, 303, "{}", asked.body);
    }

    let usage = format!("/orgs/{org}/usage");
    let page = person.get(&usage).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let today = chrono::Utc::now().date_naive().format("%b %-d").to_string();
    assert!(
        page.body
            .contains(&format!("<title>{today}: 2 messages</title>")),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"<svg class="chart""#));
    assert!(
        page.body
            .contains("<td>Messages</td><td>2</td><td>100</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>98 <meter"), "{}", page.body);
    assert!(
        page.body
            .contains("<td>Desk &lt;b&gt;bot&lt;&#x2f;b&gt;</td><td>2</td>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("This month per API key"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("people in the console and with sessions"),
        "{}",
        page.body
    );
    // The charts for one chatbot: its messages, and none for another.
    let other = app
        .post(
            &format!("/v1/orgs/{org}/chatbots"),
            Some(&owner),
            serde_json::json!({"name": "Other", "provider_id": provider}),
        )
        .await
        .expect_id(201);
    let one = person.get(&format!("{usage}?chatbot={bot}")).await;
    assert!(
        one.body
            .contains(&format!("<title>{today}: 2 messages</title>")),
        "{}",
        one.body
    );
    assert!(
        one.body
            .contains(&format!(r#"<option value="{bot}" selected>"#)),
        "{}",
        one.body
    );
    let none = person.get(&format!("{usage}?chatbot={other}")).await;
    assert!(
        none.body
            .contains(&format!("<title>{today}: 0 messages</title>")),
        "{}",
        none.body
    );
    let mut viewer = Browser::new(&app);
    viewer.sign_in("viewer-usage@example.com", PW).await;
    let seen = viewer.get(&usage).await;
    assert_eq!(seen.status, 200);
    assert!(
        seen.body.contains("<td>Messages</td><td>2</td>"),
        "{}",
        seen.body
    );
    assert!(
        !seen.body.contains("This month per API key"),
        "{}",
        seen.body
    );
}
